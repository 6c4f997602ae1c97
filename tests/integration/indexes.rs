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
            "public.places_name_plain: not partial: deleted rows fill it and slow live reads; add WHERE deleted_at IS NULL\n\
             public.places_name_unique: unique across deleted rows: a deleted row keeps its key; add WHERE deleted_at IS NULL"
        )
    );
    let (state, _) = crate::common::sql_error(
        &mut conn,
        "SELECT * FROM softview.index_check('softview_internal.tables')",
    );
    assert_eq!(state, "42809");
}

/// A foreign key's index must stay full: a parent's delete or purge finds the children, deleted
/// ones too, through it. A full index serving one is not listed; a foreign key served only by a
/// partial index, or by none, is, with the index to create.
#[test]
fn foreign_keys_need_a_full_index_and_their_full_indexes_are_not_listed() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "DROP INDEX reviews_place;
         CREATE TABLE visits (id bigint PRIMARY KEY, place_id bigint REFERENCES places,
                              review_id bigint, activity_id bigint, deleted_at timestamptz,
                              FOREIGN KEY (review_id) REFERENCES reviews);
         CREATE INDEX visits_activity_day ON visits (activity_id, id);
         CREATE INDEX visits_review_live ON visits (review_id) WHERE deleted_at IS NULL;
         CREATE INDEX visits_review_place ON visits (review_id, place_id);
         SELECT softview.enable('visits');",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s | %s | %s', coalesce(index_name, '-'), definition, problem), E'\\n')
             FROM softview.index_check('reviews')"
        )
        .as_deref(),
        Some(
            "- | CREATE INDEX ON public.reviews (place_id) | foreign key reviews_place_id_fkey has no full \
             index: deleting or purging a parent scans the table for its children; create this one (keep any \
             partial index for live reads)"
        )
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(coalesce(index_name, definition), E'\\n') FROM softview.index_check('visits')"
        )
        .as_deref(),
        Some(
            "public.visits_activity_day\n\
             CREATE INDEX ON public.visits (place_id)"
        ),
        "visits_review_place serves the review key (its leading column) and stays; the place key has none"
    );
}
