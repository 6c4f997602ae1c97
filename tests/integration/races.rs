//! Lifecycle calls racing another transaction, made deterministic: a statement trigger parks
//! the call between two of its statements (or the call waits for a row the other transaction
//! holds), the other transaction commits, and the call goes on. Each test failed on the code
//! before its fix (see the commit that added it).

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use softview::{Error, Lifecycle, as_actor};
use softview_devdb::TestDatabase;
use softview_example::schema::{activities, places};
use softview_example::views::active_place_activities as links;
use softview_example::{NewActivity, NewPlaceActivity, PlaceActivity};

use crate::common::{count, db, exec, seed, sql_outcome, text, truth};

/// The advisory lock the gate holds; a parked call waits for it in a statement trigger.
const GATE_LOCK: i64 = 4242;

/// Parks calls made through [`Gate::park`] after each `event` statement on `table`, until
/// [`Gate::open`]. Other connections pass freely.
struct Gate {
    holder: PgConnection,
    watcher: PgConnection,
}

impl Gate {
    fn after(database: &TestDatabase, event: &str, table: &str) -> Self {
        let mut holder = database.connect().unwrap();
        exec(
            &mut holder,
            &format!(
                "CREATE OR REPLACE FUNCTION public.test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     IF current_setting('test.parked', true) = 'on' THEN
                         PERFORM pg_advisory_xact_lock_shared({GATE_LOCK});
                     END IF;
                     RETURN NULL;
                 END $$;
                 CREATE TRIGGER test_gate AFTER {event} ON {table}
                     FOR EACH STATEMENT EXECUTE FUNCTION public.test_gate();
                 SELECT pg_advisory_lock({GATE_LOCK});"
            ),
        );
        let watcher = database.connect().unwrap();
        Self { holder, watcher }
    }

    /// Runs `call` on a connection of its own and returns once it waits at the gate.
    fn park<T: Send + 'static>(
        &mut self,
        database: &TestDatabase,
        call: impl FnOnce(&mut PgConnection) -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let mut conn = database.connect().unwrap();
        exec(&mut conn, "SET test.parked = 'on'");
        let call = thread::spawn(move || call(&mut conn));
        wait_until_waiting(
            &mut self.watcher,
            &format!("locktype = 'advisory' AND objid = {GATE_LOCK}"),
            &call,
        );
        call
    }

    fn open(mut self) {
        exec(
            &mut self.holder,
            &format!("SELECT pg_advisory_unlock({GATE_LOCK})"),
        );
    }
}

/// Returns once a session of this database waits for a lock matching `lock` (a condition on
/// `pg_locks`), failing if `call` ends first or nothing waits within a minute.
fn wait_until_waiting<T>(watcher: &mut PgConnection, lock: &str, call: &JoinHandle<T>) {
    let start = Instant::now();
    while !truth(
        watcher,
        &format!(
            "EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND {lock}
                     AND (database IS NULL OR database = (SELECT oid FROM pg_database
                                                          WHERE datname = current_database())))"
        ),
    ) {
        assert!(!call.is_finished(), "the call finished without waiting");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the call did not wait"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// A soft delete finds the row already deleted; before it reads the row back, a restore
/// commits. Before the fix it returned the restored, live row as if it had deleted it.
#[test]
fn a_soft_delete_racing_a_restore_deletes_the_row_it_returns() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = now() - interval '1 hour' WHERE id = 1",
    );
    let mut gate = Gate::after(&database, "UPDATE", "places");
    let parked = gate.park(&database, |conn| places::table.soft_delete(conn, 1));
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = NULL WHERE id = 1",
    );
    gate.open();
    let returned = parked.join().unwrap().unwrap();
    assert!(returned.deleted_at.is_some(), "returned a live row");
    assert!(truth(
        &mut conn,
        "SELECT deleted_at IS NOT NULL FROM places WHERE id = 1"
    ));
}

