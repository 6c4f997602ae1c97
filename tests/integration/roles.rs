//! The privilege model with real roles: the toolkit installed by a role that is not a
//! superuser, tables owned by another, an application role, a read-only role and two tenants
//! under row-level security. Each allowed operation works; each refused one fails with its
//! SQLSTATE and message and changes nothing.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use softview_devdb::{TestDatabase, test_database};

use crate::common::{EMPTY, count, exec, sql_error, text};

/// The roles of one test database, named after it (roles belong to the whole server), dropped
/// with everything they own when the test ends.
struct Roles {
    prefix: String,
    url: String,
}

impl Roles {
    const NAMES: [&'static str; 6] = ["toolkit", "owner", "app", "reader", "tenant_a", "tenant_b"];

    fn role(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.url) {
            let all = Self::NAMES.map(|n| self.role(n)).join(", ");
            let _ = conn.batch_execute(&format!("RESET ROLE; DROP OWNED BY {all} CASCADE"));
            let _ = conn.batch_execute(&format!("DROP ROLE IF EXISTS {all}"));
        }
    }
}

/// A database where role `toolkit` installed softview and role `owner` owns schema `app`:
/// `notes` (the application's), `memos` (one row per tenant, under row-level security) and
/// `grants` (which no other role may touch), all enabled.
fn setup() -> (TestDatabase, Roles, PgConnection) {
    let database = test_database(&EMPTY).expect("test database");
    let mut conn = database.connect().expect("connect");
    let roles = Roles {
        prefix: database.name().to_owned(),
        url: database.url().to_owned(),
    };
    let r = |n: &str| roles.role(n);
    for name in Roles::NAMES {
        exec(&mut conn, &format!("CREATE ROLE {} NOLOGIN", r(name)));
    }
    exec(
        &mut conn,
        &format!(
            "GRANT CREATE ON DATABASE \"{db}\" TO {toolkit}, {owner};
             SET ROLE {toolkit};",
            db = database.name(),
            toolkit = r("toolkit"),
            owner = r("owner"),
        ),
    );
    exec(&mut conn, softview::toolkit::INSTALL_SQL);
    exec(
        &mut conn,
        &format!(
            "GRANT USAGE ON SCHEMA softview TO {owner};
             RESET ROLE;
             SET ROLE {owner};
             CREATE SCHEMA app;
             CREATE TABLE app.notes (id bigint PRIMARY KEY, body text, secret text, deleted_at timestamptz);
             CREATE TABLE app.memos (id bigint PRIMARY KEY, tenant name NOT NULL DEFAULT current_user,
                                     body text, deleted_at timestamptz);
             CREATE TABLE app.grants (id bigint PRIMARY KEY, who text, deleted_at timestamptz);
             INSERT INTO app.notes VALUES (1, 'one', 's1', NULL), (2, 'two', 's2', NULL), (3, 'three', 's3', NULL);
             INSERT INTO app.grants VALUES (1, 'admin', NULL), (2, 'admin', NULL);
             SELECT softview.enable('app.notes'), softview.enable('app.memos'), softview.enable('app.grants');
             ALTER TABLE app.memos ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own_rows ON app.memos USING (tenant = current_user) WITH CHECK (tenant = current_user);
             GRANT USAGE ON SCHEMA app TO {app}, {reader}, {tenant_a}, {tenant_b};
             GRANT SELECT, INSERT, UPDATE, DELETE ON app.notes, app.active_notes TO {app};
             GRANT SELECT ON app.notes, app.active_notes TO {reader};
             GRANT SELECT (id, body), DELETE ON app.notes TO {tenant_a};
             GRANT SELECT, INSERT, UPDATE, DELETE ON app.memos, app.active_memos TO {tenant_a}, {tenant_b};
             RESET ROLE;
             SET ROLE {toolkit};
             GRANT USAGE ON SCHEMA softview TO {app}, {reader}, {tenant_a}, {tenant_b};
             RESET ROLE;",
            owner = r("owner"),
            toolkit = r("toolkit"),
            app = r("app"),
            reader = r("reader"),
            tenant_a = r("tenant_a"),
            tenant_b = r("tenant_b"),
        ),
    );
    (database, roles, conn)
}

