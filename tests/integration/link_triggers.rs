//! Writes through the link view `active_place_activities`: its INSTEAD OF triggers.

use crate::common::{count, db, exec, seed, sql_error, text};
use diesel::prelude::*;
use softview::Error;
use softview_example::views::active_place_activities as links;
use softview_example::{NewPlaceActivity, PlaceActivity};

fn link(conn: &mut PgConnection, place_id: i64, activity_id: i64) -> Result<PlaceActivity, Error> {
    Ok(diesel::insert_into(links::table)
        .values(NewPlaceActivity {
            place_id,
            activity_id,
        })
        .returning(PlaceActivity::as_returning())
        .get_result(conn)?)
}

#[test]
fn inserting_a_new_link_writes_it_to_the_base_table() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let made = link(&mut conn, 2, 2).unwrap();
    assert_eq!((made.place_id, made.activity_id), (2, 2));
    assert!(made.id > 100, "the table's identity default applied");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM place_activities WHERE place_id = 2 AND activity_id = 2"
        ),
        1
    );
}

#[test]
fn inserting_an_existing_link_is_idempotent() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let again = link(&mut conn, 1, 1).unwrap();
    assert_eq!(again.id, 1, "the existing link is returned");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM place_activities"), 3);
}

#[test]
fn inserting_a_soft_deleted_link_revives_it() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let deleted = diesel::delete(links::table.filter(links::id.eq(3)))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(deleted, 1);
    assert!(
        text(
            &mut conn,
            "SELECT deleted_at::text FROM place_activities WHERE id = 3"
        )
        .is_some()
    );
    let revived = link(&mut conn, 1, 2).unwrap();
    assert_eq!(
        revived.id, 3,
        "the deleted row comes back, no new row is made"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM place_activities"), 3);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_place_activities"),
        3
    );
}

#[test]
fn a_link_to_a_deleted_parent_is_refused_and_nothing_is_written() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "DELETE FROM active_activities WHERE name = 'Run'",
    );
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO active_place_activities (place_id, activity_id) VALUES (2, 2)",
    );
    assert_eq!(state, "SV001");
    assert_eq!(message, "parent row is deleted: public.activities");

    match link(&mut conn, 2, 2) {
        Err(Error::ParentDeleted {
            parent,
            key,
            constraint,
            ..
        }) => {
            assert_eq!(
                (parent.as_str(), key.as_str()),
                ("public.activities", "(id)=(2)")
            );
            assert_eq!(
                constraint.as_deref(),
                Some("place_activities_activity_id_fkey")
            );
        }
        other => panic!("expected ParentDeleted, got {other:?}"),
    }
    assert_eq!(count(&mut conn, "SELECT count(*) FROM place_activities"), 3);
}

#[test]
fn a_link_to_a_missing_parent_is_refused() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO active_place_activities (place_id, activity_id) VALUES (99, 1)",
    );
    assert_eq!(state, "23503");
    assert_eq!(message, "parent row does not exist: public.places");
    match link(&mut conn, 99, 1) {
        Err(Error::ParentMissing { detail, .. }) => assert_eq!(
            detail,
            "Key (id)=(99) is not present in table public.places."
        ),
        other => panic!("expected ParentMissing, got {other:?}"),
    }
}

#[test]
fn updating_a_link_checks_the_new_parent() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = now() WHERE id = 2",
    );
    let (state, message) = sql_error(
        &mut conn,
        "UPDATE active_place_activities SET place_id = 2 WHERE id = 3",
    );
    assert_eq!(state, "SV001");
    assert_eq!(message, "parent row is deleted: public.places");

    exec(
        &mut conn,
        "INSERT INTO activities (id, name) VALUES (3, 'Climb')",
    );
    let moved: PlaceActivity = diesel::update(links::table.filter(links::id.eq(3)))
        .set(links::activity_id.eq(3))
        .returning(PlaceActivity::as_returning())
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((moved.id, moved.place_id, moved.activity_id), (3, 1, 3));
    assert_eq!(
        count(
            &mut conn,
            "SELECT activity_id FROM place_activities WHERE id = 3"
        ),
        3
    );
}

#[test]
fn updating_a_link_onto_an_existing_pair_is_a_unique_conflict() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let (state, message) = sql_error(
        &mut conn,
        "UPDATE active_place_activities SET activity_id = 1 WHERE id = 3",
    );
    assert_eq!(state, "23505");
    assert!(message.contains("place_activities_pair_live"), "{message}");
    let result = diesel::update(links::table.filter(links::id.eq(3)))
        .set(links::activity_id.eq(1))
        .execute(&mut conn);
    match result.map_err(Error::from) {
        Err(Error::UniqueConflict {
            constraint, detail, ..
        }) => {
            assert_eq!(constraint, "place_activities_pair_live");
            assert_eq!(detail, "Key (place_id, activity_id)=(1, 1) already exists.");
        }
        other => panic!("expected UniqueConflict, got {other:?}"),
    }
}

#[test]
fn deleting_a_link_with_deleted_at_soft_deletes_it() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "DELETE FROM active_place_activities WHERE place_id = 1",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM place_activities"), 3);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM place_activities WHERE deleted_at IS NOT NULL"
        ),
        2
    );
}

#[test]
fn deleting_a_link_without_deleted_at_removes_it() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE TABLE place_tags (
             place_id bigint NOT NULL REFERENCES places,
             activity_id bigint NOT NULL REFERENCES activities,
             PRIMARY KEY (place_id, activity_id));
         SELECT softview.enable_dependent('place_tags');
         INSERT INTO active_place_tags VALUES (1, 1), (1, 2), (2, 1);
         INSERT INTO active_place_tags VALUES (1, 1);
         DELETE FROM active_place_tags WHERE place_id = 1 AND activity_id = 2;",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM place_tags"), 2);
    exec(&mut conn, "DELETE FROM active_places WHERE id = 2");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_place_tags"),
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM place_tags"),
        2,
        "hidden, not removed"
    );
}