/// The same race through `softview.soft_delete_row`, the command line's path.
#[test]
fn soft_delete_row_racing_a_restore_deletes_the_row_it_returns() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = now() - interval '1 hour' WHERE id = 1",
    );
    let mut gate = Gate::after(&database, "UPDATE", "places");
    let parked = gate.park(&database, |conn| {
        text(
            conn,
            "SELECT softview.soft_delete_row('places', '{1}')->>'deleted_at'",
        )
    });
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = NULL WHERE id = 1",
    );
    gate.open();
    assert!(parked.join().unwrap().is_some(), "returned a live row");
    assert!(truth(
        &mut conn,
        "SELECT deleted_at IS NOT NULL FROM places WHERE id = 1"
    ));
}

/// A link insert finds the link live (its INSERT … ON CONFLICT DO NOTHING inserts nothing);
/// before it reads the link back, another transaction soft-deletes it. Before the fix the
/// insert failed with a unique conflict naming no constraint, and no live link was left.
#[test]
fn a_link_insert_racing_a_soft_delete_of_the_link_revives_it() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let mut gate = Gate::after(&database, "INSERT", "place_activities");
    let parked = gate.park(&database, |conn| {
        diesel::insert_into(links::table)
            .values(NewPlaceActivity {
                place_id: 1,
                activity_id: 1,
            })
            .returning(PlaceActivity::as_returning())
            .get_result(conn)
            .map_err(Error::from)
    });
    exec(
        &mut conn,
        "UPDATE place_activities SET deleted_at = now() WHERE id = 1",
    );
    gate.open();
    let link = parked.join().unwrap().unwrap();
    assert_eq!(link.id, 1, "the soft-deleted link is revived");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_place_activities WHERE place_id = 1 AND activity_id = 1"
        ),
        1
    );
}

/// When no attempt settles a link insert, PostgreSQL's own unique violation comes out, naming
/// the constraint: here a link id taken by another pair.
#[test]
fn a_link_insert_that_cannot_settle_names_the_real_constraint() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let result = diesel::insert_into(links::table)
        .values((
            links::id.eq(1),
            links::place_id.eq(2),
            links::activity_id.eq(2),
        ))
        .execute(&mut conn);
    match result.map_err(Error::from) {
        Err(Error::UniqueConflict {
            constraint, detail, ..
        }) => {
            assert_eq!(constraint, "place_activities_pkey");
            assert_eq!(detail, "Key (id)=(1) already exists.");
        }
        other => panic!("expected UniqueConflict, got {other:?}"),
    }
}

/// Before the fix `as_actor` set its actor for the rest of the outermost transaction: deletes
/// after it, and after a nested call, were archived under the inner actor.
#[test]
fn as_actor_labels_only_the_work_of_its_closure() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    conn.transaction(|conn| {
        as_actor(conn, "outer", Some("cleanup"), |conn| {
            as_actor(conn, "inner", None, |conn| {
                exec(conn, "DELETE FROM reviews WHERE id = 1");
                Ok(())
            })?;
            exec(conn, "DELETE FROM reviews WHERE id = 2");
            Ok(())
        })?;
        exec(conn, "DELETE FROM place_activities WHERE id = 3");
        // A failed closure leaves the settings as they were too.
        let failed: Result<(), Error> = as_actor(conn, "failing", None, |conn| {
            places::table.hard_delete(conn, 99).map(drop)
        });
        assert!(matches!(failed, Err(Error::NotFound { .. })));
        exec(conn, "DELETE FROM place_activities WHERE id = 2");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s %s %s', table_name, coalesce(actor, '-'), coalesce(reason, '-')),
                               '; ' ORDER BY id)
             FROM softview.deleted_records"
        )
        .as_deref(),
        Some(
            "public.reviews inner -; public.reviews outer cleanup; \
             public.place_activities - -; public.place_activities - -"
        )
    );
}

/// Before the fix a purge batch run inside the caller's transaction labelled the caller's
/// later deletes "softview purge"; a caller's own actor labels both.
#[test]
fn a_purge_batch_labels_only_its_own_deletes() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE reviews SET deleted_at = now() - interval '1 day' WHERE id = 1;
         BEGIN;
         SELECT softview.purge_batch('reviews', 10, interval '0');
         DELETE FROM reviews WHERE id = 2;
         COMMIT;
         UPDATE place_activities SET deleted_at = now() - interval '1 day' WHERE id = 3;
         BEGIN;
         SELECT set_config('softview.actor', 'ann', true);
         SELECT softview.purge_batch('place_activities', 10, interval '0');
         DELETE FROM place_activities WHERE id = 2;
         COMMIT;",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s %s %s %s', table_name, primary_key->>'id', coalesce(actor, '-'),
                                      coalesce(reason, '-')), '; ' ORDER BY id)
             FROM softview.deleted_records"
        )
        .as_deref(),
        Some(
            "public.reviews 1 softview purge deleted more than 00:00:00 ago; public.reviews 2 - -; \
             public.place_activities 3 ann deleted more than 00:00:00 ago; public.place_activities 2 ann -"
        )
    );
}

