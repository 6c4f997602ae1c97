//! What the archive costs a hard delete, side by side in one run on the same rows: a plain
//! DELETE, the floor (a minimal statement-level trigger that only copies the deleted rows into
//! an archive table as JSON) and the toolkit's trigger (archive with key, actor, roles, events).
//! One connection, warm and prepared, as an application holds one; every DELETE autocommits.
//! `cargo bench --bench archive` (SOFTVIEW_BENCH_QUICK=1 for a smoke run) also draws
//! docs/charts/archive.svg.

#[path = "support/chart.rs"]
mod chart;

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// The sides, by table; the last deletes from the toolkit's table with a summary event never
/// taking over from one event per row, which is how every statement was announced before.
const SIDES: [(&str, &str); 4] = [
    ("bench_plain", ""),
    ("bench_floor", ""),
    ("bench_archived", ""),
    (
        "bench_archived",
        "SET softview.max_row_events = 2000000000;",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    conn.batch_execute(
        "CREATE TABLE bench_archived (id bigint PRIMARY KEY, name text NOT NULL, payload text,
                                      deleted_at timestamptz);
         CREATE TABLE bench_plain (LIKE bench_archived INCLUDING ALL);
         CREATE TABLE bench_floor (LIKE bench_archived INCLUDING ALL);
         CREATE TABLE floor_archive (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                     row_data jsonb NOT NULL);
         CREATE FUNCTION copy_to_floor_archive() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO floor_archive (row_data) SELECT to_jsonb(g) FROM gone AS g;
             RETURN NULL;
         END $$;
         CREATE TRIGGER floor_archive AFTER DELETE ON bench_floor REFERENCING OLD TABLE AS gone
             FOR EACH STATEMENT EXECUTE FUNCTION copy_to_floor_archive();
         SELECT softview.enable('bench_archived');",
    )?;

    // (rows per DELETE, DELETEs per round, rounds)
    let sizes: &[(i64, i64, usize)] = if quick {
        &[(1, 50, 3), (1_000, 1, 3), (10_000, 1, 3)]
    } else {
        &[
            (1, 2_000, 5),
            (100, 20, 15),
            (1_000, 1, 31),
            (10_000, 1, 15),
            (100_000, 1, 7),
        ]
    };
    println!(
        "hard delete cost: plain DELETE, the floor (a minimal archive trigger) and softview, same rows, \
         autocommit, median of rounds, time per DELETE"
    );
    println!(
        "{:>8} {:>11} {:>11} {:>11} {:>14} {:>12} {:>15} {:>15}",
        "rows",
        "plain",
        "floor",
        "softview",
        "event per row",
        "floor/plain",
        "softview/floor",
        "per row/floor"
    );
    let mut worst: f64 = 0.0;
    let mut lines: [Vec<(f64, f64)>; 4] = Default::default();
    for &(rows, statements, rounds) in sizes {
        let mut times: [Vec<Duration>; 4] = Default::default();
        for round in 0..rounds {
            // A different side first each round: drift on a shared machine weighs on all alike.
            for i in 0..SIDES.len() {
                let which = (i + round) % SIDES.len();
                let (table, setting) = SIDES[which];
                conn.batch_execute(&format!("RESET softview.max_row_events; {setting}"))?;
                times[which].push(delete_round(&mut conn, table, rows, statements)?);
            }
        }
        conn.batch_execute("RESET softview.max_row_events")?;
        let [plain, floor, toolkit, per_row] = times.map(|mut t| median(&mut t));
        let ratio = toolkit.as_secs_f64() / floor.as_secs_f64();
        worst = worst.max(ratio);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for (line, time) in lines.iter_mut().zip([plain, floor, toolkit, per_row]) {
            line.push((rows as f64, ms(time)));
        }
        println!(
            "{rows:>8} {:>9.3}ms {:>9.3}ms {:>9.3}ms {:>12.3}ms {:>11.2}x {:>14.2}x {:>14.2}x",
            ms(plain),
            ms(floor),
            ms(toolkit),
            ms(per_row),
            floor.as_secs_f64() / plain.as_secs_f64(),
            ratio,
            per_row.as_secs_f64() / floor.as_secs_f64()
        );
    }
    println!("worst ratio, softview vs the floor: {worst:.2}x");
    if !quick {
        let names = [
            "plain DELETE",
            "floor: minimal archive trigger",
            "softview",
            "softview, one event per row (before)",
        ];
        let [plain, floor, toolkit, per_row] = lines;
        let series = [(2, toolkit), (0, plain), (1, floor), (3, per_row)]
            .into_iter()
            .map(|(i, points)| chart::Series {
                name: names[i].to_owned(),
                points,
            })
            .collect();
        chart::write(
            "archive",
            "What the archive costs a hard delete (cargo bench --bench archive)",
            1,
            &[chart::Panel {
                title: "time per DELETE statement, autocommit".to_owned(),
                x_label: "rows deleted by the statement",
                y_label: "ms",
                log_x: true,
                log_y: true,
                series,
            }],
        )?;
    }
    Ok(())
}

/// Fills `table` with `rows * statements` rows, then deletes them with `statements` DELETEs of
/// `rows` rows each; returns the mean time per DELETE.
fn delete_round(
    conn: &mut PgConnection,
    table: &str,
    rows: i64,
    statements: i64,
) -> Result<Duration, Box<dyn std::error::Error>> {
    conn.batch_execute(&format!(
        "SET softview.allow_truncate = on; TRUNCATE {table}, floor_archive, softview.deleted_records;
         INSERT INTO {table} (id, name, payload)
         SELECT g, 'row ' || g, repeat('x', 200) FROM generate_series(1, {}) g;",
        rows * statements
    ))?;
    conn.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    let delete = format!("DELETE FROM {table} WHERE id > $1 AND id <= $2");
    // Warm: the trigger's function compiled, its plans and the statement prepared.
    diesel::sql_query(&delete)
        .bind::<BigInt, _>(-1)
        .bind::<BigInt, _>(0)
        .execute(conn)?;
    let started = Instant::now();
    for n in 0..statements {
        diesel::sql_query(&delete)
            .bind::<BigInt, _>(n * rows)
            .bind::<BigInt, _>((n + 1) * rows)
            .execute(conn)?;
    }
    Ok(started.elapsed() / statements as u32)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
