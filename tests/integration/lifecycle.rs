//! The typed lifecycle operations, each path and the data after it.

use crate::common::{count, db, exec, seed, text};
use diesel::prelude::*;
use softview::{Error, Lifecycle};
use softview_example::schema::{activities, places};
use softview_example::{ActivityRecord, NewActivity, PlaceRecord};

#[test]
fn soft_delete_by_key_stamps_once() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let deleted = places::table.soft_delete(&mut conn, 2).unwrap();
    assert_eq!(deleted.name, "Beach");
    let first = deleted.deleted_at.expect("stamped");
    let again = places::table.soft_delete(&mut conn, 2).unwrap();
    assert_eq!(
        again.deleted_at,
        Some(first),
        "an already deleted row keeps its deleted_at"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_places"), 1);
}

#[test]
fn soft_delete_of_a_missing_row_is_not_found() {
    let (_db, mut conn) = db();
    match places::table.soft_delete(&mut conn, 42) {
        Err(Error::NotFound { table, key, .. }) => {
            assert_eq!((table.as_str(), key.as_str()), ("places", "42"))
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn soft_delete_and_restore_by_filter() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = '2020-01-01' WHERE id = 2",
    );
    let n = places::table
        .soft_delete_where(&mut conn, Box::new(places::name.like("%a%")))
        .unwrap();
    assert_eq!(n, 1, "only the live Park; Beach was deleted already");
    assert_eq!(
        text(
            &mut conn,
            "SELECT deleted_at::date::text FROM places WHERE id = 2"
        )
        .as_deref(),
        Some("2020-01-01")
    );
    let n = places::table
        .restore_where(&mut conn, Box::new(places::id.eq_any([1, 2])))
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_places"), 2);
}

#[test]
fn restore_brings_a_row_back() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    places::table.soft_delete(&mut conn, 1).unwrap();
    let restored = places::table.restore(&mut conn, 1).unwrap();
    assert_eq!(
        restored,
        PlaceRecord {
            id: 1,
            name: "Park".into(),
            deleted_at: None
        }
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_place_activities"),
        3
    );
}

#[test]
fn restoring_a_live_or_missing_row_is_a_typed_error() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    assert!(matches!(
        places::table.restore(&mut conn, 1),
        Err(Error::NotDeleted { ref table, ref key, .. }) if table == "places" && key == "1"
    ));
    assert!(matches!(
        places::table.restore(&mut conn, 9),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn restoring_a_row_whose_key_is_taken_is_a_conflict_that_changes_nothing() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    activities::table.soft_delete(&mut conn, 1).unwrap();
    exec(
        &mut conn,
        "INSERT INTO activities (id, name) VALUES (7, 'Swim')",
    );
    let before = text(
        &mut conn,
        "SELECT string_agg(format('%s %s %s', id, name, deleted_at), '; ' ORDER BY id) FROM activities",
    );

    // Inside the caller's transaction: the failed restore rolls back its savepoint only.
    conn.transaction::<_, Error, _>(|conn| {
        match activities::table.restore(conn, 1) {
            Err(Error::UniqueConflict {
                constraint, detail, ..
            }) => {
                assert_eq!(constraint, "activities_name_live");
                assert_eq!(detail, "Key (name)=(Swim) already exists.");
            }
            other => panic!("expected UniqueConflict, got {other:?}"),
        }
        assert_eq!(
            count(conn, "SELECT count(*) FROM active_activities"),
            2,
            "transaction usable"
        );
        Ok(())
    })
    .unwrap();
    let after = text(
        &mut conn,
        "SELECT string_agg(format('%s %s %s', id, name, deleted_at), '; ' ORDER BY id) FROM activities",
    );
    assert_eq!(before, after);
}

#[test]
fn hard_delete_removes_the_row_and_archives_it() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let gone = places::table.hard_delete(&mut conn, 2).unwrap();
    assert_eq!(gone.name, "Beach");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM places WHERE id = 2"),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.deleted_records WHERE table_name = 'public.places'"
        ),
        1
    );
    assert!(matches!(
        places::table.hard_delete(&mut conn, 2),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn reads_that_include_deleted_rows_and_the_trash() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "INSERT INTO places (id, name, deleted_at) VALUES (3, 'Old', now() - interval '2 days'),
                                                      (4, 'Older', now() - interval '5 days')",
    );
    places::table.soft_delete(&mut conn, 2).unwrap();
    let any = places::table.find_any(&mut conn, 4).unwrap();
    assert_eq!(any.name, "Older");
    assert!(any.deleted_at.is_some());
    let trash = places::table.trash(&mut conn).unwrap();
    assert_eq!(
        trash.iter().map(|t| t.record.id).collect::<Vec<_>>(),
        vec![2, 3, 4],
        "newest first"
    );
    for t in &trash {
        let deleted_at = t.record.deleted_at.unwrap();
        assert_eq!(
            t.purge_at,
            deleted_at + chrono::Duration::days(30),
            "the default grace period"
        );
    }
}

