//! `cargo run --release -p softview-load -- --threads 16 --duration 60`: the example domain
//! under concurrent load, on an r2d2 pool, in a database of its own (on a throwaway PostgreSQL
//! when `DATABASE_URL` is unset). Workers hammer a few keys with insert_or_revive, soft
//! delete, restore and hard delete, delete and restore parents while children and links are
//! inserted through the views, and hard-delete under actors on pooled connections; two
//! purges race their restores; a listener counts the events. Afterwards the invariants are
//! checked on the database; the run fails when any is broken.
//!
//! The seed fixes each thread's choices; the interleaving is the scheduler's.

mod check;
mod report;
mod rng;
mod workload;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use softview::lifecycle::events::Listener;
use softview_devdb::Server;
use softview_example::schema::places;

use crate::report::{Stats, millis, percentile};
use crate::workload::{INITIAL_PLACES, Shared};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// A load run of the example domain that checks softview's invariants.
#[derive(Parser, Debug)]
#[command(version)]
struct Options {
    /// Worker threads, each taking a pooled connection per call.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Seconds of load.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration: u64,
    /// Seeds each thread's choice of calls and keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Purge threads racing the workers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=16))]
    purgers: u16,
}

fn main() -> ExitCode {
    let options = Options::parse();
    match Server::from_env()
        .map_err(Into::into)
        .and_then(|server| run(&server, &options))
    {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("load run failed: an invariant is broken (see above)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the load in a database of its own on `server`, dropped afterwards; true when every
/// invariant held.
fn run(server: &Server, options: &Options) -> Result<bool> {
    let database = format!("softview_load_{}", std::process::id());
    server.create_database(&database, None)?;
    let result = load(&server.url(&database), options);
    server.drop_database(&database)?;
    result
}

fn load(url: &str, options: &Options) -> Result<bool> {
    println!(
        "softview load run: {} threads, {} purges, {} s, seed {}",
        options.threads, options.purgers, options.duration, options.seed
    );
    let mut conn = PgConnection::establish(url)?;
    softview_example::run_migrations(&mut conn)?;
    conn.batch_execute(check::LEDGER_SQL)?;
    let shared = Shared::default();
    let ids: Vec<i64> = diesel::insert_into(places::table)
        .values(
            (1..=INITIAL_PLACES)
                .map(|n| places::name.eq(format!("place {n}")))
                .collect::<Vec<_>>(),
        )
        .returning(places::id)
        .get_results(&mut conn)?;
    for id in ids {
        shared.add("places", id);
    }

    let pool = Pool::builder()
        .max_size(u32::from(options.threads) + u32::from(options.purgers))
        .connection_timeout(Duration::from_secs(30))
        .build(ConnectionManager::<PgConnection>::new(url))?;
    let listener = Listener::connect(url)?;
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.duration);
    let (stats, listened) = std::thread::scope(|scope| {
        let listening = scope.spawn(|| workload::listen(listener, &done));
        let workers: Vec<_> = (0..usize::from(options.threads))
            .map(|worker| {
                let (pool, shared) = (&pool, &shared);
                scope.spawn(move || workload::work(pool, shared, worker, options.seed, deadline))
            })
            .chain((0..options.purgers).map(|_| {
                let (pool, shared) = (&pool, &shared);
                scope.spawn(move || workload::purge_until(pool, shared, deadline))
            }))
            .collect();
        let mut stats = Stats::default();
        for worker in workers {
            stats.merge(worker.join().expect("a load thread panicked"));
        }
        done.store(true, Ordering::SeqCst);
        (stats, listening.join().expect("the listener panicked"))
    });
    let elapsed = started.elapsed();
    let (events, mut lags) = listened?;

    let mut stats = stats;
    println!();
    stats.print(elapsed);
    lags.sort();
    println!(
        "events: {} received; delay from transaction start to delivery p50 {}, p99 {}",
        events.len(),
        millis(percentile(&lags, 50)),
        millis(percentile(&lags, 99))
    );

    println!();
    let mut held = true;
    for verdict in check::all(&mut conn, &shared, &events)? {
        if verdict.broken.is_empty() {
            println!("held    {}", verdict.invariant);
        } else {
            held = false;
            println!(
                "BROKEN  {} ({} cases)",
                verdict.invariant,
                verdict.broken.len()
            );
            for case in verdict.broken.iter().take(20) {
                println!("          {case}");
            }
        }
    }
    Ok(held)
}
