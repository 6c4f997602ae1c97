//! Events on channel `softview`: one per soft delete, restore, hard delete and purge, in order.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::common::{count, db, exec, seed};
use serde_json::json;
use softview::Lifecycle;
use softview::lifecycle::events::{Listener, Operation};
use softview::lifecycle::purge::{self, PurgeOptions};
use softview_example::schema::{activities, places};

#[test]
fn each_operation_sends_one_event_in_order_with_its_payload() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let mut listener = Listener::connect(database.url()).unwrap();
    assert_eq!(
        listener.next(Duration::from_millis(100)).unwrap(),
        None,
        "nothing yet"
    );

    places::table.soft_delete(&mut conn, 2).unwrap();
    places::table.soft_delete(&mut conn, 2).unwrap(); // already deleted: no event
    places::table.restore(&mut conn, 2).unwrap();
    activities::table.hard_delete(&mut conn, 2).unwrap(); // cascades to link 3
    exec(
        &mut conn,
        "UPDATE activities SET deleted_at = now() - interval '40 days' WHERE id = 1",
    );
    purge::purge(
        &mut conn,
        &PurgeOptions {
            table: Some("activities".into()),
            ..Default::default()
        },
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();

    let mut seen = Vec::new();
    while let Some(event) = listener.next(Duration::from_millis(500)).unwrap() {
        seen.push(event);
    }
    let summary: Vec<(Operation, &str, serde_json::Value)> = seen
        .iter()
        .map(|e| (e.operation, e.table.as_str(), e.key.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Operation::SoftDelete, "public.places", json!({"id": 2})),
            (Operation::Restore, "public.places", json!({"id": 2})),
            (Operation::HardDelete, "public.activities", json!({"id": 2})),
            (
                Operation::HardDelete,
                "public.place_activities",
                json!({"id": 3})
            ),
            (Operation::SoftDelete, "public.activities", json!({"id": 1})),
            (Operation::Purge, "public.activities", json!({"id": 1})),
            // Its links were live: their cascade is a hard delete of the purge's transaction.
            (
                Operation::HardDelete,
                "public.place_activities",
                json!({"id": 1})
            ),
            (
                Operation::HardDelete,
                "public.place_activities",
                json!({"id": 2})
            ),
        ]
    );
    assert!(
        seen.windows(2).all(|w| w[0].at <= w[1].at),
        "times in order"
    );
}

/// The triggers build a one-column key and a composite one each their own way (the archive
/// trigger removes the other columns from the row): both carry every key column, soft delete and
/// hard delete alike.
#[test]
fn the_events_of_a_composite_key_carry_every_key_column() {
    let (database, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE seats (hall int, seat text, deleted_at timestamptz, PRIMARY KEY (hall, seat));
         SELECT softview.enable('seats');
         INSERT INTO seats VALUES (1, 'a1', NULL), (2, 'b2', NULL);",
    );
    let mut listener = Listener::connect(database.url()).unwrap();
    exec(
        &mut conn,
        "UPDATE seats SET deleted_at = now() WHERE hall = 1; DELETE FROM seats WHERE hall = 2",
    );
    let mut seen = Vec::new();
    while let Some(event) = listener.next(Duration::from_millis(500)).unwrap() {
        seen.push((event.operation, event.key));
    }
    assert_eq!(
        seen,
        vec![
            (Operation::SoftDelete, json!({"hall": 1, "seat": "a1"})),
            (Operation::HardDelete, json!({"hall": 2, "seat": "b2"})),
        ]
    );
}

/// A statement that soft-deletes or restores more rows than `softview.max_row_events` announces
/// that many of each kind one by one and the rest in one summary event per kind when it ends,
/// with their count; the next statement counts from zero.
#[test]
fn a_bulk_soft_delete_announces_its_first_rows_and_sums_up_the_rest() {
    let (database, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE marks (id int PRIMARY KEY, deleted_at timestamptz);
         SELECT softview.enable('marks');
         INSERT INTO marks SELECT g, CASE WHEN g > 5 THEN now() END FROM generate_series(1, 8) g;",
    );
    let mut listener = Listener::connect(database.url()).unwrap();
    exec(
        &mut conn,
        "BEGIN;
         SET LOCAL softview.max_row_events = 2;
         UPDATE marks SET deleted_at = CASE WHEN deleted_at IS NULL THEN now() END;
         UPDATE marks SET deleted_at = NULL WHERE id = 1;
         COMMIT;",
    );
    let mut seen = Vec::new();
    while let Some(event) = listener.next(Duration::from_millis(500)).unwrap() {
        seen.push((event.operation, event.key, event.rows));
    }
    assert_eq!(
        seen,
        vec![
            (Operation::SoftDelete, json!({"id": 1}), 1),
            (Operation::SoftDelete, json!({"id": 2}), 1),
            (Operation::Restore, json!({"id": 6}), 1),
            (Operation::Restore, json!({"id": 7}), 1),
            (Operation::SoftDelete, json!(null), 3),
            (Operation::Restore, json!(null), 1),
            (Operation::Restore, json!({"id": 1}), 1),
        ]
    );
}

