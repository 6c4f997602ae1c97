//! What differs between the PostgreSQL majors softview supports (15 to 18), each test saying
//! which version does what: MERGE into the views (refused before 17), virtual generated
//! columns and NOT NULL … NOT VALID (18).

use crate::common::{count, db, exec, sql_error, text};

fn server_version(conn: &mut diesel::PgConnection) -> i64 {
    count(conn, "SELECT current_setting('server_version_num')::bigint")
}

#[test]
fn merge_into_the_views_does_what_insert_update_and_delete_do_or_is_refused_before_17() {
    let (_db, mut conn) = db();
    let conn = &mut conn;
    crate::common::seed(conn);
    let merge_reviews = "MERGE INTO active_reviews r
         USING (VALUES (1, 3), (2, 5), (9, 4)) AS s(id, rating) ON r.id = s.id
         WHEN MATCHED AND s.rating = 3 THEN DELETE
         WHEN MATCHED THEN UPDATE SET rating = s.rating
         WHEN NOT MATCHED THEN INSERT (id, place_id, rating, body) VALUES (s.id, 1, s.rating, 'merged')";
    if server_version(conn) < 170000 {
        // 15 and 16: MERGE into a view is refused by PostgreSQL itself.
        let (state, message) = sql_error(conn, merge_reviews);
        assert_eq!(state, "0A000");
        assert_eq!(
            message,
            "cannot execute MERGE on relation \"active_reviews\""
        );
        return;
    }
    // 17 and later: a child's view has INSTEAD OF triggers for every action, so each MERGE
    // action does what the equivalent statement does: DELETE soft-deletes.
    exec(conn, merge_reviews);
    assert_eq!(
        text(
            conn,
            "SELECT string_agg(format('%s:%s:%s', id, rating, deleted_at IS NOT NULL), ' ' ORDER BY id) FROM reviews"
        ),
        Some("1:5:t 2:5:f 9:4:f".to_owned())
    );
    // A table without parents has an automatically updatable view with an INSTEAD OF DELETE
    // trigger: MERGE with DELETE alone, or without DELETE, works; mixing them is refused by
    // PostgreSQL, in words.
    exec(
        conn,
        "MERGE INTO active_activities a USING (VALUES (2)) AS s(id) ON a.id = s.id WHEN MATCHED THEN DELETE",
    );
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM activities WHERE id = 2 AND deleted_at IS NOT NULL"
        ),
        1
    );
    exec(
        conn,
        "MERGE INTO active_places p USING (VALUES (1, 'Parc'), (5, 'Pier')) AS s(id, name) ON p.id = s.id
         WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)",
    );
    assert_eq!(
        text(conn, "SELECT string_agg(name, ',' ORDER BY id) FROM places"),
        Some("Parc,Beach,Pier".to_owned())
    );
    let (state, message) = sql_error(
        conn,
        "MERGE INTO active_places p USING (VALUES (1)) AS s(id) ON p.id = s.id
         WHEN MATCHED AND p.name = 'x' THEN DELETE WHEN MATCHED THEN UPDATE SET name = 'y'",
    );
    assert_eq!(state, "0A000");
    assert_eq!(message, "cannot merge into view \"active_places\"");
}

#[test]
fn virtual_generated_columns_are_archived_as_null_and_computed_again_on_restore() {
    let (_db, mut conn) = db();
    let conn = &mut conn;
    if server_version(conn) < 180000 {
        // Before 18 every generated column is stored; covered by the archive tests.
        return;
    }
    exec(
        conn,
        "CREATE TABLE priced (id int PRIMARY KEY, price int NOT NULL,
                              doubled int GENERATED ALWAYS AS (price * 2) VIRTUAL, deleted_at timestamptz);
         SELECT softview.enable('priced');
         INSERT INTO priced (id, price) VALUES (1, 21);
         DELETE FROM priced WHERE id = 1;",
    );
    // An AFTER DELETE trigger sees NULL for a virtual column: PostgreSQL computes it on read,
    // and the deleted row is no longer read. The archive keeps what it was given.
    assert_eq!(
        text(conn, "SELECT row_data::text FROM softview.deleted_records"),
        Some(r#"{"id": 1, "price": 21, "doubled": null, "deleted_at": null}"#.to_owned())
    );
    exec(
        conn,
        "SELECT softview.restore_archived(id) FROM softview.deleted_records",
    );
    assert_eq!(
        count(
            conn,
            "SELECT doubled::bigint FROM active_priced WHERE id = 1"
        ),
        42
    );
}

#[test]
fn a_reference_whose_not_null_is_not_valid_yet_keeps_its_null_rows_visible() {
    let (_db, mut conn) = db();
    let conn = &mut conn;
    if server_version(conn) < 180000 {
        // NOT NULL … NOT VALID is new in 18.
        return;
    }
    exec(
        conn,
        "CREATE TABLE owners (id int PRIMARY KEY, deleted_at timestamptz);
         CREATE TABLE pets (id int PRIMARY KEY, owner_id int REFERENCES owners, deleted_at timestamptz);
         INSERT INTO owners VALUES (1, NULL);
         INSERT INTO pets VALUES (1, 1, NULL), (2, NULL, NULL);
         ALTER TABLE pets ADD CONSTRAINT pets_owner_required NOT NULL owner_id NOT VALID;
         SELECT softview.enable('owners'), softview.enable('pets');",
    );
    // attnotnull is set, yet pet 2 has no owner: the view keeps it, and says so after a refresh.
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'pets'::regclass AND attname = 'owner_id' AND attnotnull"
        ),
        1
    );
    assert_eq!(count(conn, "SELECT count(*) FROM active_pets"), 2);
    exec(conn, "SELECT softview.refresh('pets')");
    assert_eq!(count(conn, "SELECT count(*) FROM active_pets"), 2);
    let schema = softview::codegen::generate_views(conn, &["public".to_owned()]).unwrap();
    assert!(schema.contains("owner_id -> Nullable<Int4>"), "{schema}");
    // Once validated, the column is NOT NULL for the view and the generated schema alike.
    exec(
        conn,
        "UPDATE pets SET owner_id = 1 WHERE id = 2; ALTER TABLE pets VALIDATE CONSTRAINT pets_owner_required",
    );
    let schema = softview::codegen::generate_views(conn, &["public".to_owned()]).unwrap();
    assert!(schema.contains("owner_id -> Int4"), "{schema}");
}
