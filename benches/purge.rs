//! Purge throughput with the archive on, the longest time one batch holds its locks, and the
//! latency of concurrent single-row writes to the same table during a purge against the same
//! writes without one, side by side in one run.
//! `cargo bench --bench purge` (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use softview::lifecycle::purge::{PurgeOptions, purge};

const LIVE_ROWS: i64 = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let scales: &[i64] = if quick {
        &[10_000]
    } else {
        &[100_000, 1_000_000]
    };
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    conn.batch_execute(
        "CREATE TABLE bench_items (id bigint PRIMARY KEY, name text NOT NULL, payload text,
                                   deleted_at timestamptz);
         CREATE INDEX bench_items_name_live ON bench_items (name) WHERE deleted_at IS NULL;
         SELECT softview.enable('bench_items');",
    )?;

    println!(
        "purge with the archive on; writes: single-row UPDATEs of live rows from another connection"
    );
    println!(
        "{:>10} {:>6} {:>12} {:>14} {:>16} {:>16} {:>7}",
        "deleted",
        "batch",
        "rows/s",
        "longest batch",
        "write p95 alone",
        "write p95 purge",
        "ratio"
    );
    for &deleted in scales {
        for batch in [500, 1000] {
            conn.batch_execute(&format!(
                "TRUNCATE bench_items; TRUNCATE softview.deleted_records;
             INSERT INTO bench_items (id, name, payload, deleted_at)
             SELECT g, 'item ' || g, repeat('x', 100),
                    CASE WHEN g > {LIVE_ROWS} THEN now() - interval '40 days' END
             FROM generate_series(1, {LIVE_ROWS} + {deleted}) g;"
            ))?;
            conn.batch_execute("VACUUM ANALYZE bench_items")?;

            let alone = writes_while(database.url(), || {
                std::thread::sleep(Duration::from_secs(2))
            })?;
            let mut report = None;
            let during = writes_while(database.url(), || {
                let mut purger = PgConnection::establish(database.url()).expect("connect");
                let started = Instant::now();
                let result = purge(
                    &mut purger,
                    &PurgeOptions {
                        table: Some("bench_items".into()),
                        batch_size: batch,
                        ..Default::default()
                    },
                    &AtomicBool::new(false),
                    |_| {},
                )
                .expect("purge");
                report = Some((result, started.elapsed()));
            })?;
            let (result, elapsed) = report.expect("purge ran");
            assert_eq!(result.rows(), deleted);
            let (alone_p95, during_p95) = (percentile(&alone, 0.95), percentile(&during, 0.95));
            println!(
                "{deleted:>10} {batch:>6} {:>12.0} {:>12.1}ms {:>14.2}ms {:>14.2}ms {:>6.2}x",
                deleted as f64 / elapsed.as_secs_f64(),
                result.longest_batch.as_secs_f64() * 1e3,
                alone_p95.as_secs_f64() * 1e3,
                during_p95.as_secs_f64() * 1e3,
                during_p95.as_secs_f64() / alone_p95.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Latencies of single-row updates of live rows, made from another connection while `work`
/// runs.
fn writes_while(
    url: &str,
    work: impl FnOnce(),
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, url) = (Arc::clone(&stop), url.to_owned());
        std::thread::spawn(move || -> Result<Vec<Duration>, diesel::result::Error> {
            let mut conn = PgConnection::establish(&url).expect("connect");
            let mut latencies = Vec::new();
            let mut id = 0i64;
            while !stop.load(Ordering::SeqCst) {
                id = (id * 7919 + 13) % LIVE_ROWS + 1;
                let started = Instant::now();
                diesel::sql_query("UPDATE bench_items SET name = name WHERE id = $1")
                    .bind::<diesel::sql_types::BigInt, _>(id)
                    .execute(&mut conn)?;
                latencies.push(started.elapsed());
            }
            Ok(latencies)
        })
    };
    work();
    stop.store(true, Ordering::SeqCst);
    Ok(writer.join().expect("writer")?)
}

fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}