/// insert_or_revive looks for a deleted row holding the key while another transaction is
/// soft-deleting the live one. Before the fix it found no deleted row, then (in a new snapshot)
/// no live one once that delete committed, and inserted a second row beside the one just
/// deleted: an outcome of neither order. Now it waits for the row and revives it.
#[test]
fn insert_or_revive_racing_a_soft_delete_of_the_holder_revives_it() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "BEGIN; UPDATE activities SET deleted_at = now() WHERE id = 1",
    );
    let mut watcher = database.connect().unwrap();
    let mut caller = database.connect().unwrap();
    let call = thread::spawn(move || {
        activities::table.insert_or_revive(
            &mut caller,
            NewActivity {
                name: "Swim",
                kind: Some("pool"),
            },
        )
    });
    wait_until_waiting(&mut watcher, "locktype = 'transactionid'", &call);
    exec(&mut conn, "COMMIT");
    let revived = call.join().unwrap().unwrap();
    assert_eq!((revived.id, revived.deleted_at), (1, None));
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s %s %s', id, kind, deleted_at IS NULL), '; ' ORDER BY id)
             FROM activities WHERE name = 'Swim'"
        )
        .as_deref(),
        Some("1 pool t")
    );
}

/// A link insert finds only a deleted link and revives it while another transaction inserts
/// the same link live into the table and commits. Before the fix the revive ran into the new
/// link's key and the insert failed with a unique conflict (the load run met it once in
/// 177,634 link inserts); now it returns the link the other transaction made.
#[test]
fn a_link_insert_reviving_while_the_link_is_inserted_returns_the_new_link() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE place_activities SET deleted_at = now() WHERE id = 1",
    );
    exec(
        &mut conn,
        "BEGIN; INSERT INTO place_activities (id, place_id, activity_id) VALUES (50, 1, 1)",
    );
    let mut watcher = database.connect().unwrap();
    let mut caller = database.connect().unwrap();
    let call = thread::spawn(move || {
        diesel::insert_into(links::table)
            .values(NewPlaceActivity {
                place_id: 1,
                activity_id: 1,
            })
            .returning(PlaceActivity::as_returning())
            .get_result(&mut caller)
            .map_err(Error::from)
    });
    wait_until_waiting(&mut watcher, "locktype = 'transactionid'", &call);
    exec(&mut conn, "COMMIT");
    let link = call.join().unwrap().unwrap();
    assert_eq!(link.id, 50, "the link the other transaction inserted");
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s %s', id, deleted_at IS NULL), '; ' ORDER BY id)
             FROM place_activities WHERE place_id = 1 AND activity_id = 1"
        )
        .as_deref(),
        Some("1 f; 50 t")
    );
}

