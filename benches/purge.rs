//! Purge throughput with the archive on, the longest time one batch holds its locks, and the
//! latency of concurrent single-row writes to the same table during a purge against the same
//! writes without one, side by side in one run. Then parents with two levels of children that
//! the purge removes by cascade, with full and with partial-only foreign-key indexes.
//! `cargo bench --bench purge` (SOFTVIEW_BENCH_QUICK=1 for a smoke run) also draws
//! docs/charts/purge.svg.

#[path = "support/chart.rs"]
mod chart;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use softview::lifecycle::purge::{PurgeOptions, purge};

const LIVE_ROWS: i64 = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let scales: &[(i64, &[i32])] = if quick {
        &[(10_000, &[500, 1000])]
    } else {
        &[
            (100_000, &[100, 250, 500, 1000, 2500, 5000]),
            (1_000_000, &[500, 1000, 5000]),
        ]
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
    let mut throughput = Vec::new();
    let mut longest = Vec::new();
    for &(deleted, batches) in scales {
        let name = format!("{} deleted rows", thousands(deleted));
        throughput.push(chart::Series {
            name: name.clone(),
            points: Vec::new(),
        });
        longest.push(chart::Series {
            name,
            points: Vec::new(),
        });
        for &batch in batches {
            conn.batch_execute(&format!(
                "SET softview.allow_truncate = on; TRUNCATE bench_items; TRUNCATE softview.deleted_records;
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
            let rate = deleted as f64 / elapsed.as_secs_f64();
            let held = result.longest_batch.as_secs_f64() * 1e3;
            throughput
                .last_mut()
                .unwrap()
                .points
                .push((batch.into(), rate));
            longest
                .last_mut()
                .unwrap()
                .points
                .push((batch.into(), held));
            println!(
                "{deleted:>10} {batch:>6} {:>12.0} {:>12.1}ms {:>14.2}ms {:>14.2}ms {:>6.2}x",
                rate,
                held,
                alone_p95.as_secs_f64() * 1e3,
                during_p95.as_secs_f64() * 1e3,
                during_p95.as_secs_f64() / alone_p95.as_secs_f64()
            );
        }
    }
    if !quick {
        chart::write(
            "purge",
            "The purge by batch size, archive on, a writer beside it (cargo bench --bench purge)",
            2,
            &[
                chart::Panel {
                    title: "throughput".to_owned(),
                    x_label: "rows per batch",
                    y_label: "rows purged per second",
                    log_x: true,
                    log_y: false,
                    series: throughput,
                },
                chart::Panel {
                    title: "longest batch: how long its row locks were held".to_owned(),
                    x_label: "rows per batch",
                    y_label: "ms",
                    log_x: true,
                    log_y: false,
                    series: longest,
                },
            ],
        )?;
    }
    cascades(&mut conn, if quick { 1_000 } else { 5_000 })?;
    Ok(())
}

/// Deleted parents, each with 3 live children and 2 live grandchildren per child (10 rows a
/// parent), purged by cascade. Rows/s counts every row removed. Side by side: the children's
/// foreign keys with a full index, and with only a partial `WHERE deleted_at IS NULL` one
/// (which serves live reads but not the cascade, which must find every row).
fn cascades(conn: &mut PgConnection, parents: i64) -> Result<(), Box<dyn std::error::Error>> {
    println!();
    println!("purge of {parents} parents with 2 levels of children (10 rows a parent), by cascade");
    println!(
        "{:>22} {:>6} {:>10} {:>12} {:>14}",
        "foreign-key indexes", "batch", "rows", "rows/s", "longest batch"
    );
    let mut rates = Vec::new();
    for (label, index) in [("full", ""), ("partial only", " WHERE deleted_at IS NULL")] {
        conn.batch_execute(&format!(
            "TRUNCATE softview.deleted_records;
             CREATE TABLE cascade_parents (id bigint PRIMARY KEY, deleted_at timestamptz);
             CREATE TABLE cascade_children (
                 id bigint PRIMARY KEY,
                 parent_id bigint NOT NULL REFERENCES cascade_parents ON DELETE CASCADE,
                 deleted_at timestamptz);
             CREATE TABLE cascade_grandchildren (
                 id bigint PRIMARY KEY,
                 child_id bigint NOT NULL REFERENCES cascade_children ON DELETE CASCADE,
                 deleted_at timestamptz);
             CREATE INDEX cascade_children_parent ON cascade_children (parent_id){index};
             CREATE INDEX cascade_grandchildren_child ON cascade_grandchildren (child_id){index};
             SELECT softview.enable('cascade_parents');
             SELECT softview.enable('cascade_children');
             SELECT softview.enable('cascade_grandchildren');
             INSERT INTO cascade_parents SELECT g, now() - interval '40 days'
             FROM generate_series(1, {parents}) g;
             INSERT INTO cascade_children SELECT g, (g - 1) / 3 + 1 FROM generate_series(1, {parents} * 3) g;
             INSERT INTO cascade_grandchildren SELECT g, (g - 1) / 2 + 1 FROM generate_series(1, {parents} * 6) g;"
        ))?;
        conn.batch_execute(
            "VACUUM ANALYZE cascade_parents, cascade_children, cascade_grandchildren",
        )?;
        let batch = 100;
        let started = Instant::now();
        let report = purge(
            conn,
            &PurgeOptions {
                table: Some("cascade_parents".into()),
                batch_size: batch,
                ..Default::default()
            },
            &AtomicBool::new(false),
            |_| {},
        )?;
        let elapsed = started.elapsed();
        assert_eq!(report.rows(), parents);
        let removed: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM softview.deleted_records)",
        ))
        .get_result(conn)?;
        assert_eq!(removed, parents * 10, "every row archived once");
        let rate = removed as f64 / elapsed.as_secs_f64();
        rates.push(rate);
        println!(
            "{label:>22} {batch:>6} {removed:>10} {rate:>12.0} {:>12.1}ms",
            report.longest_batch.as_secs_f64() * 1e3
        );
        conn.batch_execute(
            "SELECT softview.disable(t) FROM unnest(ARRAY['cascade_grandchildren', 'cascade_children',
                                                         'cascade_parents']::regclass[]) AS t;
             DROP TABLE cascade_grandchildren, cascade_children, cascade_parents;",
        )?;
    }
    println!(
        "full foreign-key indexes purge {:.1}x as fast as partial-only ones",
        rates[0] / rates[1]
    );
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

/// 1000000 as 1,000,000.
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
