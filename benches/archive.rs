//! What the archive costs a hard delete, side by side in one run on the same rows: a plain
//! DELETE, the floor (a minimal statement-level trigger that only copies the deleted rows into
//! an archive table as JSON) and the toolkit's trigger (archive with key, actor, roles, events).
//! One connection, warm and prepared, as an application holds one; every DELETE autocommits.
//! Then what the events cost a bulk soft delete, and the archive read by a role that does not
//! own it, under the row-by-row policy it had and today's. `cargo bench --bench archive` (SOFTVIEW_BENCH_QUICK=1 for a smoke run) also draws
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
    soft_delete_events(&mut conn, quick)?;
    read_as_another_role(
        &mut conn,
        database.name(),
        if quick { 10_000 } else { 100_000 },
    )?;
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
/// `rows` rows each; returns the mean time per DELETE. The archives keep what earlier rounds
/// archived, as an application's do. Until 2026-12-07 they were emptied before each round, so
/// at the sizes with one DELETE per round every timed DELETE was the first write after a
/// TRUNCATE, which cost the partitioned archive more than the floor's table (1,000 rows: 1.45x
/// of the floor emptied, 1.23x kept, in two runs of the same code).
fn delete_round(
    conn: &mut PgConnection,
    table: &str,
    rows: i64,
    statements: i64,
) -> Result<Duration, Box<dyn std::error::Error>> {
    conn.batch_execute(&format!(
        "SET softview.allow_truncate = on; TRUNCATE {table};
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

/// Soft deletes announce themselves: one UPDATE setting deleted_at on `rows` rows of a table
/// softview does not know (no events, no trash index), of the toolkit's table (one event per row up to
/// softview.max_row_events, then one summary), and of the toolkit's table with every row
/// announced, as before summaries. Each rolled back, median of rounds, sides interleaved.
fn soft_delete_events(
    conn: &mut PgConnection,
    quick: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let sizes: &[(i64, usize)] = if quick {
        &[(1, 50), (1_000, 5), (10_000, 3)]
    } else {
        &[(1, 2_000), (1_000, 31), (100_000, 7)]
    };
    let total = sizes.iter().map(|&(rows, _)| rows).max().unwrap_or(1);
    conn.batch_execute(&format!(
        "SET softview.allow_truncate = on; TRUNCATE bench_plain, bench_archived;
         INSERT INTO bench_plain (id, name, payload)
         SELECT g, 'row ' || g, repeat('x', 200) FROM generate_series(1, {total}) g;
         INSERT INTO bench_archived SELECT * FROM bench_plain;"
    ))?;
    conn.batch_execute("VACUUM ANALYZE bench_plain")?;
    conn.batch_execute("VACUUM ANALYZE bench_archived")?;
    let sides = [
        ("bench_plain", ""),
        ("bench_archived", ""),
        (
            "bench_archived",
            "SET LOCAL softview.max_row_events = 2000000000;",
        ),
    ];
    println!();
    println!("soft delete: one UPDATE of deleted_at on `rows` rows, rolled back, median of rounds");
    println!(
        "{:>8} {:>11} {:>11} {:>14} {:>14} {:>16}",
        "rows", "plain", "softview", "event per row", "softview/plain", "per row/softview"
    );
    for &(rows, rounds) in sizes {
        let mut times: [Vec<Duration>; 3] = Default::default();
        for round in 0..rounds {
            for i in 0..sides.len() {
                let which = (i + round) % sides.len();
                let (table, setting) = sides[which];
                conn.batch_execute(&format!("BEGIN; {setting}"))?;
                let started = Instant::now();
                diesel::sql_query(format!(
                    "UPDATE {table} SET deleted_at = now() WHERE id > $1 AND id <= $2"
                ))
                .bind::<BigInt, _>(0)
                .bind::<BigInt, _>(rows)
                .execute(conn)?;
                times[which].push(started.elapsed());
                conn.batch_execute("ROLLBACK")?;
            }
        }
        let [plain, toolkit, per_row] = times.map(|mut t| median(&mut t));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{rows:>8} {:>9.3}ms {:>9.3}ms {:>12.3}ms {:>13.2}x {:>15.2}x",
            ms(plain),
            ms(toolkit),
            ms(per_row),
            toolkit.as_secs_f64() / plain.as_secs_f64(),
            per_row.as_secs_f64() / toolkit.as_secs_f64()
        );
    }
    Ok(())
}

/// The policy on the archive as it was before 2026-12-07: may_read_archived asked of every row.
const ROW_BY_ROW_POLICY: &str =
    "softview_internal.may_read_archived(current_user, table_oid, database_role)";

/// Counts `entries` archived rows as the toolkit's owner (whom row-level security on the
/// archive does not restrict) and as a role that may read the table they came from, under
/// today's policy and under the row-by-row one it replaced, side by side.
fn read_as_another_role(
    conn: &mut PgConnection,
    database: &str,
    entries: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let reader = format!("{database}_reader");
    conn.batch_execute(&format!(
        "SET softview.allow_truncate = on; TRUNCATE bench_archived, softview.deleted_records;
         INSERT INTO bench_archived (id, name, payload)
         SELECT g, 'row ' || g, repeat('x', 200) FROM generate_series(1, {entries}) g;
         DELETE FROM bench_archived;
         CREATE ROLE {reader}; GRANT SELECT ON bench_archived TO {reader};
         GRANT USAGE ON SCHEMA softview TO {reader};"
    ))?;
    conn.batch_execute("VACUUM ANALYZE softview.deleted_records")?;
    let today: String = diesel::sql_query(
        "SELECT pg_get_expr(polqual, polrelid) AS n FROM pg_policy
         WHERE polrelid = 'softview.deleted_records'::regclass AND polname = 'readable'",
    )
    .get_result::<PolicyText>(conn)?
    .n;
    let count_as = |conn: &mut PgConnection, role: Option<&str>, policy: &str| {
        conn.batch_execute(&format!(
            "ALTER POLICY readable ON softview.deleted_records USING ({policy})"
        ))?;
        let mut times = Vec::new();
        for _ in 0..7 {
            if let Some(role) = role {
                conn.batch_execute(&format!("SET ROLE {role}"))?;
            }
            let started = Instant::now();
            conn.batch_execute("SELECT count(*) FROM softview.deleted_records")?;
            times.push(started.elapsed());
            conn.batch_execute("RESET ROLE")?;
        }
        Ok::<_, diesel::result::Error>(median(&mut times))
    };
    let owner = count_as(conn, None, &today)?;
    let row_by_row = count_as(conn, Some(&reader), ROW_BY_ROW_POLICY)?;
    let per_query = count_as(conn, Some(&reader), &today)?;
    conn.batch_execute(&format!(
        "ALTER POLICY readable ON softview.deleted_records USING ({today});
         DROP OWNED BY {reader}; DROP ROLE {reader};"
    ))?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "counting {entries} archived rows, median of 7: as the toolkit's owner, and as a role that may read their table"
    );
    println!(
        "{:>10} {:>22} {:>22} {:>14} {:>14}",
        "owner", "reader, row by row", "reader, per query", "before/owner", "after/owner"
    );
    println!(
        "{:>8.1}ms {:>20.1}ms {:>20.1}ms {:>13.1}x {:>13.1}x",
        ms(owner),
        ms(row_by_row),
        ms(per_query),
        row_by_row.as_secs_f64() / owner.as_secs_f64(),
        per_query.as_secs_f64() / owner.as_secs_f64()
    );
    Ok(())
}

#[derive(QueryableByName)]
struct PolicyText {
    #[diesel(sql_type = diesel::sql_types::Text)]
    n: String,
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
