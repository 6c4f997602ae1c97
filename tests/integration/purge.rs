//! Grace periods, the purge, the worker process, and their races.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier};

use crate::common::{count, db, exec, seed};
use diesel::prelude::*;
use softview::lifecycle::purge::{self, PurgeOptions};
use softview::{Error, Lifecycle};
use softview_example::schema::places;

fn never() -> AtomicBool {
    AtomicBool::new(false)
}

/// `n` places deleted `age` ago, ids from `first`.
fn deleted_places(conn: &mut PgConnection, first: i64, n: i64, age: &str) {
    exec(
        conn,
        &format!(
            "INSERT INTO places (id, name, deleted_at)
             SELECT g, 'place ' || g, now() - interval '{age}' FROM generate_series({first}, {}) g",
            first + n - 1
        ),
    );
}

#[test]
fn grace_periods_are_honoured_to_the_second() {
    let (_db, mut conn) = db();
    purge::set_grace_period(&mut conn, "places", Some(chrono::Duration::seconds(10))).unwrap();
    assert_eq!(
        purge::grace_period(&mut conn, "places").unwrap(),
        chrono::Duration::seconds(10)
    );
    deleted_places(&mut conn, 1, 1, "9 seconds");
    deleted_places(&mut conn, 2, 1, "11 seconds");
    let report = purge::purge(&mut conn, &PurgeOptions::default(), &never(), |_| {}).unwrap();
    assert_eq!(report.rows(), 1);
    assert_eq!(
        count(&mut conn, "SELECT id FROM places"),
        1,
        "the row inside its grace period stays"
    );

    // The trash says when: deleted_at plus the grace period.
    let trash = places::table.trash(&mut conn).unwrap();
    assert_eq!(
        trash[0].purge_at,
        trash[0].record.deleted_at.unwrap() + chrono::Duration::seconds(10)
    );

    // Back to the default (30 days), which can change too.
    purge::set_grace_period(&mut conn, "places", None).unwrap();
    assert_eq!(
        purge::grace_period(&mut conn, "places").unwrap(),
        chrono::Duration::days(30)
    );
    purge::set_default_grace_period(&mut conn, chrono::Duration::hours(1)).unwrap();
    assert_eq!(
        purge::grace_period(&mut conn, "reviews").unwrap(),
        chrono::Duration::hours(1)
    );
    assert!(matches!(
        purge::set_grace_period(&mut conn, "places", Some(chrono::Duration::seconds(-1))),
        Err(Error::InvalidArgument(_))
    ));
    let (state, message) = crate::common::sql_error(
        &mut conn,
        "SELECT softview.set_grace_period('places', '-1 day')",
    );
    assert_eq!(
        (state.as_str(), message.as_str()),
        (
            "22023",
            "invalid grace period: it must not be negative, in any part; got -1 days"
        )
    );
}

#[test]
fn purge_takes_children_with_their_parents_and_archives_everything() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = now() - interval '31 days' WHERE id = 1",
    );
    let mut batches = Vec::new();
    let report = purge::purge(&mut conn, &PurgeOptions::default(), &never(), |b| {
        batches.push(b.clone())
    })
    .unwrap();
    assert_eq!(
        report.rows(),
        1,
        "one place; its review and links went by the cascade"
    );
    assert_eq!(batches.len(), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM reviews"), 1);
    let archived: Vec<(String, Option<String>)> =
        softview::lifecycle::archive::list(&mut conn, None, 10)
            .unwrap()
            .into_iter()
            .map(|a| (a.table_name, a.actor))
            .collect();
    assert_eq!(archived.len(), 4);
    assert!(
        archived
            .iter()
            .all(|(_, actor)| actor.as_deref() == Some("softview purge"))
    );
}

#[test]
fn purge_leaves_rows_a_restrict_foreign_key_still_needs() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE bookings (id int PRIMARY KEY, place_id bigint NOT NULL REFERENCES places ON DELETE RESTRICT);
         INSERT INTO places (id, name, deleted_at) VALUES (1, 'held', now() - interval '40 days'),
                                                         (2, 'free', now() - interval '40 days');
         INSERT INTO bookings VALUES (1, 1);",
    );
    let dry = purge::purge(
        &mut conn,
        &PurgeOptions {
            dry_run: true,
            ..Default::default()
        },
        &never(),
        |_| {},
    )
    .unwrap();
    assert_eq!(dry.rows(), 1);
    let report = purge::purge(&mut conn, &PurgeOptions::default(), &never(), |_| {}).unwrap();
    assert_eq!(report.rows(), 1);
    assert_eq!(
        count(&mut conn, "SELECT id FROM places"),
        1,
        "the booked place waits"
    );
}

