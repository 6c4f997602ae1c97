//! The operations of a load run and the threads that make them: workers hammering a few keys
//! through the lifecycle and the views, purges racing them, a listener counting events.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use softview::lifecycle::events::{Listener, Operation};
use softview::lifecycle::purge::{self, PurgeOptions};
use softview::{Error, Lifecycle, as_actor};
use softview_example::schema::{activities, places, reviews};
use softview_example::views::{active_place_activities, active_reviews};
use softview_example::{NewActivity, NewPlace, NewPlaceActivity, PgPool, PlaceActivity};

use crate::report::Stats;
use crate::rng::Rng;

/// Activity names the workers share: few, so that calls on one key meet.
pub const ACTIVITY_NAMES: &[&str] = &["swim", "run", "climb", "row", "ride", "hike"];
/// Places made before the run starts.
pub const INITIAL_PLACES: i64 = 24;
/// How long a deleted row stays before the purges may take it: long enough for restores to
/// find most deleted rows, short enough that purges meet them.
pub const PURGE_AFTER: Duration = Duration::from_secs(1);
/// Workers pick keys among the rows a table's calls created most recently, so that most calls
/// meet rows that still exist.
const RECENT: usize = 12;

/// One kind of call a worker makes.
#[derive(Debug, Clone, Copy)]
enum Op {
    ReviveActivity,
    SoftDeleteActivity,
    RestoreActivity,
    HardDeleteActivity,
    InsertPlace,
    SoftDeletePlace,
    RestorePlace,
    HardDeletePlace,
    InsertReviewThroughView,
    SoftDeleteReview,
    RestoreReview,
    InsertLinkThroughView,
    DeleteLinkThroughView,
}

/// How often each call is made, relative to the others.
const MIX: &[(Op, u32)] = &[
    (Op::ReviveActivity, 14),
    (Op::SoftDeleteActivity, 5),
    (Op::RestoreActivity, 8),
    (Op::HardDeleteActivity, 1),
    (Op::InsertPlace, 3),
    (Op::SoftDeletePlace, 7),
    (Op::RestorePlace, 7),
    (Op::HardDeletePlace, 1),
    (Op::InsertReviewThroughView, 12),
    (Op::SoftDeleteReview, 5),
    (Op::RestoreReview, 4),
    (Op::InsertLinkThroughView, 16),
    (Op::DeleteLinkThroughView, 9),
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::ReviveActivity => "insert_or_revive",
            Op::SoftDeleteActivity => "soft_delete activity",
            Op::RestoreActivity => "restore activity",
            Op::HardDeleteActivity => "hard_delete activity",
            Op::InsertPlace => "insert place",
            Op::SoftDeletePlace => "soft_delete place",
            Op::RestorePlace => "restore place",
            Op::HardDeletePlace => "hard_delete place",
            Op::InsertReviewThroughView => "insert review (view)",
            Op::SoftDeleteReview => "soft_delete review",
            Op::RestoreReview => "restore review",
            Op::InsertLinkThroughView => "insert link (view)",
            Op::DeleteLinkThroughView => "delete link (view)",
        }
    }

    /// The errors this call may truthfully end in under this workload; anything else breaks
    /// the run. A link insert is idempotent, so no unique conflict is expected of it.
    fn expected(self, kind: &str) -> bool {
        let expected: &[&str] = match self {
            Op::ReviveActivity => &["UniqueConflict"],
            Op::SoftDeleteActivity | Op::SoftDeletePlace | Op::SoftDeleteReview => &["NotFound"],
            Op::HardDeleteActivity | Op::HardDeletePlace => &["NotFound"],
            Op::RestoreActivity => &["NotFound", "NotDeleted", "UniqueConflict"],
            Op::RestorePlace | Op::RestoreReview => &["NotFound", "NotDeleted"],
            Op::InsertReviewThroughView | Op::InsertLinkThroughView => {
                &["ParentDeleted", "ParentMissing"]
            }
            Op::InsertPlace | Op::DeleteLinkThroughView => &[],
        };
        expected.contains(&kind)
    }

    fn choose(rng: &mut Rng) -> Op {
        let total: u32 = MIX.iter().map(|(_, weight)| weight).sum();
        let mut ticket = rng.below(total as usize) as u32;
        for &(op, weight) in MIX {
            if ticket < weight {
                return op;
            }
            ticket -= weight;
        }
        unreachable!("the ticket is below the total weight")
    }
}