/// Everything a call could change: the tables, the archive and the catalog, read as superuser.
fn digest(conn: &mut PgConnection) -> String {
    text(
        conn,
        "SELECT md5(concat_ws('|',
             (SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM app.notes t),
             (SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM app.memos t),
             (SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM app.grants t),
             (SELECT string_agg(to_jsonb(d)::text, ',' ORDER BY id) FROM softview.deleted_records d),
             (SELECT string_agg(to_jsonb(c)::text, ',' ORDER BY enable_order) FROM softview_internal.tables c),
             (SELECT to_jsonb(s)::text FROM softview_internal.settings s)))",
    )
    .expect("a digest")
}

/// Runs `sql` as `role`, which must be refused with `state` and a message containing `words`,
/// and leave everything as it was.
fn refused(conn: &mut PgConnection, role: &str, sql: &str, state: &str, words: &str) {
    exec(conn, "RESET ROLE");
    let before = digest(conn);
    exec(conn, &format!("SET ROLE {role}"));
    let (got_state, message) = sql_error(conn, sql);
    exec(conn, "RESET ROLE");
    assert_eq!(
        (got_state.as_str(), message.contains(words)),
        (state, true),
        "{role}: {sql}\n{message}"
    );
    assert_eq!(digest(conn), before, "{role}: {sql} changed something");
}

fn as_role(conn: &mut PgConnection, role: &str, sql: &str) {
    exec(conn, &format!("SET ROLE {role}; {sql}; RESET ROLE"));
}