#[test]
fn a_dry_run_changes_nothing() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    deleted_places(&mut conn, 10, 25, "40 days");
    let before = crate::common::text(
        &mut conn,
        "SELECT string_agg(id::text || deleted_at::text, ',' ORDER BY id) FROM places",
    );
    let report = purge::purge(
        &mut conn,
        &PurgeOptions {
            dry_run: true,
            older_than: Some(chrono::Duration::days(1)),
            ..Default::default()
        },
        &never(),
        |_| panic!("a dry run commits no batch"),
    )
    .unwrap();
    assert_eq!(report.rows(), 25);
    assert_eq!(report.batches, 0);
    let after = crate::common::text(
        &mut conn,
        "SELECT string_agg(id::text || deleted_at::text, ',' ORDER BY id) FROM places",
    );
    assert_eq!(before, after);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        0
    );
}

#[test]
fn batches_are_bounded_and_each_commits_on_its_own() {
    let (_db, mut conn) = db();
    deleted_places(&mut conn, 1, 250, "40 days");
    let mut sizes = Vec::new();
    let report = purge::purge(
        &mut conn,
        &PurgeOptions {
            batch_size: 100,
            ..Default::default()
        },
        &never(),
        |b| sizes.push(b.rows),
    )
    .unwrap();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(report.rows(), 250);
    assert!(matches!(
        purge::purge(
            &mut conn,
            &PurgeOptions {
                batch_size: 0,
                ..Default::default()
            },
            &never(),
            |_| {}
        ),
        Err(Error::InvalidArgument(_))
    ));
}

/// A restore and a purge of the same row, started together, many times: the restore wins
/// (the row is live and not archived) or loses (the row is archived once and gone); never a
/// half state.
#[test]
fn a_restore_racing_a_purge_wins_or_loses_whole() {
    let (database, mut conn) = db();
    const ROUNDS: i64 = 150;
    deleted_places(&mut conn, 1, ROUNDS, "40 days");
    let barrier = Arc::new(Barrier::new(2));
    let url = database.url().to_owned();
    let restorer = {
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            let mut won = 0;
            for id in 1..=ROUNDS {
                barrier.wait();
                match places::table.restore(&mut conn, id) {
                    Ok(_) => won += 1,
                    Err(Error::NotFound { .. }) => {}
                    Err(other) => panic!("restore {id}: {other}"),
                }
            }
            won
        })
    };
    let mut purger = PgConnection::establish(database.url()).unwrap();
    let mut purged = 0;
    for _ in 1..=ROUNDS {
        barrier.wait();
        purged += purge::purge(
            &mut purger,
            &PurgeOptions {
                table: Some("places".into()),
                batch_size: 1,
                ..Default::default()
            },
            &never(),
            |_| {},
        )
        .unwrap()
        .rows();
    }
    let restored = restorer.join().unwrap();
    assert_eq!(restored + purged, ROUNDS, "each row went one way");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM places WHERE deleted_at IS NOT NULL"
        ),
        0,
        "no half state"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM places"), restored);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT primary_key) FROM softview.deleted_records"
        ),
        purged
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        purged
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM places p JOIN softview.deleted_records d ON d.primary_key = jsonb_build_object('id', p.id)"
        ),
        0,
        "no row both live and archived"
    );
}

/// Two purges at once, each refusing to wait for a lock: together they purge every row once.
#[test]
fn two_purges_at_once_never_take_the_same_row_and_never_wait() {
    let (database, mut conn) = db();
    const ROWS: i64 = 3000;
    deleted_places(&mut conn, 1, ROWS, "40 days");
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let url = database.url().to_owned();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                exec(&mut conn, "SET lock_timeout = '50ms'");
                purge::purge(
                    &mut conn,
                    &PurgeOptions {
                        batch_size: 50,
                        ..Default::default()
                    },
                    &never(),
                    |_| {},
                )
                .unwrap()
                .rows()
            })
        })
        .collect();
    let total: i64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, ROWS);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM places"), 0);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT primary_key) FROM softview.deleted_records"
        ),
        ROWS
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        ROWS
    );
}

