//! The purge worker: a purge pass on an interval, woken early by `softview.wake_worker()`,
//! stopping between batches when asked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::purge::{Batch, PurgeOptions, PurgeReport, purge};
use crate::error::Result;

const POLL: Duration = Duration::from_millis(50);

/// Purges every `interval` until `stop` is set; `on_batch` and `on_pass` report progress.
/// Runs on two connections of its own: one purges, one listens for `softview_worker`. Returns
/// the first error that is not one table's; after a lost connection
/// ([`crate::Error::is_connection_lost`]) the caller may call it again.
pub fn run(
    database_url: &str,
    options: &PurgeOptions,
    interval: Duration,
    stop: &AtomicBool,
    mut on_batch: impl FnMut(&Batch),
    mut on_pass: impl FnMut(&PurgeReport),
) -> Result<()> {
    let mut conn = PgConnection::establish(database_url)?;
    // Admin screens find a running worker by this name in pg_stat_activity.
    diesel::sql_query("SET application_name = 'softview worker'").execute(&mut conn)?;
    let mut wake = PgConnection::establish(database_url)?;
    diesel::sql_query("LISTEN softview_worker").execute(&mut wake)?;
    while !stop.load(Ordering::SeqCst) {
        let report = purge(&mut conn, options, stop, &mut on_batch)?;
        on_pass(&report);
        let deadline = Instant::now() + interval;
        'wait: while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
            let (arrived, failed) = super::arrived_notifications(&mut wake);
            if let Some(error) = failed {
                return Err(super::notification_error(&mut wake, error));
            }
            let woken = !arrived.is_empty();
            if woken {
                break 'wait;
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}
