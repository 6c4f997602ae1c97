//! A writer's longest stall while a big table is enabled: `softview.enable` in one call, which
//! builds the trash index under its locks, against the online steps (`softview::online`), which
//! build it first with CREATE INDEX CONCURRENTLY; side by side in one run, on the same table.
//! `cargo bench --bench online_enable` (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use softview::online::{self, Enable};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let rows: i64 = if quick { 100_000 } else { 5_000_000 };
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    conn.batch_execute(&format!(
        "CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL, deleted_at timestamptz);
         INSERT INTO big SELECT g, md5(g::text), CASE WHEN g % 100 = 0 THEN now() END
         FROM generate_series(1, {rows}) g;"
    ))?;
    conn.batch_execute("VACUUM ANALYZE big")?;

    println!(
        "enabling a {rows}-row table (1% deleted) while one writer updates random single rows, autocommit"
    );
    println!(
        "{:<14} {:>10} {:>9} {:>13} {:>13} {:>13} {:>8}",
        "how", "enable", "updates", "median", "p99", "longest", "ratio"
    );
    let mut longest_in_one_call = None;
    // One call, online, online, one call: drift on a shared machine weighs on both sides alike.
    let mut results: Vec<(&str, Duration, Vec<Duration>)> = Vec::new();
    for how in ["in one call", "online", "online", "in one call"] {
        let (took, latencies) = while_writing(database.url(), rows, |conn| {
            if how == "online" {
                for step in online::enable_steps(conn, "big", Enable::WithDeletedAt)? {
                    conn.batch_execute(&step.up)?;
                }
            } else {
                conn.batch_execute("SELECT softview.enable('big')")?;
            }
            Ok(())
        })?;
        conn.batch_execute("SELECT softview.disable('big')")?;
        results.push((how, took, latencies));
    }
    for how in ["in one call", "online"] {
        let mut took = Duration::ZERO;
        let mut latencies = Vec::new();
        for (_, t, l) in results.iter().filter(|(h, _, _)| *h == how) {
            took += *t / 2;
            latencies.extend_from_slice(l);
        }
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let longest = *latencies.last().expect("the writer wrote");
        let ratio = match longest_in_one_call {
            None => {
                longest_in_one_call = Some(longest);
                1.0
            }
            Some(base) => longest.as_secs_f64() / base.as_secs_f64(),
        };
        println!(
            "{how:<14} {:>8.0}ms {:>9} {:>11.3}ms {:>11.3}ms {:>11.3}ms {:>7.3}x",
            took.as_secs_f64() * 1e3,
            latencies.len(),
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            longest.as_secs_f64() * 1e3,
            ratio
        );
    }
    Ok(())
}

/// Runs `enable` while another connection updates random rows of `big` one at a time; returns
/// how long `enable` took and the latency of every update from just before it to just after.
fn while_writing(
    url: &str,
    rows: i64,
    enable: impl FnOnce(&mut PgConnection) -> softview::Result<()>,
) -> Result<(Duration, Vec<Duration>), Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (url.to_owned(), Arc::clone(&stop));
        std::thread::spawn(move || -> diesel::QueryResult<Vec<Duration>> {
            let mut conn = PgConnection::establish(&url).expect("connect");
            let mut latencies = Vec::new();
            // A fixed sequence of ids spread over the table (no rand crate needed).
            let mut id: i64 = 1;
            while !stop.load(Ordering::Relaxed) {
                id = (id * 48_271) % 2_147_483_647;
                let started = Instant::now();
                diesel::sql_query("UPDATE big SET payload = md5(payload) WHERE id = $1")
                    .bind::<BigInt, _>(1 + id % rows)
                    .execute(&mut conn)?;
                latencies.push(started.elapsed());
            }
            Ok(latencies)
        })
    };
    let mut conn = PgConnection::establish(url)?;
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    enable(&mut conn)?;
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let latencies = writer.join().expect("the writer does not panic")?;
    Ok((took, latencies))
}
