//! Inserts through the views against inserts into the base tables, side by side in one run: a
//! child with one parent (reviews), a link with two (place_activities), and a link refused for
//! a missing place (the foreign key's error against the view's), one client and 16.
//! `cargo bench --bench view_writes` (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

const PLACES: i64 = 1_000;
const ACTIVITIES: i64 = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let per_client: i64 = if quick { 100 } else { 2_000 };
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    conn.batch_execute(&format!(
        "INSERT INTO places (id, name) SELECT g, 'place ' || g FROM generate_series(1, {PLACES}) g;
         INSERT INTO activities (id, name) SELECT g, 'activity ' || g FROM generate_series(1, {ACTIVITIES}) g;
         ANALYZE places, activities;"
    ))?;

    println!(
        "single-row inserts, autocommit, {per_client} per client, each side run twice; mean latency per insert"
    );
    println!(
        "{:<8} {:>8} {:>12} {:>12} {:>7}",
        "kind", "clients", "base table", "view", "ratio"
    );
    for clients in [1, 16] {
        for kind in ["child", "link", "refused"] {
            // base, view, view, base: drift on a shared machine weighs on both sides alike.
            let mut totals = [Duration::ZERO; 2];
            for target in ["base", "view", "view", "base"] {
                conn.batch_execute(
                    "SET softview.allow_truncate = on; TRUNCATE reviews, place_activities",
                )?;
                totals[usize::from(target == "view")] +=
                    run(database.url(), kind, target, clients, per_client)?;
            }
            let means = totals.map(|total| total / 2);
            println!(
                "{kind:<8} {clients:>8} {:>10.3}ms {:>10.3}ms {:>6.2}x",
                means[0].as_secs_f64() * 1e3,
                means[1].as_secs_f64() * 1e3,
                means[1].as_secs_f64() / means[0].as_secs_f64()
            );
        }
    }
    Ok(())
}

/// The mean latency of `per_client` inserts from each of `clients` connections at once.
fn run(
    url: &str,
    kind: &'static str,
    target: &'static str,
    clients: i64,
    per_client: i64,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let table = match (kind, target) {
        ("child", "base") => "reviews",
        ("child", _) => "active_reviews",
        (_, "base") => "place_activities",
        _ => "active_place_activities",
    };
    let statement = if kind == "child" {
        format!("INSERT INTO {table} (place_id, rating, body) VALUES ($1, 5, 'fine')")
    } else {
        format!("INSERT INTO {table} (place_id, activity_id) VALUES ($1, $2)")
    };
    // A refused link names a place that does not exist.
    let missing_places = if kind == "refused" { PLACES } else { 0 };
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let (url, statement) = (url.to_owned(), statement.clone());
            std::thread::spawn(move || -> diesel::QueryResult<Duration> {
                let mut conn = PgConnection::establish(&url).expect("connect");
                let started = Instant::now();
                for i in 0..per_client {
                    // Every (place, activity) pair once across all clients.
                    let n = client * per_client + i;
                    let query = diesel::sql_query(&statement)
                        .bind::<BigInt, _>(missing_places + n % PLACES + 1);
                    if kind == "child" {
                        query.execute(&mut conn)?;
                    } else {
                        let outcome = query.bind::<BigInt, _>(n / PLACES + 1).execute(&mut conn);
                        if kind == "refused" {
                            assert!(
                                matches!(
                                    outcome,
                                    Err(diesel::result::Error::DatabaseError(
                                        diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                                        _
                                    ))
                                ),
                                "a link to a missing place was not refused: {outcome:?}"
                            );
                        } else {
                            outcome?;
                        }
                    }
                }
                Ok(started.elapsed() / per_client as u32)
            })
        })
        .collect();
    let mut total = Duration::ZERO;
    for thread in threads {
        total += thread.join().expect("client")?;
    }
    Ok(total / clients as u32)
}