#[test]
fn delete_soft_deletes_where_it_can_and_hard_deletes_elsewhere() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL); INSERT INTO tags VALUES (1, 'x'), (2, 'y')",
    );
    diesel::table! { tags (id) { id -> Int4, label -> Text, } }
    softview::hard_deletable!(tags, key: i32);

    assert_eq!(places::table.delete(&mut conn, 1).unwrap(), 1);
    assert_eq!(
        places::table.delete(&mut conn, 1).unwrap(),
        0,
        "already deleted"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM places"),
        2,
        "soft: the row stays"
    );
    assert_eq!(tags::table.delete(&mut conn, 1).unwrap(), 1);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM tags"),
        1,
        "hard: the row is gone"
    );
}

#[test]
fn insert_or_revive_inserts_revives_or_conflicts() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    // No row holds the name: a plain insert.
    let hike = activities::table
        .insert_or_revive(
            &mut conn,
            NewActivity {
                name: "Hike",
                kind: Some("land"),
            },
        )
        .unwrap();
    assert!(hike.id > 100);

    // A deleted row holds it: that row comes back with the new values.
    activities::table.soft_delete(&mut conn, 2).unwrap();
    let revived = activities::table
        .insert_or_revive(
            &mut conn,
            NewActivity {
                name: "Run",
                kind: Some("land"),
            },
        )
        .unwrap();
    assert_eq!(
        revived,
        ActivityRecord {
            id: 2,
            name: "Run".into(),
            kind: Some("land".into()),
            deleted_at: None
        }
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM activities WHERE name = 'Run'"
        ),
        1
    );

    // A live row holds it: a conflict, and nothing changes.
    match activities::table.insert_or_revive(
        &mut conn,
        NewActivity {
            name: "Swim",
            kind: None,
        },
    ) {
        Err(Error::UniqueConflict { constraint, .. }) => {
            assert_eq!(constraint, "activities_name_live")
        }
        other => panic!("expected UniqueConflict, got {other:?}"),
    }
    assert_eq!(
        text(&mut conn, "SELECT kind FROM activities WHERE id = 1").as_deref(),
        Some("water")
    );
}

#[test]
fn the_row_functions_serve_any_enabled_table_by_text_key() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "SELECT softview.soft_delete_row('places', '{2}')",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.trash('places')"),
        1
    );
    exec(&mut conn, "SELECT softview.restore_row('places', '{2}')");
    let (state, message) =
        crate::common::sql_error(&mut conn, "SELECT softview.restore_row('places', '{2}')");
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("SV004", "row is not deleted: public.places")
    );
    let (state, message) =
        crate::common::sql_error(&mut conn, "SELECT softview.restore_row('places', '{1,2}')");
    assert_eq!(state, "22023");
    assert_eq!(
        message,
        "bad key for public.places: expected 1 value(s) for (id), got 2"
    );
    let (state, _) = crate::common::sql_error(
        &mut conn,
        "SELECT softview.soft_delete_row('places', '{x}')",
    );
    assert_eq!(state, "22P02");
    let (state, message) = crate::common::sql_error(
        &mut conn,
        "SELECT softview.hard_delete_row('places', '{99}')",
    );
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("P0002", "row not found: public.places")
    );
}