/// A hard delete a worker reported, with the actor it ran under.
#[derive(Debug, Clone)]
pub struct HardDelete {
    pub table: &'static str,
    pub id: i64,
    pub actor: Option<String>,
}

/// What the threads share: every id a call reported creating (the keys workers pick from),
/// the hard deletes they reported, and anything that broke an invariant on the spot.
#[derive(Default)]
pub struct Shared {
    pub created: Mutex<HashMap<&'static str, Vec<i64>>>,
    pub hard_deletes: Mutex<Vec<HardDelete>>,
    pub violations: Mutex<Vec<String>>,
}

impl Shared {
    pub fn add(&self, table: &'static str, id: i64) {
        lock(&self.created).entry(table).or_default().push(id);
    }

    fn pick(&self, table: &'static str, rng: &mut Rng) -> Option<i64> {
        let created = lock(&self.created);
        let ids = created.get(table).filter(|ids| !ids.is_empty())?;
        Some(rng.pick(&ids[ids.len().saturating_sub(RECENT)..]))
    }

    pub fn violation(&self, what: String) {
        lock(&self.violations).push(what);
    }
}

pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The error's variant, as the report counts it.
fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::NotFound { .. } => "NotFound",
        Error::NotDeleted { .. } => "NotDeleted",
        Error::ParentDeleted { .. } => "ParentDeleted",
        Error::ParentMissing { .. } => "ParentMissing",
        Error::StillReferenced { .. } => "StillReferenced",
        Error::UniqueConflict { .. } => "UniqueConflict",
        Error::ActorRequired { .. } => "ActorRequired",
        Error::Database(_) => "Database",
        Error::Connection(_) => "Connection",
        _ => "other",
    }
}

/// The error with what the database added to it (a deadlock's DETAIL names both statements).
fn described(error: &Error) -> String {
    match error {
        Error::Database(diesel::result::Error::DatabaseError(_, info)) => format!(
            "{error} ({}; {})",
            info.details().unwrap_or("no detail"),
            info.hint().unwrap_or("no hint")
        ),
        _ => error.to_string(),
    }
}

/// Makes calls until `deadline` on connections taken from the pool one call at a time, so that
/// successive calls of a thread run on different connections.
pub fn work(pool: &PgPool, shared: &Shared, worker: usize, seed: u64, deadline: Instant) -> Stats {
    let mut rng = Rng::new(seed, worker as u64 + 1);
    let mut stats = Stats::default();
    let mut call = 0u64;
    while Instant::now() < deadline {
        call += 1;
        let op = Op::choose(&mut rng);
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(error) => {
                shared.violation(format!(
                    "worker {worker}: no connection from the pool: {error}"
                ));
                break;
            }
        };
        let started = Instant::now();
        let result = run(
            op,
            &mut conn,
            shared,
            &mut rng,
            &format!("worker-{worker}/call-{call}"),
        );
        let error = result.err().map(|error| {
            let kind = error_kind(&error);
            if !op.expected(kind) {
                shared.violation(format!(
                    "{}: unexpected error: {}",
                    op.name(),
                    described(&error)
                ));
            }
            kind.to_owned()
        });
        stats.record(op.name(), started.elapsed(), error);
    }
    stats
}