#[test]
fn an_application_role_runs_the_whole_lifecycle_of_its_tables_and_nothing_else() {
    let (_database, roles, mut conn) = setup();
    let app = roles.role("app");
    as_role(
        &mut conn,
        &app,
        "DELETE FROM app.active_notes WHERE id = 1;
         SELECT softview.restore_row('app.notes', '{1}');
         SELECT softview.soft_delete_row('app.notes', '{1}')",
    );
    exec(&mut conn, &format!("SET ROLE {app}"));
    assert_eq!(count(&mut conn, "SELECT count(*) FROM app.active_notes"), 2);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.trash('app.notes')"
        ),
        1
    );
    exec(
        &mut conn,
        "SELECT softview.hard_delete_row('app.notes', '{2}')",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT database_role || ' ' || purged FROM softview.deleted_records WHERE table_name = 'app.notes'"
        ),
        Some(format!("{app} false")),
        "the archive records the role and shows the application its own table's rows"
    );
    exec(
        &mut conn,
        "SELECT softview.restore_archived(id) FROM softview.deleted_records WHERE table_name = 'app.notes'",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM app.active_notes"),
        2,
        "restored"
    );
    exec(
        &mut conn,
        "UPDATE app.notes SET deleted_at = now() - interval '40 days' WHERE id = 1;
         SELECT softview.purge_batch('app.notes', 10)",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(primary_key::text || ' ' || purged, ',') FROM softview.deleted_records"
        )
        .as_deref(),
        Some("{\"id\": 1} true"),
        "the purge is marked as one"
    );
    exec(&mut conn, "RESET ROLE");

    // The owner deletes a row of `grants`; the application cannot see or restore it.
    exec(
        &mut conn,
        &format!(
            "SET ROLE {}; DELETE FROM app.grants WHERE id = 1; RESET ROLE",
            roles.role("owner")
        ),
    );
    let grants_entry = count(
        &mut conn,
        "SELECT id FROM softview.deleted_records WHERE table_name = 'app.grants'",
    );
    exec(&mut conn, &format!("SET ROLE {app}"));
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        1,
        "only the notes entry"
    );
    exec(&mut conn, "RESET ROLE");

    let owner_only = "permission denied: only the owner of app.notes may";
    for (sql, state, words) in [
        (
            "SELECT softview.set_grace_period('app.notes', interval '0')".to_owned(),
            "42501",
            format!("{owner_only} change its settings"),
        ),
        (
            "SELECT softview.require_actor('app.notes', false)".to_owned(),
            "42501",
            format!("{owner_only} change its settings"),
        ),
        (
            "SELECT softview.set_event_keys('app.notes', false)".to_owned(),
            "42501",
            format!("{owner_only} change its settings"),
        ),
        (
            "SELECT softview.enable('app.notes')".to_owned(),
            "42501",
            format!("{owner_only} enable it"),
        ),
        (
            "SELECT softview.disable('app.notes')".to_owned(),
            "42501",
            format!("{owner_only} disable it"),
        ),
        (
            "SELECT softview.prune_archive(interval '0')".to_owned(),
            "42501",
            "permission denied for function prune_archive".to_owned(),
        ),
        (
            "SELECT softview.set_default_grace_period(interval '0')".to_owned(),
            "42501",
            "permission denied for function set_default_grace_period".to_owned(),
        ),
        (
            "SELECT softview.set_archive_partition_width('day')".to_owned(),
            "42501",
            "permission denied for function set_archive_partition_width".to_owned(),
        ),
        (
            "SELECT * FROM softview_internal.deleted_records_default".to_owned(),
            "42501",
            "permission denied for table deleted_records_default".to_owned(),
        ),
        (
            "ALTER TABLE softview.deleted_records DETACH PARTITION softview_internal.deleted_records_default"
                .to_owned(),
            "42501",
            "must be owner of table deleted_records".to_owned(),
        ),
        (
            "SELECT softview.soft_delete_row('app.grants', '{2}')".to_owned(),
            "42501",
            "permission denied for table grants".to_owned(),
        ),
        (
            "SELECT softview.hard_delete_row('app.grants', '{2}')".to_owned(),
            "42501",
            "permission denied for table grants".to_owned(),
        ),
        (
            "SELECT * FROM softview.trash('app.grants')".to_owned(),
            "42501",
            "permission denied for table grants".to_owned(),
        ),
        (
            "SELECT softview.purge_batch('app.grants', 10, interval '0')".to_owned(),
            "42501",
            "permission denied for table grants".to_owned(),
        ),
        (
            format!("SELECT softview.restore_archived({grants_entry})"),
            "P0002",
            "row not found: softview.deleted_records".to_owned(),
        ),
        (
            "INSERT INTO softview.deleted_records (table_name, primary_key, row_data)
             VALUES ('app.grants', '{\"id\": 9}', '{\"id\": 9, \"who\": \"mallory\"}')"
                .to_owned(),
            "42501",
            "permission denied for table deleted_records".to_owned(),
        ),
        (
            "DELETE FROM softview.deleted_records".to_owned(),
            "42501",
            "permission denied for table deleted_records".to_owned(),
        ),
        (
            "UPDATE softview_internal.tables SET grace_period = interval '0', soft_deletable = false"
                .to_owned(),
            "42501",
            "permission denied for table tables".to_owned(),
        ),
        (
            "SELECT * FROM softview_internal.tables FOR UPDATE".to_owned(),
            "42501",
            "permission denied for table tables".to_owned(),
        ),
        (
            "LOCK TABLE softview_internal.tables IN SHARE ROW EXCLUSIVE MODE".to_owned(),
            "42501",
            "permission denied for table tables".to_owned(),
        ),
        (
            "LOCK TABLE softview.deleted_records IN EXCLUSIVE MODE".to_owned(),
            "42501",
            "permission denied for table deleted_records".to_owned(),
        ),
        (
            "SELECT softview_internal.save_view_grants('app.grants')".to_owned(),
            "42501",
            "permission denied: only the owner of app.grants may drop its view".to_owned(),
        ),
        (
            "SELECT softview_internal.install_write_function('app.grants')".to_owned(),
            "42501",
            "permission denied: only the owner of app.grants may refresh its view".to_owned(),
        ),
        (
            "SELECT softview_internal.store_key_columns('app.grants')".to_owned(),
            "42501",
            "permission denied: only the owner of app.grants may refresh it".to_owned(),
        ),
    ] {
        refused(&mut conn, &app, &sql, state, &words);
    }
}