/// Ages and settings are checked where they are given. Before, a NULL age pruned nothing
/// silently, `require_actor(…, NULL)` failed on a NOT NULL constraint, '300000 years' was
/// accepted and then broke the trash and every purge ("timestamp out of range"), '1 mon -30
/// days' acted as negative on some dates, and restoring a transaction the archive does not hold
/// "restored 0 rows". Each is refused now, naming what was wrong, and nothing changes.
#[test]
fn bad_ages_and_settings_are_refused_where_they_are_given() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let settings = |conn: &mut PgConnection| {
        crate::common::text(
            conn,
            "SELECT format('%s %s', (SELECT default_grace_period FROM softview_internal.settings),
                           (SELECT string_agg(format('%s:%s:%s', relation, grace_period, require_actor), ' '
                                              ORDER BY position) FROM softview_internal.tables))",
        )
    };
    let before = settings(&mut conn);
    let cases = [
        (
            "SELECT softview.set_grace_period('places', '300000 years')",
            "22023",
            "invalid grace period: it must be at most 1000 years, got 300000 years",
        ),
        (
            "SELECT softview.set_grace_period('places', '1 mon -30 days')",
            "22023",
            "invalid grace period: it must not be negative, in any part; got 1 mon -30 days",
        ),
        (
            "SELECT softview.set_default_grace_period(NULL)",
            "22004",
            "invalid default grace period: it must not be NULL",
        ),
        (
            "SELECT softview.set_default_grace_period('-1 second')",
            "22023",
            "invalid default grace period: it must not be negative, in any part; got -00:00:01",
        ),
        (
            "SELECT softview.prune_archive(NULL)",
            "22004",
            "invalid age to prune from: it must not be NULL",
        ),
        (
            "SELECT softview.purge_batch('places', 10, '2 days -49 hours')",
            "22023",
            "invalid age to purge from: it must not be negative, in any part; got 2 days -49:00:00",
        ),
        (
            "SELECT softview.require_actor('places', NULL)",
            "22004",
            "invalid setting: require_actor takes true or false, not NULL",
        ),
        (
            "SELECT softview.restore_transaction(42)",
            "P0002",
            "nothing archived for transaction 42",
        ),
    ];
    for (sql, state, message) in cases {
        assert_eq!(
            crate::common::sql_error(&mut conn, sql),
            (state.to_owned(), message.to_owned()),
            "{sql}"
        );
    }
    assert_eq!(settings(&mut conn), before);
    // A grace period of NULL still means "the default", and a long but finite one is fine.
    exec(
        &mut conn,
        "SELECT softview.set_grace_period('places', '999 years');
         SELECT softview.set_grace_period('places', NULL);",
    );
    assert_eq!(settings(&mut conn), before);
}

/// A deleted list and its deleted items, all due: before, the purge took the items in their
/// own batch and transaction, and restoring the list's transaction brought the list back
/// empty. Rows due with their parent through ON DELETE CASCADE now go in the parent's batch.
#[test]
fn rows_due_with_their_parent_are_purged_and_restored_with_it() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE lists (id int PRIMARY KEY, deleted_at timestamptz);
         CREATE TABLE items (id int PRIMARY KEY, list_id int NOT NULL REFERENCES lists ON DELETE CASCADE,
                             deleted_at timestamptz);
         SELECT softview.enable('lists'), softview.enable('items');
         INSERT INTO lists VALUES (1, now() - interval '40 days'), (2, NULL);
         INSERT INTO items VALUES (1, 1, now() - interval '40 days'), (2, 1, NULL),
                                  (3, 2, now() - interval '40 days');",
    );
    let report = purge::purge(
        &mut conn,
        &PurgeOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    let purged: Vec<_> = report
        .tables
        .iter()
        .filter(|(_, rows)| *rows > 0)
        .cloned()
        .collect();
    assert_eq!(
        purged,
        vec![
            ("public.items".to_owned(), 1),
            ("public.lists".to_owned(), 1)
        ],
        "item 3 on its own (its list is live), list 1 with items 1 and 2"
    );
    assert_eq!(report.cascaded, vec![("public.items".to_owned(), 2)]);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT transaction_id) FROM softview.deleted_records
             WHERE row_data->>'list_id' = '1' OR (table_name = 'public.lists' AND primary_key->>'id' = '1')"
        ),
        1,
        "the list and both its items in one transaction"
    );
    let transaction = count(
        &mut conn,
        "SELECT transaction_id FROM softview.deleted_records WHERE table_name = 'public.lists'",
    );
    exec(
        &mut conn,
        &format!("SELECT softview.restore_transaction({transaction})"),
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM items WHERE list_id = 1"),
        2
    );
}

/// A caller may run the purge inside a transaction of its own: each batch still reports only
/// the cascades it took, not those of the batches before it in that transaction.
#[test]
fn each_batch_reports_its_own_cascades_inside_a_callers_transaction() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE lists (id int PRIMARY KEY, deleted_at timestamptz);
         CREATE TABLE items (id int PRIMARY KEY, list_id int NOT NULL REFERENCES lists ON DELETE CASCADE,
                             deleted_at timestamptz);
         SELECT softview.enable('lists'), softview.enable('items');
         INSERT INTO lists VALUES (1, now() - interval '40 days'), (2, now() - interval '40 days');
         INSERT INTO items VALUES (1, 1, NULL), (2, 1, NULL), (3, 2, NULL), (4, 2, NULL);",
    );
    let mut batches = Vec::new();
    conn.transaction(|conn| {
        purge::purge(
            conn,
            &PurgeOptions {
                table: Some("lists".into()),
                batch_size: 1,
                ..Default::default()
            },
            &AtomicBool::new(false),
            |batch| batches.push((batch.rows, batch.cascaded.clone())),
        )
    })
    .unwrap();
    assert_eq!(batches, vec![(1, vec![("public.items".to_owned(), 2)]); 2]);
}
