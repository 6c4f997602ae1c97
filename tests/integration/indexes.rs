//! softview.index_check: the indexes of an enabled table that deleted rows spoil.

use crate::common::{db, exec, text};

#[test]
fn the_crates_own_tables_pass_the_index_check() {
    let (_db, mut conn) = db();
    for table in ["places", "activities", "place_activities", "reviews"] {
        assert_eq!(
            text(
                &mut conn,
                &format!("SELECT string_agg(index_name, ',') FROM softview.index_check('{table}')")
            ),
            None,
            "{table}"
        );
    }
}

#[test]
fn plain_and_unique_indexes_are_listed_with_what_to_do() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE INDEX places_name_plain ON places (name);
         CREATE UNIQUE INDEX places_name_unique ON places (lower(name));
         CREATE INDEX places_name_live_too ON places (name, id) WHERE deleted_at IS NULL;",
    );
    assert_eq!(
        text(&mut conn, "SELECT string_agg(index_name || ': ' || problem, E'\\n') FROM softview.index_check('places')")
            .as_deref(),
        Some(
            "places_name_plain: not partial: deleted rows fill it and slow live reads; add WHERE deleted_at IS NULL\n\
             places_name_unique: unique across deleted rows: a deleted row keeps its key; add WHERE deleted_at IS NULL"
        )
    );
    let (state, _) = crate::common::sql_error(
        &mut conn,
        "SELECT * FROM softview.index_check('softview_internal.tables')",
    );
    assert_eq!(state, "42809");
}
