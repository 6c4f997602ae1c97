//! `softview purge | worker | watch`: the long-running side of the lifecycle.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::PgConnection;

use softview::Result;
use softview::lifecycle::events::Listener;
use softview::lifecycle::purge::{self, PurgeOptions, PurgeReport};
use softview::lifecycle::worker;

use crate::admin::timestamp;

/// SIGINT and SIGTERM set the returned flag; work checks it between batches.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| {
            softview::Error::InvalidArgument(format!("cannot watch for SIGINT and SIGTERM: {e}"))
        })?;
    }
    Ok(stop)
}

pub fn purge_once(conn: &mut PgConnection, options: &PurgeOptions) -> Result<()> {
    let stop = stop_on_signals()?;
    let terminal = std::io::stderr().is_terminal() && !options.dry_run;
    let mut done = 0;
    let report = purge::purge(conn, options, &stop, |batch| {
        done += batch.rows;
        if terminal {
            eprint!("\r  purging {:<30} {done:>10} rows", batch.table);
            let _ = std::io::stderr().flush();
        }
    })?;
    if terminal {
        eprintln!();
    }
    println!("{}", summary(&report, options.dry_run));
    report_failures(&report);
    match report.failures.len() {
        0 => Ok(()),
        n => Err(softview::Error::InvalidArgument(format!(
            "the purge of {n} table(s) failed; what the summary above counts is committed"
        ))),
    }
}

/// One line on stderr per table whose purge failed.
fn report_failures(report: &PurgeReport) {
    for failure in &report.failures {
        eprintln!("purge of {} failed: {}", failure.table, failure.message);
    }
}

fn summary(report: &PurgeReport, dry_run: bool) -> String {
    // `public.places 2, public.reviews 1`, leaving out tables with nothing.
    let per_table = |counts: &[(String, i64)]| {
        counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut detail = match per_table(&report.tables) {
        purged if purged.is_empty() => purged,
        purged => format!(" ({purged})"),
    };
    if !report.cascaded.is_empty() {
        detail += &format!(
            " and {} row(s) their deletes cascaded to ({})",
            report.cascaded_rows(),
            per_table(&report.cascaded)
        );
    }
    if dry_run {
        format!("dry run: would purge {} row(s){detail}", report.rows())
    } else {
        format!(
            "purged {} row(s){detail} in {} batch(es), longest {} ms",
            report.rows(),
            report.batches,
            report.longest_batch.as_millis()
        )
    }
}

/// Runs `work` until it returns; after a lost connection (a server restart, say) runs it again,
/// waiting 1 s, 2 s, 4 s … at most 30 s between tries, and says so on stderr. Any other error,
/// or a stop asked for while waiting, ends it.
fn reconnecting(
    command: &str,
    stop: &AtomicBool,
    mut work: impl FnMut() -> Result<()>,
) -> Result<()> {
    const LONGEST_WAIT: Duration = Duration::from_secs(30);
    let mut wait = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        match work() {
            Err(error) if error.is_connection_lost() && !stop.load(Ordering::SeqCst) => {
                // A connection that lasted a while starts the waits over.
                if started.elapsed() > LONGEST_WAIT {
                    wait = Duration::from_secs(1);
                }
                let message = error.to_string();
                eprintln!(
                    "{command}: lost the connection ({}); reconnecting in {} s",
                    message.lines().next().unwrap_or_default().trim(),
                    wait.as_secs()
                );
                let deadline = Instant::now() + wait;
                while Instant::now() < deadline {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                wait = (wait * 2).min(LONGEST_WAIT);
            }
            outcome => return outcome,
        }
    }
}

pub fn worker(url: &str, options: &PurgeOptions, interval: chrono::Duration) -> Result<()> {
    let stop = stop_on_signals()?;
    let interval = interval.to_std().unwrap_or(Duration::ZERO);
    println!(
        "worker: purging every {} (SIGINT or SIGTERM stops it after the current batch)",
        crate::cli::format_age(chrono::Duration::from_std(interval).unwrap_or_default())
    );
    let mut reconnected = false;
    reconnecting("worker", &stop, || {
        if std::mem::replace(&mut reconnected, true) {
            eprintln!("worker: connecting again");
        }
        worker::run(
            url,
            options,
            interval,
            &stop,
            |_| {},
            |report| {
                if report.rows() > 0 {
                    println!(
                        "{} {}",
                        timestamp(chrono::Utc::now()),
                        summary(report, false)
                    );
                }
                report_failures(report);
            },
        )
    })?;
    println!("worker: stopped");
    Ok(())
}

pub fn watch(url: &str) -> Result<()> {
    let stop = stop_on_signals()?;
    let mut first = true;
    reconnecting("watch", &stop, || {
        let mut listener = Listener::connect(url)?;
        if std::mem::replace(&mut first, false) {
            println!("watching channel softview (SIGINT stops)");
        } else {
            eprintln!("watch: connected again; events sent while it was away are not seen");
        }
        watch_events(&mut listener, &stop)
    })
}

fn watch_events(listener: &mut Listener, stop: &AtomicBool) -> Result<()> {
    while !stop.load(Ordering::SeqCst) {
        if let Some(event) = listener.next(Duration::from_millis(200))? {
            let what = match (event.rows, event.transaction) {
                (1, _) => event.key.to_string(),
                (rows, Some(transaction)) => format!("{rows} rows of transaction {transaction}"),
                (rows, None) => format!("{rows} rows"),
            };
            println!(
                "{}  {:<11}  {}  {what}",
                timestamp(event.at),
                format!("{:?}", event.operation),
                event.table,
            );
            let _ = std::io::stdout().flush();
        }
        for skipped in listener.take_unreadable() {
            eprintln!(
                "watch: ignored a payload that is not an event, from backend {}: {:?} ({})",
                skipped.sender_pid,
                skipped.payload.chars().take(80).collect::<String>(),
                skipped.reason
            );
        }
    }
    Ok(())
}
