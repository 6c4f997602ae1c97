//! The read path: live-row queries through softview's views against the same queries written
//! by hand on the base table, against a copy with plain (non-partial) indexes as common
//! generators make them, and against the reference, a copy holding only the live rows.
//!
//! `cargo bench --bench read_path` runs 100,000 and 1,000,000 rows at 0/50/90/99% deleted;
//! SOFTVIEW_BENCH_QUICK=1 runs a small smoke version (tests/bench_smoke.rs does);
//! SOFTVIEW_BENCH_EXPLAIN=1 prints each query's plan. Each query is prepared once on the server
//! and executed through Diesel's connection with a key, as an application's cached statements
//! are; every variant takes the same path, so the ratios compare the queries themselves. A full
//! run draws docs/charts/read_path.svg from the largest scale.

#[path = "support/chart.rs"]
mod chart;

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const VARIANTS: [&str; 4] = ["views", "hand-written", "plain indexes", "live-only"];

/// Each scenario's SQL per variant, in the order of VARIANTS; $1 is a key.
const SCENARIOS: [(&str, [&str; 4]); 4] = [
    (
        "key lookup",
        [
            "SELECT id, name, city FROM sv.active_places WHERE id = $1",
            "SELECT id, name, city FROM sv.places WHERE id = $1 AND deleted_at IS NULL",
            "SELECT id, name, city FROM plain.places WHERE id = $1 AND deleted_at IS NULL",
            "SELECT id, name, city FROM live.places WHERE id = $1",
        ],
    ),
    (
        "list page",
        [
            "SELECT id, name FROM sv.active_places WHERE city = $1 ORDER BY name LIMIT 50",
            "SELECT id, name FROM sv.places WHERE city = $1 AND deleted_at IS NULL ORDER BY name LIMIT 50",
            "SELECT id, name FROM plain.places WHERE city = $1 AND deleted_at IS NULL ORDER BY name LIMIT 50",
            "SELECT id, name FROM live.places WHERE city = $1 ORDER BY name LIMIT 50",
        ],
    ),
    (
        "activity counts",
        [
            "SELECT p.id, p.name, (SELECT count(*) FROM sv.active_links l WHERE l.place_id = p.id)
             FROM sv.active_places p WHERE p.city = $1 ORDER BY p.name LIMIT 20",
            "SELECT p.id, p.name, (SELECT count(*) FROM sv.links l JOIN sv.activities a ON a.id = l.activity_id
                                   WHERE l.place_id = p.id AND l.deleted_at IS NULL AND a.deleted_at IS NULL)
             FROM sv.places p WHERE p.city = $1 AND p.deleted_at IS NULL ORDER BY p.name LIMIT 20",
            "SELECT p.id, p.name, (SELECT count(*) FROM plain.links l JOIN plain.activities a ON a.id = l.activity_id
                                   WHERE l.place_id = p.id AND l.deleted_at IS NULL AND a.deleted_at IS NULL)
             FROM plain.places p WHERE p.city = $1 AND p.deleted_at IS NULL ORDER BY p.name LIMIT 20",
            "SELECT p.id, p.name, (SELECT count(*) FROM live.links l WHERE l.place_id = p.id)
             FROM live.places p WHERE p.city = $1 ORDER BY p.name LIMIT 20",
        ],
    ),
    (
        "reviews join",
        [
            "SELECT r.id, r.rating, p.name FROM sv.active_reviews r JOIN sv.active_places p ON p.id = r.place_id
             WHERE r.place_id = $1 ORDER BY r.created_at DESC LIMIT 20",
            "SELECT r.id, r.rating, p.name FROM sv.reviews r JOIN sv.places p ON p.id = r.place_id
             WHERE r.place_id = $1 AND r.deleted_at IS NULL AND p.deleted_at IS NULL ORDER BY r.created_at DESC LIMIT 20",
            "SELECT r.id, r.rating, p.name FROM plain.reviews r JOIN plain.places p ON p.id = r.place_id
             WHERE r.place_id = $1 AND r.deleted_at IS NULL AND p.deleted_at IS NULL ORDER BY r.created_at DESC LIMIT 20",
            "SELECT r.id, r.rating, p.name FROM live.reviews r JOIN live.places p ON p.id = r.place_id
             WHERE r.place_id = $1 ORDER BY r.created_at DESC LIMIT 20",
        ],
    ),
];