#[test]
fn a_read_only_role_reads_the_view_and_a_column_limited_one_reads_no_archive() {
    let (_database, roles, mut conn) = setup();
    let reader = roles.role("reader");
    exec(&mut conn, &format!("SET ROLE {reader}"));
    assert_eq!(count(&mut conn, "SELECT count(*) FROM app.active_notes"), 3);
    // Tenant a may delete rows of notes, whose secret column it cannot read: the archive keeps
    // the whole row, so it reads none of the archive.
    exec(
        &mut conn,
        &format!(
            "RESET ROLE; SET ROLE {}; DELETE FROM app.notes WHERE id = 3",
            roles.role("tenant_a")
        ),
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        0
    );
    exec(&mut conn, "RESET ROLE");
    assert_eq!(
        text(
            &mut conn,
            "SELECT row_data ->> 'secret' FROM softview.deleted_records"
        )
        .as_deref(),
        Some("s3"),
        "archived whole, for the roles that may read it"
    );
    let entry = count(&mut conn, "SELECT id FROM softview.deleted_records");
    for (sql, state, words) in [
        (
            "DELETE FROM app.active_notes WHERE id = 1".to_owned(),
            "42501",
            "permission denied for view active_notes",
        ),
        (
            "SELECT softview.soft_delete_row('app.notes', '{1}')".to_owned(),
            "42501",
            "permission denied for table notes",
        ),
        (
            format!("SELECT softview.restore_archived({entry})"),
            "42501",
            "permission denied: restoring into app.notes needs INSERT on it",
        ),
        (
            "UPDATE app.active_notes SET body = 'changed'".to_owned(),
            "42501",
            "permission denied for view active_notes",
        ),
        (
            "SELECT softview.set_grace_period('app.notes', NULL)".to_owned(),
            "42501",
            "permission denied: only the owner of app.notes may change its settings",
        ),
    ] {
        refused(&mut conn, &reader, &sql, state, words);
    }
}

/// The archive's policies decide once per query for the enabled tables, and row by row, by
/// the same rules, for tables disabled since: a role reads archived rows of a table it may read,
/// before and after the table is disabled, and a role that may not read it sees none.
#[test]
fn archived_rows_are_readable_by_the_same_rules_before_and_after_their_table_is_disabled() {
    let (_database, roles, mut conn) = setup();
    let (reader, tenant) = (roles.role("reader"), roles.role("tenant_a"));
    as_role(
        &mut conn,
        &roles.role("owner"),
        &format!("GRANT SELECT ON app.grants TO {reader}; DELETE FROM app.grants WHERE id = 1"),
    );
    let visible = |conn: &mut PgConnection, role: &str| {
        exec(conn, &format!("SET ROLE {role}"));
        let n = count(
            conn,
            "SELECT count(*) FROM softview.deleted_records WHERE table_name = 'app.grants'",
        );
        exec(conn, "RESET ROLE");
        n
    };
    assert_eq!(
        (visible(&mut conn, &reader), visible(&mut conn, &tenant)),
        (1, 0)
    );
    as_role(
        &mut conn,
        &roles.role("owner"),
        "SELECT softview.disable('app.grants')",
    );
    assert_eq!(
        (visible(&mut conn, &reader), visible(&mut conn, &tenant)),
        (1, 0)
    );
}

