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