#[allow(dead_code)] // the smoke test calls `run` directly
fn main() -> BenchResult<()> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let explain = std::env::var_os("SOFTVIEW_BENCH_EXPLAIN").is_some();
    let summary = run(quick, explain)?;
    println!("{summary}");
    Ok(())
}

/// Runs every scale and deletion ratio; returns the summary line.
pub fn run(quick: bool, explain: bool) -> BenchResult<String> {
    let (scales, ratios, iterations): (&[i64], &[u32], usize) = if quick {
        (&[5_000], &[0, 90], 60)
    } else {
        (&[100_000, 1_000_000], &[0, 50, 90, 99], 400)
    };
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    let mut worst_vs_live: Option<(f64, String)> = None;
    let mut worst_vs_hand: Option<(f64, String)> = None;
    // Per scenario, per variant: (share deleted, median ms) at the largest scale.
    let mut lines: Vec<[Vec<(f64, f64)>; 4]> =
        SCENARIOS.iter().map(|_| Default::default()).collect();
    for &rows in scales {
        create_data(&mut conn, rows)?;
        for &ratio in ratios {
            delete_fraction(&mut conn, ratio)?;
            println!(
                "\n{rows} rows, {ratio}% deleted: median / p95 per query, ratio of medians to live-only"
            );
            println!(
                "{:<16} {:<14} {:>10} {:>10} {:>8} {:>10}",
                "scenario", "variant", "median", "p95", "vs live", "vs hand"
            );
            for (s, (scenario, queries)) in SCENARIOS.into_iter().enumerate() {
                let keys = keys_for(&mut conn, scenario, iterations)?;
                if explain {
                    for (variant, sql) in VARIANTS.iter().zip(queries) {
                        println!(
                            "-- {scenario} / {variant}\n{}",
                            plan(&mut conn, sql, &keys[0])?
                        );
                    }
                }
                let timings = measure(&mut conn, &queries, &keys)?;
                let medians: Vec<Duration> = timings.iter().map(|t| percentile(t, 0.5)).collect();
                if Some(&rows) == scales.last() {
                    for (line, median) in lines[s].iter_mut().zip(&medians) {
                        line.push((ratio.into(), median.as_secs_f64() * 1e3));
                    }
                }
                for (i, variant) in VARIANTS.iter().enumerate() {
                    let vs_live = medians[i].as_secs_f64() / medians[3].as_secs_f64();
                    let vs_hand = medians[i].as_secs_f64() / medians[1].as_secs_f64();
                    println!(
                        "{scenario:<16} {variant:<14} {:>8.3}ms {:>8.3}ms {:>7.2}x {:>9.2}x",
                        medians[i].as_secs_f64() * 1e3,
                        percentile(&timings[i], 0.95).as_secs_f64() * 1e3,
                        vs_live,
                        vs_hand
                    );
                }
                let views_vs_live = medians[0].as_secs_f64() / medians[3].as_secs_f64();
                let views_vs_hand = medians[0].as_secs_f64() / medians[1].as_secs_f64();
                let at = format!("{scenario}, {rows} rows");
                if ratio == 90
                    && worst_vs_live
                        .as_ref()
                        .is_none_or(|(w, _)| views_vs_live > *w)
                {
                    worst_vs_live = Some((views_vs_live, at.clone()));
                }
                if worst_vs_hand
                    .as_ref()
                    .is_none_or(|(w, _)| views_vs_hand > *w)
                {
                    worst_vs_hand = Some((views_vs_hand, format!("{at}, {ratio}% deleted")));
                }
            }
        }
    }
    let (hand, hand_at) = worst_vs_hand.expect("measured");
    println!("\nworst ratio, views vs hand-written anywhere: {hand:.2}x ({hand_at})");
    if !quick {
        let panels: Vec<chart::Panel> = SCENARIOS
            .iter()
            .zip(lines)
            .map(|((scenario, _), variants)| chart::Panel {
                title: (*scenario).to_owned(),
                x_label: "% of rows deleted",
                y_label: "median ms per query",
                log_x: false,
                log_y: false,
                series: VARIANTS
                    .iter()
                    .zip(variants)
                    .map(|(variant, points)| chart::Series {
                        name: (*variant).to_owned(),
                        points,
                    })
                    .collect(),
            })
            .collect();
        chart::write(
            "read_path",
            &format!(
                "Reading live rows as rows are deleted, {} rows a table (cargo bench --bench read_path)",
                scales.last().expect("a scale")
            ),
            2,
            &panels,
        )?;
    }
    let (live, live_at) = worst_vs_live.expect("measured at 90%");
    Ok(format!(
        "worst ratio, views vs live-only at 90% deleted: {live:.2}x ({live_at})"
    ))
}

