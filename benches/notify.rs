//! What a NOTIFY flood by another role does to soft deletes: every transaction that notifies
//! takes one global lock at commit to append to the notification queue, so a role sending
//! large bursts on any channel delays the commit of every soft delete (which announces itself
//! on channel `softview`). Soft-delete latency alone and during a flood, side by side in one
//! run. `cargo bench --bench notify` (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let (deletes, burst) = if quick { (50, 5_000) } else { (400, 50_000) };
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    let flooder = format!("{}_flooder", database.name());
    conn.batch_execute(&format!(
        "INSERT INTO places (id, name) SELECT g, 'place ' || g FROM generate_series(1, {}) g;
         ANALYZE places;
         CREATE ROLE {flooder} NOLOGIN;",
        2 * deletes
    ))?;
    // A listener, as `softview watch` or a console would be: it keeps the queue drained.
    let mut listener = softview::lifecycle::events::Listener::connect(database.url())?;
    let draining = Arc::new(AtomicBool::new(true));
    let drain = {
        let draining = Arc::clone(&draining);
        thread::spawn(move || {
            while draining.load(Ordering::Relaxed) {
                let _ = listener.next(Duration::from_millis(50));
            }
        })
    };

    println!(
        "soft deletes through active_places, one per transaction, {deletes} per side; \
         the flood: another role's transactions of {burst} NOTIFYs each"
    );
    println!("{:<22} {:>10} {:>10} {:>10}", "", "median", "p99", "max");
    let alone = soft_deletes(&mut conn, 1, deletes)?;
    let flooding = Arc::new(AtomicBool::new(true));
    let bursts = Arc::new(AtomicU64::new(0));
    let flood = {
        let (flooding, bursts) = (Arc::clone(&flooding), Arc::clone(&bursts));
        let mut flood_conn = database.connect()?;
        flood_conn.batch_execute(&format!("SET ROLE {flooder}"))?;
        thread::spawn(move || {
            while flooding.load(Ordering::Relaxed) {
                let sent = flood_conn.batch_execute(&format!(
                    "SELECT pg_notify('softview', 'noise ' || g) FROM generate_series(1, {burst}) g"
                ));
                if sent.is_err() {
                    break;
                }
                bursts.fetch_add(1, Ordering::Relaxed);
            }
            flood_conn
        })
    };
    thread::sleep(Duration::from_millis(200));
    let during = soft_deletes(&mut conn, deletes + 1, deletes)?;
    flooding.store(false, Ordering::Relaxed);
    let flood_conn = flood.join().expect("flood thread");
    drop(flood_conn);
    draining.store(false, Ordering::Relaxed);
    drain.join().expect("drain thread");
    conn.batch_execute(&format!("DROP ROLE {flooder}"))?;

    for (label, times) in [("alone", &alone), ("during the flood", &during)] {
        println!(
            "{label:<22} {:>10} {:>10} {:>10}",
            ms(percentile(times, 50)),
            ms(percentile(times, 99)),
            ms(percentile(times, 100))
        );
    }
    println!(
        "flood bursts committed meanwhile: {}",
        bursts.load(Ordering::Relaxed)
    );
    println!(
        "ratio during/alone: median {:.1}x, p99 {:.1}x",
        ratio(&during, &alone, 50),
        ratio(&during, &alone, 99)
    );
    Ok(())
}

/// Soft-deletes places `first..first + n` one transaction each; the latency of each.
fn soft_deletes(
    conn: &mut PgConnection,
    first: usize,
    n: usize,
) -> Result<Vec<Duration>, diesel::result::Error> {
    let mut times = Vec::with_capacity(n);
    for id in first..first + n {
        let started = Instant::now();
        conn.batch_execute(&format!("DELETE FROM active_places WHERE id = {id}"))?;
        times.push(started.elapsed());
    }
    Ok(times)
}

fn percentile(times: &[Duration], p: usize) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) * p) / 100]
}

fn ratio(during: &[Duration], alone: &[Duration], p: usize) -> f64 {
    percentile(during, p).as_secs_f64() / percentile(alone, p).as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}