/// An UPDATE naming a partition fires that partition's statement triggers, not its table's:
/// the summary comes either way.
#[test]
fn a_bulk_soft_delete_naming_a_partition_is_summed_up_too() {
    let (database, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE tickets (id int, zone text, deleted_at timestamptz, PRIMARY KEY (id, zone))
             PARTITION BY LIST (zone);
         CREATE TABLE tickets_east PARTITION OF tickets FOR VALUES IN ('east');
         SELECT softview.enable('tickets');
         INSERT INTO tickets SELECT g, 'east' FROM generate_series(1, 4) g;",
    );
    let mut listener = Listener::connect(database.url()).unwrap();
    exec(
        &mut conn,
        "BEGIN;
         SET LOCAL softview.max_row_events = 1;
         UPDATE tickets_east SET deleted_at = now() WHERE id <= 2;
         UPDATE tickets SET deleted_at = now() WHERE id > 2;
         COMMIT;",
    );
    let mut seen = Vec::new();
    while let Some(event) = listener.next(Duration::from_millis(500)).unwrap() {
        seen.push((event.table, event.key, event.rows));
    }
    let table = || "public.tickets".to_owned();
    assert_eq!(
        seen,
        vec![
            (table(), json!({"id": 1, "zone": "east"}), 1),
            (table(), json!(null), 1),
            (table(), json!({"id": 3, "zone": "east"}), 1),
            (table(), json!(null), 1),
        ]
    );
}

#[test]
fn a_rolled_back_change_sends_nothing() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let mut listener = Listener::connect(database.url()).unwrap();
    exec(
        &mut conn,
        "BEGIN; DELETE FROM active_places WHERE id = 1; ROLLBACK;",
    );
    assert_eq!(listener.next(Duration::from_millis(300)).unwrap(), None);
}

/// Any role may NOTIFY on the channel: a payload that is not an event is skipped and reported
/// with the backend that sent it, and the listener goes on; each event names its sender too.
/// Before, one bad payload made `next` fail, and `softview watch` exit.
#[test]
fn a_payload_that_is_not_an_event_is_skipped_and_reported_with_its_sender() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let pid = count(&mut conn, "SELECT pg_backend_pid()::bigint") as i32;
    let mut listener = Listener::connect(database.url()).unwrap();
    exec(&mut conn, "NOTIFY softview, 'not an event'");
    places::table.soft_delete(&mut conn, 1).unwrap();
    let event = listener.next(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(
        (event.operation, event.key, event.sender_pid),
        (Operation::SoftDelete, json!({"id": 1}), pid)
    );
    let skipped = listener.take_unreadable();
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].payload.as_str(), skipped[0].sender_pid),
        ("not an event", pid)
    );
    assert!(listener.take_unreadable().is_empty(), "taken once");
}