/// The same rows in three schemas: `sv` (enabled, partial indexes), `plain` (non-partial
/// indexes); `live` is made per deletion ratio. The list pages' index carries the key
/// (`INCLUDE (id)`) in all three, so that a page is read from the index alone, as a tuned
/// application's would be; without it the sparse heap of a mostly deleted table, not the views,
/// set the activity counts' ratio (docs/benchmarks.md).
fn create_data(conn: &mut PgConnection, rows: i64) -> BenchResult<()> {
    let cities = (rows / 500).max(2);
    for schema in ["sv", "plain"] {
        conn.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
             CREATE TABLE {schema}.places (id bigint PRIMARY KEY, name text NOT NULL, city bigint NOT NULL,
                                           r float8 NOT NULL, deleted_at timestamptz);
             CREATE TABLE {schema}.activities (id bigint PRIMARY KEY, name text NOT NULL, r float8 NOT NULL,
                                               deleted_at timestamptz);
             CREATE TABLE {schema}.links (id bigint PRIMARY KEY, place_id bigint NOT NULL REFERENCES {schema}.places,
                                          activity_id bigint NOT NULL REFERENCES {schema}.activities,
                                          r float8 NOT NULL, deleted_at timestamptz);
             CREATE TABLE {schema}.reviews (id bigint PRIMARY KEY, place_id bigint NOT NULL REFERENCES {schema}.places,
                                            rating int NOT NULL, created_at timestamptz NOT NULL,
                                            r float8 NOT NULL, deleted_at timestamptz);
             SELECT setseed(0.42);
             INSERT INTO {schema}.places SELECT g, 'place ' || g, g % {cities}, random(), NULL
                 FROM generate_series(1, {rows}) g;
             INSERT INTO {schema}.activities SELECT g, 'activity ' || g, random(), NULL
                 FROM generate_series(1, 1000) g;
             INSERT INTO {schema}.links SELECT g, (g::bigint * 7919) % {rows} + 1, g % 1000 + 1, random(), NULL
                 FROM generate_series(1, {rows}) g;
             INSERT INTO {schema}.reviews SELECT g, (g::bigint * 104729) % {rows} + 1, g % 5 + 1,
                    now() - g * interval '1 minute', random(), NULL
                 FROM generate_series(1, {rows}) g;"
        ))?;
    }
    conn.batch_execute(
        "CREATE INDEX ON sv.places (city, name) INCLUDE (id) WHERE deleted_at IS NULL;
         CREATE UNIQUE INDEX ON sv.links (place_id, activity_id) WHERE deleted_at IS NULL;
         CREATE INDEX ON sv.links (activity_id) WHERE deleted_at IS NULL;
         CREATE INDEX ON sv.reviews (place_id, created_at) WHERE deleted_at IS NULL;
         SELECT softview.enable('sv.places'); SELECT softview.enable('sv.activities');
         SELECT softview.enable('sv.links'); SELECT softview.enable('sv.reviews');
         CREATE INDEX ON plain.places (city, name) INCLUDE (id);
         CREATE UNIQUE INDEX ON plain.links (place_id, activity_id, id);
         CREATE INDEX ON plain.links (activity_id);
         CREATE INDEX ON plain.reviews (place_id, created_at);",
    )?;
    Ok(())
}