/// Three transactions: one has locked a place it is about to delete; an application's insert
/// of a link of that place waits for it; an insert of the same link through the view finds
/// only a deleted link and revives it, so it waits for the application's insert; the delete's
/// cascade then needs the revived link. Before the fix that was a deadlock (the load run met
/// it once in 184,216 link inserts). Now the insert through the view takes its parents' key
/// locks before any link's, as a cascade does, and waits its turn.
#[test]
fn a_link_revive_waits_for_a_delete_of_its_parent_instead_of_deadlocking() {
    let (database, mut deleter) = db();
    seed(&mut deleter);
    exec(
        &mut deleter,
        "UPDATE place_activities SET deleted_at = now() WHERE id = 1",
    );
    exec(
        &mut deleter,
        "BEGIN; SELECT 1 FROM places WHERE id = 1 FOR UPDATE",
    );
    let mut watcher = database.connect().unwrap();
    let mut application = database.connect().unwrap();
    let application_pid = count(&mut application, "SELECT pg_backend_pid()::bigint");
    let application_insert = thread::spawn(move || {
        diesel::sql_query(
            "INSERT INTO place_activities (id, place_id, activity_id) VALUES (50, 1, 1)",
        )
        .execute(&mut application)
        .map_err(Error::from)
    });
    wait_until_waiting(
        &mut watcher,
        &format!("pid = {application_pid}"),
        &application_insert,
    );
    let mut caller = database.connect().unwrap();
    let caller_pid = count(&mut caller, "SELECT pg_backend_pid()::bigint");
    let view_insert = thread::spawn(move || {
        diesel::insert_into(links::table)
            .values(NewPlaceActivity {
                place_id: 1,
                activity_id: 1,
            })
            .returning(PlaceActivity::as_returning())
            .get_result(&mut caller)
            .map_err(Error::from)
    });
    wait_until_waiting(&mut watcher, &format!("pid = {caller_pid}"), &view_insert);
    exec(&mut deleter, "DELETE FROM places WHERE id = 1; COMMIT");
    let application_result = application_insert.join().unwrap();
    assert!(
        matches!(application_result, Err(Error::ParentMissing { .. })),
        "the application's insert refers to a deleted place: {application_result:?}"
    );
    match view_insert.join().unwrap() {
        Err(Error::ParentMissing { constraint, .. }) => {
            assert_eq!(
                constraint.as_deref(),
                Some("place_activities_place_id_fkey")
            )
        }
        other => panic!("expected ParentMissing, got {other:?}"),
    }
    assert_eq!(
        count(
            &mut watcher,
            "SELECT count(*) FROM place_activities WHERE place_id = 1"
        ),
        0
    );
}

/// A revive, a restore and a soft delete lock their rows `FOR NO KEY UPDATE`, the lock their
/// own UPDATE takes, so a child's foreign key check (`FOR KEY SHARE`) never waits for them.
/// They used `FOR UPDATE`, which a key-share lock conflicts with: an insert of a link through
/// the view waited for a revive that waited for the link insert's lock on an older version of
/// the same row, and PostgreSQL ended one of them with a deadlock (40P01; the load run met it
/// in two runs out of three). Here the holding call stays open while another transaction
/// inserts a child of its row with a lock timeout: the old lock made that insert time out.
#[test]
fn lifecycle_locks_never_hold_up_a_childs_foreign_key_check() {
    type HoldingCall = fn(&mut PgConnection);
    let holding_calls: [(&str, HoldingCall); 5] = [
        ("insert_or_revive", |conn| {
            let revived = activities::table
                .insert_or_revive(
                    conn,
                    NewActivity {
                        name: "Run",
                        kind: Some("track"),
                    },
                )
                .unwrap();
            assert_eq!((revived.id, revived.deleted_at), (2, None));
        }),
        ("restore", |conn| {
            activities::table.restore(conn, 2).unwrap();
        }),
        ("soft_delete of a deleted row", |conn| {
            activities::table.soft_delete(conn, 2).unwrap();
        }),
        ("softview.restore_row", |conn| {
            exec(conn, "SELECT softview.restore_row('activities', '{2}')");
        }),
        ("softview.soft_delete_row of a deleted row", |conn| {
            exec(conn, "SELECT softview.soft_delete_row('activities', '{2}')");
        }),
    ];
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE activities SET deleted_at = now() WHERE id = 2",
    );
    let mut held_up = Vec::new();
    for (call, hold) in holding_calls {
        let mut holder = database.connect().unwrap();
        holder.begin_test_transaction().unwrap();
        hold(&mut holder);
        exec(&mut conn, "BEGIN; SET LOCAL lock_timeout = '1s'");
        let child_insert = sql_outcome(
            &mut conn,
            "INSERT INTO place_activities (place_id, activity_id) VALUES (2, 2)",
        );
        exec(&mut conn, "ROLLBACK");
        if let Some((sqlstate, message)) = child_insert {
            held_up.push(format!("{call}: {sqlstate} {message}"));
        }
    }
    assert_eq!(held_up, Vec::<String>::new());
}