#[test]
fn events_of_a_table_without_keys_are_resolved_with_the_listeners_rights() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(&mut conn, "SELECT softview.set_event_keys('places', false)");
    let mut listener = Listener::connect(database.url()).unwrap();
    places::table.soft_delete(&mut conn, 1).unwrap();
    activities::table.hard_delete(&mut conn, 2).unwrap(); // still with keys
    exec(
        &mut conn,
        "DELETE FROM reviews; DELETE FROM places WHERE id = 2",
    );
    let mut seen = Vec::new();
    while let Some(event) = listener.next(Duration::from_millis(500)).unwrap() {
        seen.push(event);
    }
    let of_places: Vec<_> = seen.iter().filter(|e| e.table == "public.places").collect();
    assert_eq!(of_places.len(), 2);
    assert!(of_places.iter().all(|e| e.key.is_null()), "{of_places:?}");
    assert!(
        seen.iter()
            .any(|e| e.table == "public.activities" && e.key == json!({"id": 2}))
    );
    let rows = |conn: &mut diesel::PgConnection, event: &softview::lifecycle::events::Event| {
        softview::lifecycle::events::event_rows(conn, &event.table, event.transaction.unwrap())
            .unwrap()
            .into_iter()
            .map(|r| (r.primary_key, r.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(&mut conn, of_places[0]),
        vec![(json!({"id": 1}), "deleted".to_owned())]
    );
    assert_eq!(
        rows(&mut conn, of_places[1]),
        vec![(json!({"id": 2}), "hard_delete".to_owned())]
    );
    // A role that may not read places learns nothing more from the event than the table.
    exec(
        &mut conn,
        &format!(
            "CREATE ROLE {0}_outsider; GRANT USAGE ON SCHEMA softview TO {0}_outsider; SET ROLE {0}_outsider",
            database.name()
        ),
    );
    assert_eq!(
        crate::common::sql_error(
            &mut conn,
            &format!(
                "SELECT * FROM softview.event_rows('places', {})",
                of_places[0].transaction.unwrap()
            )
        ),
        (
            "42501".to_owned(),
            "permission denied for table places".to_owned()
        )
    );
    exec(
        &mut conn,
        &format!(
            "RESET ROLE; DROP OWNED BY {0}_outsider; DROP ROLE {0}_outsider",
            database.name()
        ),
    );
}

/// A statement that deletes more rows than `softview.max_row_events` sends one summary event
/// per operation and table, with the count; the rows are read back by its transaction. Up to
/// the limit, each row has its event.
#[test]
fn a_bulk_delete_sends_one_summary_event_and_its_rows_are_read_by_transaction() {
    let (database, mut conn) = db();
    exec(
        &mut conn,
        "INSERT INTO places (id, name) SELECT g, 'place ' || g FROM generate_series(1, 250) g;
         INSERT INTO reviews (place_id, rating, body) SELECT g, 5, 'fine' FROM generate_series(1, 3) g;
         UPDATE places SET deleted_at = now() - interval '40 days' WHERE id BETWEEN 201 AND 250;",
    );
    let mut listener = Listener::connect(database.url()).unwrap();
    let drain = |listener: &mut Listener| {
        let mut seen = Vec::new();
        while let Some(event) = listener.next(Duration::from_millis(300)).unwrap() {
            seen.push((
                event.operation,
                event.table,
                event.key,
                event.rows,
                event.transaction,
            ));
        }
        seen
    };

    // 101 places and, by cascade, 3 reviews: the places are summed up, the reviews are not.
    exec(&mut conn, "DELETE FROM places WHERE id <= 101");
    let seen = drain(&mut listener);
    let transaction = seen[0]
        .4
        .expect("revision 4 events carry their transaction");
    let shape: Vec<(Operation, &str, &serde_json::Value, i64)> = seen
        .iter()
        .map(|(operation, table, key, rows, _)| (*operation, table.as_str(), key, *rows))
        .collect();
    assert_eq!(
        shape,
        [
            (
                Operation::HardDelete,
                "public.places",
                &serde_json::Value::Null,
                101
            ),
            (
                Operation::HardDelete,
                "public.reviews",
                &json!({"id": 1}),
                1
            ),
            (
                Operation::HardDelete,
                "public.reviews",
                &json!({"id": 2}),
                1
            ),
            (
                Operation::HardDelete,
                "public.reviews",
                &json!({"id": 3}),
                1
            ),
        ]
    );
    let rows = softview::lifecycle::events::event_rows(&mut conn, "places", transaction).unwrap();
    assert_eq!(rows.len(), 101);
    assert!(rows.iter().all(|r| r.state == "hard_delete"));

    // At the limit, one event per row; a purge mixed with live deletes is summed per operation.
    exec(&mut conn, "SET softview.max_row_events = 99");
    exec(&mut conn, "DELETE FROM places WHERE id BETWEEN 102 AND 200");
    assert_eq!(drain(&mut listener).len(), 99);
    exec(
        &mut conn,
        "SET softview.max_row_events = 10;
         INSERT INTO places (id, name) SELECT g, 'place ' || g FROM generate_series(301, 321) g;
         BEGIN; SET LOCAL softview.purge_age = '30 days'; DELETE FROM places; COMMIT;",
    );
    let mut summed: Vec<(Operation, i64)> = drain(&mut listener)
        .into_iter()
        .map(|(operation, _, _, rows, _)| (operation, rows))
        .collect();
    summed.sort_by_key(|(_, rows)| *rows);
    assert_eq!(
        summed,
        [(Operation::HardDelete, 21), (Operation::Purge, 50)]
    );
}