/// Makes one call, checking that what it returns is what it says it did.
fn run(
    op: Op,
    conn: &mut PgConnection,
    shared: &Shared,
    rng: &mut Rng,
    call: &str,
) -> Result<(), Error> {
    let truthful = |ok: bool, what: &str| {
        if !ok {
            shared.violation(format!("{}: {what}", op.name()));
        }
    };
    match op {
        Op::ReviveActivity => {
            let name = rng.pick(ACTIVITY_NAMES);
            let record = activities::table.insert_or_revive(
                conn,
                NewActivity {
                    name,
                    kind: Some(call),
                },
            )?;
            truthful(record.deleted_at.is_none(), "returned a deleted row");
            truthful(
                record.name == name && record.kind.as_deref() == Some(call),
                "returned another row",
            );
            shared.add("activities", record.id);
        }
        Op::SoftDeleteActivity | Op::RestoreActivity | Op::HardDeleteActivity => {
            let Some(id) = shared.pick("activities", rng) else {
                return Ok(());
            };
            match op {
                Op::SoftDeleteActivity => {
                    let record = activities::table.soft_delete(conn, id)?;
                    truthful(
                        record.id == id && record.deleted_at.is_some(),
                        "returned a live row",
                    );
                }
                Op::RestoreActivity => {
                    let record = activities::table.restore(conn, id)?;
                    truthful(
                        record.id == id && record.deleted_at.is_none(),
                        "returned a deleted row",
                    );
                }
                _ => hard_delete(conn, shared, rng, call, "activities", id, |conn| {
                    activities::table
                        .hard_delete(conn, id)
                        .map(|record| record.id)
                })?,
            }
        }
        Op::InsertPlace => {
            let id = diesel::insert_into(places::table)
                .values(NewPlace { name: call })
                .returning(places::id)
                .get_result(conn)?;
            shared.add("places", id);
        }
        Op::SoftDeletePlace | Op::RestorePlace | Op::HardDeletePlace => {
            let Some(id) = shared.pick("places", rng) else {
                return Ok(());
            };
            match op {
                Op::SoftDeletePlace => {
                    let record = places::table.soft_delete(conn, id)?;
                    truthful(
                        record.id == id && record.deleted_at.is_some(),
                        "returned a live row",
                    );
                }
                Op::RestorePlace => {
                    let record = places::table.restore(conn, id)?;
                    truthful(
                        record.id == id && record.deleted_at.is_none(),
                        "returned a deleted row",
                    );
                }
                _ => hard_delete(conn, shared, rng, call, "places", id, |conn| {
                    places::table.hard_delete(conn, id).map(|record| record.id)
                })?,
            }
        }
        Op::InsertReviewThroughView => {
            let Some(place_id) = shared.pick("places", rng) else {
                return Ok(());
            };
            let (id, written_place) = diesel::insert_into(active_reviews::table)
                .values((
                    active_reviews::place_id.eq(place_id),
                    active_reviews::rating.eq(4),
                    active_reviews::body.eq(call),
                ))
                .returning((active_reviews::id, active_reviews::place_id))
                .get_result::<(i64, i64)>(conn)?;
            truthful(written_place == place_id, "returned another review");
            shared.add("reviews", id);
        }
        Op::SoftDeleteReview | Op::RestoreReview => {
            let Some(id) = shared.pick("reviews", rng) else {
                return Ok(());
            };
            if matches!(op, Op::SoftDeleteReview) {
                let record = reviews::table.soft_delete(conn, id)?;
                truthful(
                    record.id == id && record.deleted_at.is_some(),
                    "returned a live row",
                );
            } else {
                let record = reviews::table.restore(conn, id)?;
                truthful(
                    record.id == id && record.deleted_at.is_none(),
                    "returned a deleted row",
                );
            }
        }
        Op::InsertLinkThroughView | Op::DeleteLinkThroughView => {
            let (Some(place_id), Some(activity_id)) =
                (shared.pick("places", rng), shared.pick("activities", rng))
            else {
                return Ok(());
            };
            if matches!(op, Op::InsertLinkThroughView) {
                let link = diesel::insert_into(active_place_activities::table)
                    .values(NewPlaceActivity {
                        place_id,
                        activity_id,
                    })
                    .returning(PlaceActivity::as_returning())
                    .get_result(conn)?;
                truthful(
                    (link.place_id, link.activity_id) == (place_id, activity_id),
                    "returned another link",
                );
                shared.add("place_activities", link.id);
            } else {
                let removed = diesel::delete(
                    active_place_activities::table
                        .filter(active_place_activities::place_id.eq(place_id))
                        .filter(active_place_activities::activity_id.eq(activity_id)),
                )
                .execute(conn)?;
                truthful(removed <= 1, "deleted two live links of one pair");
            }
        }
    }
    Ok(())
}

