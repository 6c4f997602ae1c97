//! The toolkit as an embedder installs it: what it creates, its public API, its revision.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use softview::Error;
use softview::toolkit::{self, Change};
use softview_devdb::test_server;

use crate::common::{count, exec, sql_error, text};

/// An empty database of its own, dropped at the end.
struct EmptyDatabase {
    name: String,
}

impl EmptyDatabase {
    fn new(tag: &str) -> (Self, PgConnection) {
        let server = test_server().unwrap();
        let name = format!("softview_toolkit_{tag}_{}", std::process::id());
        server.create_database(&name, None).unwrap();
        let conn = PgConnection::establish(&server.url(&name)).unwrap();
        (Self { name }, conn)
    }
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        let _ = test_server().unwrap().drop_database(&self.name);
    }
}

fn schema_objects(conn: &mut PgConnection) -> Option<String> {
    text(
        conn,
        "SELECT string_agg(n.nspname || '.' || c.relname, ' ' ORDER BY n.nspname, c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND c.relkind IN ('r', 'v', 'p') AND NOT c.relispartition",
    )
}

#[test]
fn the_install_script_creates_only_the_toolkit_schemas_and_the_uninstall_removes_them() {
    let (_db, mut conn) = EmptyDatabase::new("only");
    conn.batch_execute(toolkit::INSTALL_SQL).unwrap();
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(nspname, ' ' ORDER BY nspname) FROM pg_namespace
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public')"
        )
        .as_deref(),
        Some("softview softview_internal")
    );
    assert_eq!(
        schema_objects(&mut conn).as_deref(),
        Some(
            "softview.archive_partitions softview.changed_references softview.deleted_records \
             softview.enabled_tables softview_internal.settings softview_internal.tables"
        )
    );
    // The archive's partitions: this week's, next week's (which a week from now falls in) and
    // the default one.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.archive_partitions
             WHERE archived_from IS NULL
                OR archived_from = date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                   + (archived_until - archived_from) * (archived_from > now())::int"
        ),
        3
    );
    assert_eq!(
        toolkit::installed_revision(&mut conn).unwrap(),
        Some(toolkit::REVISION)
    );
    conn.batch_execute(toolkit::UNINSTALL_SQL).unwrap();
    assert_eq!(schema_objects(&mut conn), None);
    assert_eq!(toolkit::installed_revision(&mut conn).unwrap(), None);
}

#[test]
fn the_public_schema_holds_exactly_what_the_header_lists() {
    let (_db, mut conn) = crate::common::db();
    let header: Vec<&str> = toolkit::INSTALL_SQL
        .lines()
        .take_while(|line| line.starts_with("--"))
        .filter_map(|line| line.strip_prefix("--   softview."))
        .map(|entry| entry.split(['(', ' ']).next().unwrap())
        .collect();
    let mut listed = header.clone();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed.len(), header.len(), "listed twice: {header:?}");
    let held = text(
        &mut conn,
        "SELECT string_agg(name, ' ' ORDER BY name) FROM (
             SELECT proname::text AS name FROM pg_proc WHERE pronamespace = 'softview'::regnamespace
             UNION ALL
             SELECT relname::text FROM pg_class
             WHERE relnamespace = 'softview'::regnamespace AND relkind IN ('r', 'v', 'p')) AS o",
    )
    .unwrap();
    assert_eq!(held, listed.join(" "));
}

