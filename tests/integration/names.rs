//! The names softview gives views and indexes: never cut to a name another table's object
//! holds, never taken from someone else's object, and gone again after `disable`.

use diesel::prelude::*;

use crate::common::{count, db, exec, sql_error, text};

/// Tables with 55-byte names that differ only after their 50th byte.
const LONG_A: &str = "garden_plots_of_the_northern_allotment_society_rows_a";
const LONG_B: &str = "garden_plots_of_the_northern_allotment_society_rows_b";

/// Every relation of schema public with its kind, and every index with its definition and
/// comment, plus the catalog: what a refused call must leave as it was.
fn public_schema(conn: &mut PgConnection) -> Option<String> {
    text(
        conn,
        "SELECT string_agg(line, E'\n' ORDER BY line) FROM (
             SELECT format('%s %s %s', c.relname, c.relkind, obj_description(c.oid, 'pg_class')) AS line
             FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
             UNION ALL
             SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
             WHERE c.relnamespace = 'public'::regnamespace
             UNION ALL
             SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid)) FROM pg_class c
             WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace
             UNION ALL
             SELECT format('enabled %s', relation) FROM softview_internal.tables
         ) AS everything",
    )
}

/// The indexes of `table` softview made, by their definitions.
fn created_indexes(conn: &mut PgConnection, table: &str) -> Vec<String> {
    text(
        conn,
        &format!(
            "SELECT string_agg(pg_get_indexdef(i.indexrelid), E'\n' ORDER BY 1)
             FROM pg_index i WHERE i.indrelid = '{table}'::regclass
               AND obj_description(i.indexrelid, 'pg_class') LIKE 'created by softview: %'"
        ),
    )
    .map(|lines| lines.lines().map(str::to_owned).collect())
    .unwrap_or_default()
}

/// Before, index names were the table's first 50 bytes and a suffix, made with IF NOT EXISTS:
/// the second table silently got no trash index, and a link to it no live-key index. Now each
/// table gets its own, with a hash where the name would be too long.
#[test]
fn tables_sharing_a_long_prefix_each_get_their_own_indexes() {
    let (_db, mut conn) = db();
    for table in [LONG_A, LONG_B] {
        exec(
            &mut conn,
            &format!(
                "CREATE TABLE {table} (id int PRIMARY KEY, deleted_at timestamptz);
                 CREATE TABLE {table}_x (id int PRIMARY KEY, plot_id int NOT NULL REFERENCES {table},
                                         deleted_at timestamptz);
                 SELECT softview.enable('{table}');
                 SELECT softview.enable('{table}_x');"
            ),
        );
    }
    for table in [LONG_A, LONG_B] {
        let indexes = created_indexes(&mut conn, table);
        assert_eq!(indexes.len(), 2, "{indexes:?}");
        assert!(
            indexes[0].contains(&format!("{table}_trash ON public.{table} USING btree (deleted_at) WHERE (deleted_at IS NOT NULL)")),
            "{indexes:?}"
        );
        // 55 bytes and `_live_keys` do not fit: the name is cut, then told apart by a hash.
        assert!(
            indexes[1].contains("_live_keys ON public.garden_plots")
                && indexes[1].ends_with("USING btree (id) WHERE (deleted_at IS NULL)"),
            "{indexes:?}"
        );
    }
    assert_ne!(
        created_indexes(&mut conn, LONG_A)[1].split(" ON ").next(),
        created_indexes(&mut conn, LONG_B)[1].split(" ON ").next()
    );
}

/// An index the application made with the same columns and predicate serves: no second one.
#[test]
fn an_equivalent_index_of_the_application_is_used_not_duplicated() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE notes (id int PRIMARY KEY, deleted_at timestamptz);
         CREATE INDEX notes_deleted ON notes (deleted_at) WHERE deleted_at IS NOT NULL;
         SELECT softview.enable('notes');",
    );
    assert_eq!(created_indexes(&mut conn, "notes"), Vec::<String>::new());
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_index WHERE indrelid = 'notes'::regclass"
        ),
        2
    );
}

/// Enabling refuses, changing nothing, where a name softview needs is another object's: a view
/// or table named like the view (before, a view was silently replaced), an index name held by
/// another relation, and a table name too long to prefix with `active_`.
#[test]
fn names_held_by_other_objects_or_too_long_are_refused_and_nothing_changes() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        &format!(
            "CREATE TABLE notes (id int PRIMARY KEY, deleted_at timestamptz);
             CREATE VIEW active_notes AS SELECT 'not softview''s' AS what;
             CREATE TABLE memos (id int PRIMARY KEY, deleted_at timestamptz);
             CREATE TABLE active_memos (id int);
             CREATE TABLE cards (id int PRIMARY KEY, deleted_at timestamptz);
             CREATE TABLE cards_trash (id int);
             CREATE TABLE {LONG_A}_xyz (id int PRIMARY KEY, deleted_at timestamptz);"
        ),
    );
    let before = public_schema(&mut conn);
    let cases = [
        (
            "SELECT softview.enable('notes')".to_owned(),
            "42P07",
            "cannot enable public.notes: public.active_notes already exists and is not its softview view",
        ),
        (
            "SELECT softview.enable('memos')".to_owned(),
            "42P07",
            "cannot enable public.memos: public.active_memos already exists and is not its softview view",
        ),
        (
            "SELECT softview.enable('cards')".to_owned(),
            "42P07",
            "cannot enable public.cards: the name cards_trash is taken by public.cards_trash",
        ),
        (
            format!("SELECT softview.enable('{LONG_A}_xyz')"),
            "42622",
            "cannot enable public.garden_plots_of_the_northern_allotment_society_rows_a_xyz: its view would be \
             named active_garden_plots_of_the_northern_allotment_society_rows_a_xyz, longer than \
             PostgreSQL's 63 bytes",
        ),
    ];
    for (sql, state, message) in cases {
        assert_eq!(
            sql_error(&mut conn, &sql),
            (state.to_owned(), message.to_owned()),
            "{sql}"
        );
    }
    assert_eq!(public_schema(&mut conn), before);
}

/// `disable` drops the indexes softview created on the table and keeps the application's.
#[test]
fn disable_drops_the_indexes_enable_created() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE notes (id int PRIMARY KEY, body text, deleted_at timestamptz);
         CREATE INDEX notes_body ON notes (body) WHERE deleted_at IS NULL;
         CREATE TABLE note_tags (id int PRIMARY KEY, note_id int REFERENCES notes, deleted_at timestamptz);
         CREATE TABLE note_links (id int PRIMARY KEY, note_id int REFERENCES notes, deleted_at timestamptz);
         SELECT softview.enable('notes');
         SELECT softview.enable('note_tags');
         SELECT softview.enable('note_links');",
    );
    assert_eq!(created_indexes(&mut conn, "notes").len(), 2);
    exec(&mut conn, "SELECT softview.disable('note_tags')");
    assert_eq!(
        created_indexes(&mut conn, "notes").len(),
        2,
        "the live keys of notes stay while the view of note_links probes them"
    );
    exec(&mut conn, "SELECT softview.disable('note_links')");
    assert_eq!(
        created_indexes(&mut conn, "notes").len(),
        1,
        "no view probes them any more: only the trash index is left"
    );
    exec(&mut conn, "SELECT softview.disable('notes')");
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid IN ('notes'::regclass, 'note_tags'::regclass)"
        )
        .as_deref(),
        Some("note_tags_pkey, notes_body, notes_pkey")
    );
}