/// Marks `ratio`% of each table's rows deleted (the same rows in both schemas) and rebuilds
/// the live-only copy from what is left.
fn delete_fraction(conn: &mut PgConnection, ratio: u32) -> BenchResult<()> {
    let fraction = f64::from(ratio) / 100.0;
    for schema in ["sv", "plain"] {
        for table in ["places", "activities", "links", "reviews"] {
            // Activities stay mostly live: deleting 90% of them would empty every count.
            let cut = if table == "activities" {
                fraction / 10.0
            } else {
                fraction
            };
            conn.batch_execute(&format!(
                "UPDATE {schema}.{table} SET deleted_at = CASE WHEN r < {cut} THEN now() END
                 WHERE (deleted_at IS NULL) = (r < {cut})"
            ))?;
        }
    }
    conn.batch_execute(
        "DROP SCHEMA IF EXISTS live CASCADE; CREATE SCHEMA live;
         CREATE TABLE live.places AS SELECT id, name, city FROM sv.active_places;
         CREATE TABLE live.links AS SELECT id, place_id, activity_id FROM sv.active_links;
         CREATE TABLE live.reviews AS SELECT id, place_id, rating, created_at FROM sv.active_reviews;
         ALTER TABLE live.places ADD PRIMARY KEY (id);
         CREATE INDEX ON live.places (city, name) INCLUDE (id);
         CREATE INDEX ON live.links (place_id, activity_id);
         CREATE INDEX ON live.reviews (place_id, created_at);",
    )?;
    conn.batch_execute("VACUUM ANALYZE")?;
    Ok(())
}

/// Keys a user would ask for: live places, their cities.
fn keys_for(conn: &mut PgConnection, scenario: &str, n: usize) -> BenchResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        key: String,
    }
    let column = if scenario == "list page" || scenario == "activity counts" {
        "city"
    } else {
        "id"
    };
    let keys: Vec<Key> = diesel::sql_query(format!(
        "SELECT {column}::text AS key FROM live.places ORDER BY md5(id::text) LIMIT $1"
    ))
    .bind::<BigInt, _>(n as i64)
    .load(conn)?;
    Ok(keys.into_iter().map(|k| k.key).collect())
}

/// Latencies per variant, the variants taking turns on each key so drift hits all alike.
fn measure(
    conn: &mut PgConnection,
    queries: &[&str; 4],
    keys: &[String],
) -> BenchResult<Vec<Vec<Duration>>> {
    conn.batch_execute("DEALLOCATE ALL")?;
    for (i, sql) in queries.iter().enumerate() {
        conn.batch_execute(&format!("PREPARE q{i} (bigint) AS {sql}"))?;
    }
    let mut timings = vec![Vec::with_capacity(keys.len()); queries.len()];
    // Each query runs once untimed before it is timed on the same key: views and hand-written
    // queries read the same pages, and whichever ran first would otherwise warm them for the
    // other. The variants also take turns going first.
    for (k, key) in keys.iter().enumerate() {
        for turn in 0..queries.len() {
            let i = (turn + k) % queries.len();
            let statement = format!("EXECUTE q{i}({key})");
            conn.batch_execute(&statement)?;
            let started = Instant::now();
            conn.batch_execute(&statement)?;
            timings[i].push(started.elapsed());
        }
    }
    Ok(timings)
}

fn plan(conn: &mut PgConnection, sql: &str, key: &str) -> BenchResult<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let lines: Vec<Line> =
        diesel::sql_query(format!("EXPLAIN {}", sql.replace("$1", key))).load(conn)?;
    Ok(lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}