/// A hard delete, recorded for the archive check. A third run under an actor of their own, on
/// a pooled connection where an earlier call's actor must not linger; a third without one; and
/// a third without one in a transaction where another actor's `as_actor` has just returned.
fn hard_delete(
    conn: &mut PgConnection,
    shared: &Shared,
    rng: &mut Rng,
    call: &str,
    table: &'static str,
    id: i64,
    delete: impl FnOnce(&mut PgConnection) -> Result<i64, Error>,
) -> Result<(), Error> {
    let (actor, deleted) = match rng.below(3) {
        0 => (
            Some(call.to_owned()),
            as_actor(conn, call, Some("load run"), delete)?,
        ),
        1 => (None, delete(conn)?),
        _ => {
            let deleted = conn.transaction(|conn| {
                as_actor(conn, &format!("{call}/earlier"), Some("load run"), |_| {
                    Ok(())
                })?;
                delete(conn)
            })?;
            (None, deleted)
        }
    };
    if deleted != id {
        shared.violation(format!("hard_delete {table} {id}: returned row {deleted}"));
    }
    lock(&shared.hard_deletes).push(HardDelete { table, id, actor });
    Ok(())
}

/// Purges rows deleted more than [`PURGE_AFTER`] ago, pass after pass, in small batches, until
/// `deadline`; two of these race each other and the workers' restores.
pub fn purge_until(pool: &PgPool, shared: &Shared, deadline: Instant) -> Stats {
    let mut stats = Stats::default();
    let options = PurgeOptions {
        older_than: Some(chrono::Duration::from_std(PURGE_AFTER).expect("a short duration")),
        batch_size: 50,
        ..PurgeOptions::default()
    };
    let stop = AtomicBool::new(false);
    while Instant::now() < deadline {
        let started = Instant::now();
        let result = pool
            .get()
            .map_err(|e| Error::InvalidArgument(format!("no connection from the pool: {e}")))
            .and_then(|mut conn| purge::purge(&mut conn, &options, &stop, |_| {}));
        let error = result.err().map(|error| {
            shared.violation(format!("purge: unexpected error: {}", described(&error)));
            error_kind(&error).to_owned()
        });
        stats.record("purge pass", started.elapsed(), error);
        std::thread::sleep(Duration::from_millis(20));
    }
    stats
}

/// An event as the ledger records it: table, key, and what happened, purge and hard delete
/// alike being "gone".
pub type EventKey = (String, serde_json::Value, &'static str);

pub fn event_key(table: String, key: serde_json::Value, operation: Operation) -> EventKey {
    let what = match operation {
        Operation::SoftDelete => "soft_delete",
        Operation::Restore => "restore",
        Operation::HardDelete | Operation::Purge => "gone",
    };
    (table, key, what)
}

/// Counts events until `done` is set and none has come for a second; returns them with the
/// delay between each statement's transaction start and its delivery.
pub fn listen(
    mut listener: Listener,
    done: &AtomicBool,
) -> Result<(Vec<EventKey>, Vec<Duration>), Error> {
    let mut events = Vec::new();
    let mut lags = Vec::new();
    let mut quiet_since = Instant::now();
    let mut saw_done = false;
    loop {
        match listener.next(Duration::from_millis(100))? {
            Some(event) => {
                let lag = chrono::Utc::now() - event.at;
                lags.push(lag.to_std().unwrap_or_default());
                events.push(event_key(event.table, event.key, event.operation));
                quiet_since = Instant::now();
            }
            // Quiet for a second counted from when the workers stopped: every committed event
            // has been sent by then.
            None if saw_done && quiet_since.elapsed() > Duration::from_secs(1) => {
                return Ok((events, lags));
            }
            None if !saw_done && done.load(Ordering::SeqCst) => {
                saw_done = true;
                quiet_since = Instant::now();
            }
            None => {}
        }
    }
}