#[test]
fn tenants_read_and_restore_only_the_archived_rows_they_deleted() {
    let (_database, roles, mut conn) = setup();
    let (a, b) = (roles.role("tenant_a"), roles.role("tenant_b"));
    as_role(
        &mut conn,
        &a,
        "INSERT INTO app.active_memos (id, body) VALUES (1, 'a''s memo');
         SELECT softview.hard_delete_row('app.memos', '{1}')",
    );
    as_role(
        &mut conn,
        &b,
        "INSERT INTO app.active_memos (id, body) VALUES (2, 'b''s memo');
         SELECT softview.hard_delete_row('app.memos', '{2}')",
    );
    let entry_of = |conn: &mut PgConnection, id: i64| {
        count(
            conn,
            &format!(
                "SELECT id FROM softview.deleted_records WHERE primary_key = '{{\"id\": {id}}}'"
            ),
        )
    };
    let transaction_of = |conn: &mut PgConnection, id: i64| {
        count(
            conn,
            &format!(
                "SELECT transaction_id FROM softview.deleted_records WHERE primary_key = '{{\"id\": {id}}}'"
            ),
        )
    };
    let (a_entry, a_transaction) = (entry_of(&mut conn, 1), transaction_of(&mut conn, 1));
    for (tenant, own) in [(&a, "a's memo"), (&b, "b's memo")] {
        exec(&mut conn, &format!("SET ROLE {tenant}"));
        assert_eq!(
            text(
                &mut conn,
                "SELECT string_agg(row_data ->> 'body', ',') FROM softview.deleted_records"
            )
            .as_deref(),
            Some(own),
            "{tenant} sees its own entry only"
        );
        exec(&mut conn, "RESET ROLE");
    }
    refused(
        &mut conn,
        &b,
        &format!("SELECT softview.restore_archived({a_entry})"),
        "P0002",
        "row not found: softview.deleted_records",
    );
    refused(
        &mut conn,
        &b,
        &format!("SELECT softview.restore_transaction({a_transaction})"),
        "42501",
        &format!(
            "permission denied: transaction {a_transaction} archived 1 row(s) the caller may not read"
        ),
    );
    refused(
        &mut conn,
        &b,
        &format!("SELECT softview_internal.take_archived({a_entry})"),
        "P0002",
        "row not found: softview.deleted_records",
    );
    as_role(
        &mut conn,
        &a,
        &format!("SELECT softview.restore_transaction({a_transaction})"),
    );
    exec(&mut conn, &format!("SET ROLE {a}"));
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(body, ',') FROM app.active_memos"
        )
        .as_deref(),
        Some("a's memo")
    );
    exec(&mut conn, "RESET ROLE");
}

#[test]
fn the_archive_cannot_be_forged_through_its_trigger_or_a_purge_setting() {
    let (_database, roles, mut conn) = setup();
    let b = roles.role("tenant_b");
    exec(
        &mut conn,
        &format!("CREATE SCHEMA mallory AUTHORIZATION {b}"),
    );
    // The archive trigger attached by hand to a table softview did not enable archives nothing.
    exec(
        &mut conn,
        &format!(
            "SET ROLE {b};
             CREATE TABLE mallory.fake (id bigint PRIMARY KEY, who text, deleted_at timestamptz);
             INSERT INTO mallory.fake VALUES (9, 'mallory', NULL);
             CREATE TRIGGER forge AFTER DELETE ON mallory.fake REFERENCING OLD TABLE AS gone
                 FOR EACH STATEMENT EXECUTE FUNCTION softview_internal.archive_deleted('app.grants', '{{id}}');
             RESET ROLE"
        ),
    );
    as_role(&mut conn, &b, "DELETE FROM mallory.fake");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        0,
        "nothing archived (a WARNING says so)"
    );
    exec(
        &mut conn,
        "INSERT INTO mallory.fake VALUES (9, 'mallory', NULL)",
    );
    // Enabled, its rows are archived under its own name whatever the arguments say.
    as_role(
        &mut conn,
        &b,
        "SELECT softview.enable('mallory.fake'); DELETE FROM mallory.fake",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(DISTINCT table_name, ',') FROM softview.deleted_records"
        )
        .as_deref(),
        Some("mallory.fake")
    );
    // Setting the purge's marker by hand does not make a delete of live rows a purge.
    as_role(
        &mut conn,
        &b,
        "INSERT INTO app.active_memos (id, body) VALUES (5, 'live');
         BEGIN;
         SELECT set_config('softview.purge_age', '0', true);
         DELETE FROM app.memos WHERE id = 5;
         COMMIT",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT purged::text FROM softview.deleted_records WHERE table_name = 'app.memos'"
        )
        .as_deref(),
        Some("false")
    );
}

