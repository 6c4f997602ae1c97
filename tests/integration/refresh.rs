//! Changing a table under its view: the frozen column list, and softview.refresh.

use crate::common::{count, db, exec, seed, sql_error, text, truth};
use diesel::PgConnection;

#[test]
fn an_added_column_appears_after_refresh_keeping_triggers_grants_and_dependents() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE ROLE softview_reader_a;
         GRANT SELECT ON active_places TO softview_reader_a;
         CREATE VIEW place_names AS SELECT name FROM active_places;
         ALTER TABLE places ADD COLUMN city text;
         UPDATE places SET city = 'Lyon';",
    );
    let (state, message) = sql_error(&mut conn, "SELECT city FROM active_places");
    assert_eq!(state, "42703", "the view was frozen at creation");
    assert!(
        message.contains(r#"column "city" does not exist"#),
        "{message}"
    );

    exec(&mut conn, "SELECT softview.refresh('places')");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_places WHERE city = 'Lyon'"
        ),
        2
    );
    assert!(truth(
        &mut conn,
        "SELECT has_table_privilege('softview_reader_a', 'active_places', 'SELECT')"
    ));
    exec(&mut conn, "DELETE FROM active_places WHERE id = 2");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM places WHERE deleted_at IS NOT NULL"
        ),
        1
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM place_names"), 1);
    exec(
        &mut conn,
        "DROP VIEW place_names; DROP OWNED BY softview_reader_a; DROP ROLE softview_reader_a",
    );
}

#[test]
fn dropping_or_retyping_a_column_a_view_uses_fails_until_the_views_are_dropped() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let (state, message) = sql_error(&mut conn, "ALTER TABLE places DROP COLUMN name");
    assert_eq!(state, "2BP01");
    assert_eq!(
        message,
        "cannot drop column name of table places because other objects depend on it"
    );
    let (state, message) = sql_error(
        &mut conn,
        "ALTER TABLE activities ALTER COLUMN kind TYPE varchar(20)",
    );
    assert_eq!(state, "0A000");
    assert!(
        message.contains("cannot alter type of a column used by a view or rule"),
        "{message}"
    );
}

/// The documented path, in one transaction as a migration runs it: drop the views, change the
/// table, refresh. The views built on the changed one come back too, with their grants.
#[test]
fn the_drop_column_path_works_inside_a_migration() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE ROLE softview_reader_b;
         GRANT SELECT ON active_reviews TO softview_reader_b;
         BEGIN;
         SELECT softview.drop_views('places');
         ALTER TABLE places DROP COLUMN name;
         ALTER TABLE reviews ALTER COLUMN body TYPE varchar(200);
         SELECT softview.refresh('places');
         COMMIT;",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_places"), 2);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_reviews"), 2);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_place_activities"),
        3
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                         WHERE attrelid = 'active_reviews'::regclass AND attname = 'body'"
        )
        .as_deref(),
        Some("character varying(200)")
    );
    assert!(truth(
        &mut conn,
        "SELECT has_table_privilege('softview_reader_b', 'active_reviews', 'SELECT')"
    ));
    // The link view still refuses deleted parents after being re-created.
    exec(&mut conn, "DELETE FROM active_places WHERE id = 2");
    let (state, _) = sql_error(
        &mut conn,
        "INSERT INTO active_place_activities (place_id, activity_id) VALUES (2, 2)",
    );
    assert_eq!(state, "SV001");
    exec(
        &mut conn,
        "DROP OWNED BY softview_reader_b; DROP ROLE softview_reader_b",
    );
}

#[test]
fn refresh_after_a_rename_recreates_the_views() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "ALTER TABLE places RENAME COLUMN name TO title;
         SELECT softview.refresh('places');",
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_places WHERE title = 'Park'"
        ),
        1
    );
}

#[test]
fn views_made_by_others_block_a_drop_and_are_named() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE VIEW review_bodies AS SELECT body FROM active_reviews",
    );
    let (state, message) = sql_error(&mut conn, "SELECT softview.drop_views('places')");
    assert_eq!(state, "2BP01");
    assert_eq!(
        message,
        "cannot drop the softview views of public.places: public.review_bodies depend on them"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_views WHERE viewname LIKE 'active_%'"
        ),
        4
    );
}

#[test]
fn refresh_all_recreates_every_view() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "ALTER TABLE activities ADD COLUMN difficulty int;
         ALTER TABLE reviews ADD COLUMN photo text;
         SELECT softview.refresh_all();",
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_activities WHERE difficulty IS NULL"
        ),
        2
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_reviews WHERE photo IS NULL"
        ),
        2
    );
}

/// Each view's triggers call a function generated for its table. Refreshing re-creates it in
/// place, a table whose oid changed (restored from a dump) gets a new one and the old one goes,
/// and dropping the views or disabling the table leaves none behind.
#[test]
fn each_view_has_one_generated_trigger_function_and_none_outlives_it() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let generated = |conn: &mut PgConnection| {
        text(
            conn,
            "SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p
             WHERE p.pronamespace = 'softview_internal'::regnamespace AND p.proname LIKE 'write\\_%'",
        )
        .unwrap_or_default()
    };
    let expected = |conn: &mut PgConnection| {
        text(
            conn,
            "SELECT string_agg('write_' || relation::oid, ' ' ORDER BY 'write_' || relation::oid)
             FROM softview_internal.tables",
        )
        .unwrap_or_default()
    };
    assert_eq!(generated(&mut conn), expected(&mut conn));
    exec(&mut conn, "SELECT softview.refresh_all()");
    assert_eq!(generated(&mut conn), expected(&mut conn));

    // A function under another name, as after a dump and restore, is replaced and dropped.
    let reviews_oid = text(&mut conn, "SELECT 'reviews'::regclass::oid::text").unwrap();
    exec(
        &mut conn,
        &format!("ALTER FUNCTION softview_internal.write_{reviews_oid}() RENAME TO write_1"),
    );
    assert!(generated(&mut conn).starts_with("write_1 "));
    exec(&mut conn, "SELECT softview.refresh('reviews')");
    assert_eq!(generated(&mut conn), expected(&mut conn));
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_reviews"),
        2,
        "the view still reads"
    );
    exec(&mut conn, "DELETE FROM active_reviews WHERE id = 1");
    assert!(truth(
        &mut conn,
        "SELECT deleted_at IS NOT NULL FROM reviews WHERE id = 1"
    ));

    exec(&mut conn, "SELECT softview.disable('reviews')");
    assert_eq!(generated(&mut conn), expected(&mut conn));
    exec(
        &mut conn,
        "SELECT softview.disable('place_activities'); SELECT softview.drop_views('places')",
    );
    assert_eq!(
        generated(&mut conn),
        text(&mut conn, "SELECT 'write_' || 'activities'::regclass::oid").unwrap()
    );
}