#[test]
fn a_second_install_is_refused_and_install_or_upgrade_leaves_a_current_toolkit_alone() {
    let (_db, mut conn) = crate::common::db();
    let error = conn.batch_execute(toolkit::INSTALL_SQL).unwrap_err();
    let expected = format!(
        "the softview toolkit is already installed (revision {})",
        toolkit::REVISION
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert_eq!(
        toolkit::install_or_upgrade(&mut conn).unwrap(),
        Change::Current
    );
    toolkit::check_revision(&mut conn).unwrap();
}

#[test]
fn install_or_upgrade_installs_into_an_empty_database_and_refuses_a_newer_toolkit() {
    let (_db, mut conn) = EmptyDatabase::new("newer");
    assert!(matches!(
        toolkit::check_revision(&mut conn),
        Err(Error::ToolkitMissing)
    ));
    assert_eq!(
        toolkit::install_or_upgrade(&mut conn).unwrap(),
        Change::Installed
    );
    exec(
        &mut conn,
        "CREATE OR REPLACE FUNCTION softview.version() RETURNS integer LANGUAGE sql AS 'SELECT 99'",
    );
    for result in [
        toolkit::install_or_upgrade(&mut conn).map(drop),
        toolkit::check_revision(&mut conn),
    ] {
        match result {
            Err(Error::ToolkitRevision {
                found: 99,
                expected,
            }) => {
                assert_eq!(expected, toolkit::REVISION)
            }
            other => panic!("expected ToolkitRevision, got {other:?}"),
        }
    }
    assert!(matches!(
        toolkit::upgrade_sql(0),
        Err(Error::InvalidArgument(message)) if message.contains("no toolkit revision 0")
    ));
}

/// The install scripts of the released revisions exactly as they were released, to upgrade
/// from.
const REVISION_1_SQL: &str = include_str!("../fixtures/toolkit_revision_1.sql");
const REVISION_2_SQL: &str = include_str!("../fixtures/toolkit_revision_2.sql");
const REVISION_3_SQL: &str = include_str!("../fixtures/toolkit_revision_3.sql");

/// Owners and their pets in schema `app`, the child enabled before its parent, and walks
/// linking the two, with settings that an upgrade must keep: a grace period, a default grace
/// period, a required actor.
const CHILD_BEFORE_PARENT: &str = r#"
    CREATE SCHEMA app;
    CREATE TABLE app.owners (id int PRIMARY KEY, name text NOT NULL, deleted_at timestamptz);
    CREATE TABLE app."Pets" (id int PRIMARY KEY, owner_id int NOT NULL REFERENCES app.owners (id),
                             deleted_at timestamptz);
    CREATE TABLE app.walks (id int PRIMARY KEY, owner_id int NOT NULL REFERENCES app.owners (id),
                            pet_id int NOT NULL REFERENCES app."Pets" (id), deleted_at timestamptz);
    SELECT softview.enable('app."Pets"');
    SELECT softview.enable('app.owners');
    SELECT softview.enable('app.walks');
    SELECT softview.set_grace_period('app."Pets"', interval '2 days');
    SELECT softview.set_default_grace_period(interval '9 days');
    SELECT softview.require_actor('app.owners', true);
    INSERT INTO app.owners (id, name) VALUES (1, 'Ann'), (2, 'Bo');
    INSERT INTO app."Pets" (id, owner_id) VALUES (1, 1), (2, 2);
"#;

/// Bo's pet hard-deleted by an admin (into the archive), then Ann soft-deleted.
const DELETES: &str = r#"
    BEGIN;
    SELECT set_config('softview.actor', 'admin', true);
    DELETE FROM app."Pets" WHERE id = 2;
    COMMIT;
    DELETE FROM app.active_owners WHERE id = 1;
"#;

/// Everything that defines the toolkit's two schemas, one line per object, sorted: relations,
/// columns, constraints, indexes, view and function definitions, comments. The archive's
/// partitions are left out: which ones exist depends on when and from what it was installed.
fn toolkit_definition(conn: &mut PgConnection) -> String {
    text(
        conn,
        "WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname IN ('softview', 'softview_internal')),
              rel AS (SELECT * FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
                      AND NOT c.relispartition
                      AND NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                                      WHERE i.indexrelid = c.oid AND t.relispartition))
         SELECT string_agg(line, E'\n' ORDER BY line) FROM (
             SELECT format('relation %s %s %s', c.oid::regclass, c.relkind,
                           obj_description(c.oid, 'pg_class')) AS line
             FROM rel c
             UNION ALL
             SELECT format('column %s.%s %s %s not null=%s identity=%s default=%s %s', c.oid::regclass,
                           a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                           a.attidentity, pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum))
             FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
             UNION ALL
             -- PostgreSQL 18 records NOT NULL as named constraints; a name made when a column
             -- had another name keeps it after a rename, so those are compared without names.
             SELECT format('constraint %s %s %s', conrelid::regclass,
                           CASE WHEN contype = 'n' THEN '(not null)' ELSE conname END, pg_get_constraintdef(oid))
             FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
               AND (conrelid = 0 OR conrelid IN (SELECT oid FROM rel))
             UNION ALL
             SELECT format('index %s', pg_get_indexdef(i.indexrelid))
             FROM pg_index i JOIN rel c ON c.oid = i.indrelid
             UNION ALL
             SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid))
             FROM rel c WHERE c.relkind = 'v'
             UNION ALL
             SELECT format('function %s %s', pg_get_functiondef(p.oid), obj_description(p.oid, 'pg_proc'))
             FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns) AND p.proname NOT LIKE 'write\\_%'
             UNION ALL
             SELECT format('schema %s %s', nspname, obj_description(oid, 'pg_namespace'))
             FROM pg_namespace WHERE oid IN (SELECT oid FROM ns)
         ) AS definition",
    )
    .unwrap()
}