/// Objects a role plants in `public` under the names of functions and operators the toolkit
/// calls; each notes its name in `public.hijacked` when it runs.
const PLANTED: &str = "
    CREATE TABLE public.hijacked (what text);
    GRANT INSERT, SELECT ON public.hijacked TO PUBLIC;
    CREATE FUNCTION public.note(what text) RETURNS void LANGUAGE sql AS $$ INSERT INTO public.hijacked VALUES (what) $$;
    CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql
        AS $$ SELECT public.note('now'); SELECT pg_catalog.now() $$;
    CREATE FUNCTION public.quote_ident(name) RETURNS text LANGUAGE sql
        AS $$ SELECT public.note('quote_ident'); SELECT pg_catalog.quote_ident($1::text) $$;
    CREATE FUNCTION public.left(name, integer) RETURNS text LANGUAGE sql
        AS $$ SELECT public.note('left'); SELECT pg_catalog.left($1::text, $2) $$;
    CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql
        AS $$ SELECT public.note('unnest'); SELECT pg_catalog.unnest($1) $$;
    CREATE FUNCTION public.to_jsonb(record) RETURNS jsonb LANGUAGE plpgsql
        AS $$ BEGIN PERFORM public.note('to_jsonb'); RETURN pg_catalog.row_to_json($1)::jsonb; END $$;
    CREATE FUNCTION public.object_step(jsonb, text, jsonb) RETURNS jsonb LANGUAGE sql
        AS $$ SELECT public.note('jsonb_object_agg');
              SELECT coalesce($1, '{}'::jsonb) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object($2, $3) $$;
    CREATE AGGREGATE public.jsonb_object_agg(text, jsonb) (SFUNC = public.object_step, STYPE = jsonb);
    CREATE FUNCTION public.regclass_eq(regclass, regclass) RETURNS boolean LANGUAGE sql
        AS $$ SELECT public.note('regclass ='); SELECT $1::oid OPERATOR(pg_catalog.=) $2::oid $$;
    CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = public.regclass_eq);";

/// What an application does through softview.
const LIFECYCLE: &str = "
    DELETE FROM app.active_notes WHERE id = 1;
    SELECT softview.restore_row('app.notes', '{1}');
    SELECT softview.hard_delete_row('app.notes', '{2}');
    SELECT softview.restore_archived(max(id)) FROM softview.deleted_records;
    UPDATE app.notes SET deleted_at = pg_catalog.now() - interval '1 year' WHERE id = 3;
    SELECT softview.purge_batch('app.notes', 10);
    SELECT count(*) FROM softview.trash('app.notes');";

/// What a table's owner does with softview.
const OWNING: &str = "
    SELECT softview.enable('app.notes');
    SELECT count(*) FROM softview.index_check('app.notes');
    SELECT softview.set_grace_period('app.notes', interval '1 day');
    SELECT softview.refresh('app.notes');";

#[test]
fn objects_planted_on_the_search_path_ran_under_revision_3_and_run_no_more() {
    // Revision 3 resolved names with the caller's search_path: the planted objects ran.
    let database = test_database(&EMPTY).expect("test database");
    let mut conn = database.connect().expect("connect");
    exec(
        &mut conn,
        include_str!("../fixtures/toolkit_revision_3.sql"),
    );
    exec(
        &mut conn,
        "CREATE SCHEMA app;
         CREATE TABLE app.notes (id bigint PRIMARY KEY, body text, secret text, deleted_at timestamptz);
         INSERT INTO app.notes VALUES (1, 'one', 's1', NULL), (2, 'two', 's2', NULL), (3, 'three', 's3', NULL);",
    );
    exec(&mut conn, "SELECT softview.enable('app.notes')");
    exec(&mut conn, PLANTED);
    exec(&mut conn, "DELETE FROM app.notes WHERE id = 2");
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(DISTINCT what, ', ' ORDER BY what) FROM public.hijacked"
        )
        .as_deref(),
        Some("jsonb_object_agg, to_jsonb, unnest"),
        "revision 3's archive trigger ran them, as the superuser who deleted"
    );
    drop(conn);
    drop(database);

    // Now: planted by a tenant in a `public` anyone may create in (a database upgraded from
    // PostgreSQL 14), with `public` first on the path of the owner and the application.
    let (_database, roles, mut conn) = setup();
    let owner = roles.role("owner");
    exec(
        &mut conn,
        &format!(
            "GRANT CREATE ON SCHEMA public TO PUBLIC;
             SET ROLE {};",
            roles.role("tenant_b")
        ),
    );
    exec(&mut conn, PLANTED);
    exec(
        &mut conn,
        &format!("RESET ROLE; SET ROLE {owner}; SET search_path = public, pg_catalog;"),
    );
    exec(&mut conn, OWNING);
    exec(&mut conn, LIFECYCLE);
    exec(
        &mut conn,
        &format!(
            "RESET ROLE; SET ROLE {};
             DELETE FROM app.active_notes WHERE id = 1;
             SELECT softview.restore_row('app.notes', '{{1}}');
             SELECT softview.hard_delete_row('app.notes', '{{1}}');
             RESET ROLE; RESET search_path",
            roles.role("app")
        ),
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM public.hijacked"),
        0,
        "nothing planted ran"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        2,
        "the purged row and the application's hard delete are archived"
    );
}

