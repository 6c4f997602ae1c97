//! The archive's cost: hard deletes of the same rows with and without the archive trigger,
//! side by side in one run. `cargo bench --bench archive` (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

const ROUNDS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let (bulk_rows, single_rows) = if quick {
        (2_000, 200)
    } else {
        (100_000, 2_000)
    };
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    conn.batch_execute(
        "CREATE TABLE bench_archived (id bigint PRIMARY KEY, name text NOT NULL, payload text,
                                      deleted_at timestamptz);
         CREATE TABLE bench_plain (LIKE bench_archived INCLUDING ALL);
         SELECT softview.enable('bench_archived');",
    )?;

    println!(
        "archive cost: hard delete with the archive trigger vs without, same rows, {ROUNDS} rounds (median)"
    );
    println!(
        "{:<34} {:>12} {:>12} {:>7}",
        "scenario", "plain", "archived", "ratio"
    );
    let mut worst: f64 = 0.0;
    for (scenario, rows, one_statement) in [
        (format!("one DELETE of {bulk_rows} rows"), bulk_rows, true),
        (
            format!("{single_rows} single-row DELETEs"),
            single_rows,
            false,
        ),
    ] {
        let mut plain = Vec::new();
        let mut archived = Vec::new();
        for _ in 0..ROUNDS {
            for (table, times) in [
                ("bench_plain", &mut plain),
                ("bench_archived", &mut archived),
            ] {
                conn.batch_execute(&format!(
                    "SET softview.allow_truncate = on; TRUNCATE {table}; TRUNCATE softview.deleted_records;
                     INSERT INTO {table} (id, name, payload)
                     SELECT g, 'row ' || g, repeat('x', 200) FROM generate_series(1, {rows}) g;"
                ))?;
                conn.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
                let started = Instant::now();
                if one_statement {
                    conn.batch_execute(&format!("DELETE FROM {table}"))?;
                } else {
                    conn.transaction::<_, diesel::result::Error, _>(|conn| {
                        for id in 1..=rows {
                            diesel::sql_query(format!("DELETE FROM {table} WHERE id = $1"))
                                .bind::<diesel::sql_types::BigInt, _>(id)
                                .execute(conn)?;
                        }
                        Ok(())
                    })?;
                }
                times.push(started.elapsed());
            }
        }
        let (plain, archived) = (median(&mut plain), median(&mut archived));
        let ratio = archived.as_secs_f64() / plain.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "{scenario:<34} {:>10.1}ms {:>10.1}ms {:>6.2}x",
            plain.as_secs_f64() * 1e3,
            archived.as_secs_f64() * 1e3,
            ratio
        );
    }
    println!("worst ratio, archived vs plain hard delete: {worst:.2}x");
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