/// The views, triggers, trigger functions and indexes (with their comments) softview made on
/// the tables of schema `app`. Trigger functions are named by table oid, which differs between databases.
fn app_definition(conn: &mut PgConnection) -> String {
    text(
        conn,
        "SELECT regexp_replace(string_agg(line, E'\n' ORDER BY line), 'write_[0-9]+', 'write_<oid>', 'g')
         FROM (
             SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid)) AS line
             FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace = 'app'::regnamespace
             UNION ALL
             SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relnamespace = 'app'::regnamespace AND NOT t.tgisinternal
             UNION ALL
             SELECT DISTINCT pg_get_functiondef(t.tgfoid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relnamespace = 'app'::regnamespace AND c.relkind = 'v'
             UNION ALL
             SELECT format('%s %s', pg_get_indexdef(indexrelid), obj_description(indexrelid, 'pg_class'))
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
             WHERE c.relnamespace = 'app'::regnamespace
         ) AS definition",
    )
    .unwrap()
}

/// Fails naming the lines only one side has, which a plain `assert_eq!` would bury.
fn assert_same_lines(upgraded: &str, fresh: &str) {
    let only_in = |a: &str, b: &str| -> Vec<String> {
        let b: Vec<&str> = b.lines().collect();
        a.lines()
            .filter(|l| !b.contains(l))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        (only_in(upgraded, fresh), only_in(fresh, upgraded)),
        (Vec::new(), Vec::new()),
        "(only after the upgrade, only in a fresh install)"
    );
    assert_eq!(upgraded, fresh);
}

fn catalog_rows(conn: &mut PgConnection) -> String {
    text(
        conn,
        "SELECT string_agg(format('%s %s %s %s %s %s %s', relation, enable_order, position,
                                  soft_deletable, require_actor, grace_period, key_columns),
                           '; ' ORDER BY position)
         FROM softview_internal.tables",
    )
    .unwrap()
}

/// Revision 1 placed tables in enable order, so the view of a table enabled before a parent it
/// references did not follow that parent: a pet of a soft-deleted owner stayed live.
#[test]
fn revision_1_leaves_a_child_enabled_before_its_parent_live_after_the_parent_is_deleted() {
    let (_db, mut conn) = EmptyDatabase::new("rev1");
    conn.batch_execute(REVISION_1_SQL).unwrap();
    exec(&mut conn, CHILD_BEFORE_PARENT);
    exec(&mut conn, DELETES);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM app.active_owners WHERE id = 1"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            r#"SELECT count(*) FROM app."active_Pets" WHERE owner_id = 1"#
        ),
        1
    );
}

/// From revision 2 a table enabled before its parent follows it as soon as the parent is
/// enabled, whatever the order.
#[test]
fn a_child_enabled_before_its_parent_follows_it_once_the_parent_is_enabled() {
    let (_db, mut conn) = EmptyDatabase::new("rev2");
    conn.batch_execute(toolkit::INSTALL_SQL).unwrap();
    exec(&mut conn, CHILD_BEFORE_PARENT);
    exec(&mut conn, DELETES);
    assert_eq!(
        count(
            &mut conn,
            r#"SELECT count(*) FROM app."active_Pets" WHERE owner_id = 1"#
        ),
        0
    );
    assert_eq!(
        catalog_rows(&mut conn),
        r#"app.owners 2 1 t t  {id}; app."Pets" 1 2 t f 2 days {id}; app.walks 3 3 t f  {id}"#
    );
    // Through the view, a pet cannot be moved to the deleted owner either.
    let (state, message) = sql_error(
        &mut conn,
        r#"INSERT INTO app."active_Pets" (id, owner_id) VALUES (3, 1)"#,
    );
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("SV001", "parent row is deleted: app.owners")
    );
}

#[test]
fn upgrading_revision_1_keeps_settings_and_archive_and_equals_a_fresh_install() {
    upgrade_keeps_settings_and_archive_and_equals_a_fresh_install(1, REVISION_1_SQL);
}

#[test]
fn upgrading_revision_2_keeps_settings_and_archive_and_equals_a_fresh_install() {
    upgrade_keeps_settings_and_archive_and_equals_a_fresh_install(2, REVISION_2_SQL);
}