#[test]
fn every_toolkit_function_pins_its_search_path() {
    let (_database, _roles, mut conn) = setup();
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY p.proname) FROM pg_proc p
             WHERE p.pronamespace IN ('softview'::regnamespace, 'softview_internal'::regnamespace)
               AND p.proname NOT LIKE 'write\\_%'
               AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)"
        )
        .as_deref(),
        Some(
            "softview_internal.caller(), softview_internal.current_actor(), softview_internal.current_reason(), \
             softview_internal.event_payload(text,jsonb,text), softview.purge_due(integer)"
        ),
        "only the one-expression functions inlined into pinned callers, and the procedure that \
         commits (which names every object with its schema)"
    );
}

#[test]
fn keys_compare_with_their_own_equality_under_the_pinned_search_path() {
    // citext's `=` lives in the extension's schema: under `pg_catalog, pg_temp` a bare `=` would
    // compare its values as text, case-sensitively, and hide a child whose key differs in case.
    let (_database, mut conn) = crate::common::db();
    exec(
        &mut conn,
        "CREATE EXTENSION citext;
         CREATE TABLE tags (name citext PRIMARY KEY, deleted_at timestamptz);
         CREATE TABLE uses (id int PRIMARY KEY, tag citext REFERENCES tags, deleted_at timestamptz);
         INSERT INTO tags VALUES ('Rust');
         INSERT INTO uses VALUES (1, 'rust');
         SELECT softview.enable('tags'), softview.enable('uses');",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_uses"), 1);
    exec(
        &mut conn,
        "SELECT softview.soft_delete_row('tags', '{RUST}')",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_uses"), 0);
    assert_eq!(
        text(&mut conn, "SELECT softview.hidden_by('uses', '{1}')").as_deref(),
        Some("public.tags (name)=(rust)")
    );
    exec(&mut conn, "SELECT softview.restore_row('tags', '{rUsT}')");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_uses"), 1);
}

#[test]
fn the_applications_triggers_keep_the_writers_search_path_through_the_views() {
    // The generated view triggers name every schema instead of pinning search_path, so a
    // trigger of the application that names its tables without schema still finds them.
    let (_database, mut conn) = crate::common::db();
    exec(
        &mut conn,
        "CREATE TABLE audit (what text);
         CREATE FUNCTION note_change() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO audit VALUES (TG_OP || ' ' || TG_TABLE_NAME); RETURN NULL; END $$;
         CREATE TRIGGER note_change AFTER UPDATE OR INSERT ON reviews
             FOR EACH ROW EXECUTE FUNCTION note_change();",
    );
    crate::common::seed(&mut conn);
    exec(
        &mut conn,
        "DELETE FROM active_reviews WHERE id = 1;
         INSERT INTO active_reviews (place_id, rating, body) VALUES (2, 3, 'fine');
         UPDATE active_reviews SET rating = 4 WHERE id = 2;",
    );
    assert_eq!(
        text(&mut conn, "SELECT string_agg(what, ', ') FROM audit").as_deref(),
        Some("INSERT reviews, INSERT reviews, UPDATE reviews, INSERT reviews, UPDATE reviews")
    );
}