#[test]
fn upgrading_revision_3_keeps_settings_and_archive_and_equals_a_fresh_install() {
    upgrade_keeps_settings_and_archive_and_equals_a_fresh_install(3, REVISION_3_SQL);
}

/// An upgrade keeps the catalog's settings and the archive, repairs the view of the child
/// enabled first (revision 1 left it live), and leaves a database defined exactly as a fresh
/// install of the current revision: views, trigger functions and softview's own indexes.
fn upgrade_keeps_settings_and_archive_and_equals_a_fresh_install(from: i32, released: &str) {
    let (_old, mut upgraded) = EmptyDatabase::new(&format!("upgraded_from_{from}"));
    upgraded.batch_execute(released).unwrap();
    exec(&mut upgraded, CHILD_BEFORE_PARENT);
    exec(&mut upgraded, DELETES);
    let archive_before = text(
        &mut upgraded,
        "SELECT string_agg(format('%s %s %s %s', id, table_name, row_data, actor), '; ' ORDER BY id)
         FROM softview.deleted_records",
    );
    assert_eq!(
        toolkit::install_or_upgrade(&mut upgraded).unwrap(),
        Change::Upgraded { from }
    );
    assert_eq!(
        toolkit::installed_revision(&mut upgraded).unwrap(),
        Some(toolkit::REVISION)
    );
    assert_eq!(
        text(
            &mut upgraded,
            "SELECT string_agg(format('%s %s %s %s', id, table_name, row_data, actor), '; ' ORDER BY id)
             FROM softview.deleted_records"
        ),
        archive_before
    );
    assert_eq!(
        archive_before.as_deref(),
        Some(r#"1 app."Pets" {"id": 2, "owner_id": 2, "deleted_at": null} admin"#)
    );
    // The archived rows stay in their table, now the archive's partition up to the end of this
    // week, where the next archived row goes too, with the next id.
    assert_eq!(
        text(
            &mut upgraded,
            "SELECT string_agg(format('%s %s %s', partition, archived_from IS NULL,
                                      archived_until = date_trunc('week', now() AT TIME ZONE 'UTC')
                                                       AT TIME ZONE 'UTC' + interval '7 days'), '; ')
             FROM softview.archive_partitions WHERE archived_until IS NOT NULL AND archived_until < now() + interval '7 days'"
        )
        .as_deref(),
        Some("softview_internal.deleted_records_revision_3 t t")
    );
    exec(
        &mut upgraded,
        r#"INSERT INTO app."Pets" (id, owner_id) VALUES (3, 2);
           BEGIN;
           SELECT set_config('softview.actor', 'admin', true);
           DELETE FROM app."Pets" WHERE id = 3;
           COMMIT;"#,
    );
    assert_eq!(
        text(
            &mut upgraded,
            "SELECT format('%s %s', id, tableoid::regclass) FROM softview.deleted_records
             WHERE row_data ->> 'id' = '3'"
        )
        .as_deref(),
        Some("2 softview_internal.deleted_records_revision_3")
    );
    assert_eq!(
        text(
            &mut upgraded,
            "SELECT default_grace_period::text FROM softview_internal.settings"
        )
        .as_deref(),
        Some("9 days")
    );
    assert_eq!(
        count(
            &mut upgraded,
            r#"SELECT count(*) FROM app."active_Pets" WHERE owner_id = 1"#
        ),
        0,
        "the upgrade re-creates the child's view so that it follows its parent"
    );

    let (_fresh, mut fresh) = EmptyDatabase::new(&format!("fresh_for_{from}"));
    fresh.batch_execute(toolkit::INSTALL_SQL).unwrap();
    exec(&mut fresh, CHILD_BEFORE_PARENT);
    assert_same_lines(
        &toolkit_definition(&mut upgraded),
        &toolkit_definition(&mut fresh),
    );
    assert_same_lines(&app_definition(&mut upgraded), &app_definition(&mut fresh));
    assert_eq!(catalog_rows(&mut upgraded), catalog_rows(&mut fresh));

    // The archived rows come back through the upgraded toolkit.
    exec(
        &mut upgraded,
        "SELECT softview.restore_archived(1); SELECT softview.restore_archived(2)",
    );
    assert_eq!(
        count(&mut upgraded, r#"SELECT count(*) FROM app."active_Pets""#),
        2
    );
}

/// A step checks where it starts: on the current revision it refuses and changes nothing.
#[test]
fn the_upgrade_step_refuses_a_database_at_another_revision() {
    let (_db, mut conn) = EmptyDatabase::new("twice");
    conn.batch_execute(toolkit::INSTALL_SQL).unwrap();
    let step = toolkit::upgrade_sql(1).unwrap();
    let (state, message) = sql_error(&mut conn, &step);
    assert_eq!(state, "55000");
    assert_eq!(
        message,
        format!(
            "this step upgrades the softview toolkit from revision 1, but revision {} is installed",
            toolkit::REVISION
        )
    );
    assert_eq!(
        toolkit::installed_revision(&mut conn).unwrap(),
        Some(toolkit::REVISION)
    );
    assert_eq!(
        toolkit::upgrade_sql(toolkit::REVISION).unwrap(),
        "",
        "nothing to do from the current revision"
    );
}

/// Revision 4 generates each write function's parent checks into it; revision 3's write
/// functions call `check_parents` instead. An upgrade run by a role that may not re-create a
/// table's write function (the toolkit's owner, not a superuser, upgrading tables a superuser
/// enabled) leaves the old one in place, so `check_parents` must stay for it until the table's
/// next refresh: a write refused for a deleted parent still says so. (A fresh install has no
/// `check_parents`; the upgrade tests above show an upgrade that re-created every write
/// function dropping it.)
#[test]
fn an_upgrade_that_cannot_recreate_a_write_function_keeps_the_parent_check_it_calls() {
    let (database, mut conn) = EmptyDatabase::new("kept_parent_check");
    let toolkit_role = format!("{}_toolkit", database.name);
    let owner_role = format!("{}_owner", database.name);
    exec(
        &mut conn,
        &format!(
            "CREATE ROLE {toolkit_role} NOLOGIN; CREATE ROLE {owner_role} NOLOGIN;
             GRANT CREATE ON DATABASE {db} TO {toolkit_role}, {owner_role};
             SET ROLE {toolkit_role};",
            db = database.name
        ),
    );
    exec(&mut conn, REVISION_3_SQL);
    exec(
        &mut conn,
        &format!(
            "RESET ROLE; SET ROLE {owner_role};
             CREATE SCHEMA app;
             CREATE TABLE app.parents (id bigint PRIMARY KEY, deleted_at timestamptz);
             CREATE TABLE app.kids (id bigint PRIMARY KEY, parent_id bigint REFERENCES app.parents,
                                    deleted_at timestamptz);
             INSERT INTO app.parents VALUES (1, NULL), (2, now());
             RESET ROLE;
             SELECT softview.enable('app.parents'), softview.enable('app.kids');
             SET ROLE {toolkit_role};"
        ),
    );
    exec(&mut conn, &toolkit::upgrade_sql(3).unwrap());
    exec(&mut conn, "RESET ROLE");
    assert_eq!(
        sql_error(
            &mut conn,
            "INSERT INTO app.active_kids (id, parent_id) VALUES (10, 2)",
        ),
        (
            "SV001".to_owned(),
            "parent row is deleted: app.parents".to_owned()
        )
    );
    // The upgrade stored the key columns the archive trigger reads for this table too, though
    // it could not refresh it.
    exec(
        &mut conn,
        "INSERT INTO app.kids VALUES (11, 1, NULL); DELETE FROM app.kids WHERE id = 11",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT primary_key::text FROM softview.deleted_records WHERE table_name = 'app.kids'"
        )
        .as_deref(),
        Some(r#"{"id": 11}"#)
    );
    // The upgrade's notice says how the table gets its new write function.
    let write_function = text(
        &mut conn,
        "SELECT 'softview_internal.write_' || 'app.kids'::regclass::oid",
    )
    .unwrap();
    exec(
        &mut conn,
        &format!(
            "ALTER FUNCTION {write_function}() OWNER TO {toolkit_role};
             SELECT softview.refresh('app.kids');"
        ),
    );
    assert!(
        !text(
            &mut conn,
            &format!("SELECT prosrc FROM pg_proc WHERE oid = '{write_function}()'::regprocedure")
        )
        .unwrap()
        .contains("check_parents"),
        "the refresh generated the parent checks into the write function"
    );
    assert_eq!(
        sql_error(
            &mut conn,
            "INSERT INTO app.active_kids (id, parent_id) VALUES (10, 2)",
        )
        .0,
        "SV001"
    );
    exec(
        &mut conn,
        &format!(
            "DROP SCHEMA app CASCADE; DROP SCHEMA softview CASCADE; DROP SCHEMA softview_internal CASCADE;
             DROP OWNED BY {toolkit_role}, {owner_role} CASCADE; DROP ROLE {toolkit_role}, {owner_role}"
        ),
    );
}
