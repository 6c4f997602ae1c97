//! Forgetting a month of archived rows: revision 3's way (one DELETE on a single archive table)
//! against the partitioned archive's (`softview.prune_archive`: whole day partitions dropped,
//! rows deleted only in the day the cut falls in), on the same rows side by side in one run,
//! while another connection keeps archiving single rows into the same archive.
//! `cargo bench --bench prune` (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// The cut falls this long before now, in the middle of a day.
const KEPT_SPAN: &str = "3 days 12 hours";

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn number(conn: &mut PgConnection, sql: &str) -> Result<i64, diesel::result::Error> {
    Ok(diesel::sql_query(sql).get_result::<Number>(conn)?.n)
}

struct Outcome {
    rows: i64,
    took: Duration,
    wal_bytes: i64,
    size_before: i64,
    size_after: i64,
    writes: Vec<Duration>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let (old_rows, kept_rows): (i64, i64) = if quick {
        (100_000, 10_000)
    } else {
        (10_000_000, 1_000_000)
    };
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;

    // The partitioned archive with one partition a day over the month before the cut and the
    // days since, as a month of daily `add_archive_partitions` calls leaves it (now() cannot be
    // moved back, so they are made here).
    conn.batch_execute(&format!(
        "SELECT softview.set_archive_partition_width('day');
         DO $$
         DECLARE
             p regclass;
             day timestamptz;
         BEGIN
             FOR p IN SELECT partition FROM softview.archive_partitions WHERE archived_until IS NOT NULL LOOP
                 EXECUTE format('DROP TABLE %s', p);
             END LOOP;
             FOR day IN SELECT generate_series(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '35 days',
                                               date_trunc('day', now() AT TIME ZONE 'UTC'), interval '1 day')
                           AT TIME ZONE 'UTC' LOOP
                 EXECUTE format('CREATE TABLE softview_internal.%I PARTITION OF softview.deleted_records
                                 FOR VALUES FROM (%L) TO (%L)',
                                'deleted_records_' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD'), day, day + interval '1 day');
             END LOOP;
         END $$;
         SELECT softview.add_archive_partitions();
         INSERT INTO softview.deleted_records (table_name, primary_key, row_data, archived_at, actor, transaction_id)
         SELECT 'public.bench_items', jsonb_build_object('id', g),
                jsonb_build_object('id', g, 'name', 'item ' || g, 'payload', repeat('x', 100), 'deleted_at', now()),
                CASE WHEN g <= {old_rows}
                     THEN now() - interval '{KEPT_SPAN}' - interval '30 days' * (1 - g::float8 / {old_rows})
                     ELSE now() - interval '{KEPT_SPAN}' * ((g - {old_rows})::float8 / {kept_rows}) END,
                'bench', 1000000 + g / 100
         FROM generate_series(1, {old_rows} + {kept_rows}) AS g
         ORDER BY 4;
         CREATE TABLE bench_flat_archive (
             id bigint PRIMARY KEY, table_name text NOT NULL, primary_key jsonb NOT NULL,
             row_data jsonb NOT NULL, archived_at timestamptz NOT NULL DEFAULT now(), actor text,
             reason text, transaction_id bigint NOT NULL, table_oid oid, database_role text,
             session_role text, purged boolean NOT NULL DEFAULT false);
         INSERT INTO bench_flat_archive SELECT * FROM softview.deleted_records ORDER BY archived_at;
         CREATE INDEX ON bench_flat_archive USING brin (transaction_id) WITH (autosummarize = on);
         CREATE INDEX ON bench_flat_archive USING brin (archived_at) WITH (autosummarize = on);
         CREATE SEQUENCE bench_flat_ids START WITH {};",
        old_rows + kept_rows + 1
    ))?;
    conn.batch_execute("VACUUM ANALYZE bench_flat_archive")?;
    conn.batch_execute("VACUUM ANALYZE softview.deleted_records")?;

    let flat = prune_while_archiving(
        database.url(),
        &mut conn,
        "SELECT pg_total_relation_size('bench_flat_archive') AS n",
        &format!(
            "WITH gone AS (DELETE FROM bench_flat_archive WHERE archived_at < now() - interval '{KEPT_SPAN}' RETURNING 1)
             SELECT count(*) AS n FROM gone"
        ),
        "INSERT INTO bench_flat_archive (id, table_name, primary_key, row_data, transaction_id)
         VALUES (nextval('bench_flat_ids'), 'public.bench_items', '{\"id\": 0}', '{\"id\": 0}', 1)",
    )?;
    let partitioned = prune_while_archiving(
        database.url(),
        &mut conn,
        "SELECT sum(pg_total_relation_size(relid))::bigint AS n FROM pg_partition_tree('softview.deleted_records')",
        &format!("SELECT softview.prune_archive(interval '{KEPT_SPAN}') AS n"),
        "INSERT INTO softview.deleted_records (table_name, primary_key, row_data)
         VALUES ('public.bench_items', '{\"id\": 0}', '{\"id\": 0}')",
    )?;

    println!(
        "forgetting the archived rows older than {KEPT_SPAN}: {old_rows} of {} rows, one connection archiving single rows meanwhile",
        old_rows + kept_rows
    );
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>12} {:>12} {:>13} {:>13}",
        "", "rows", "time", "WAL", "size before", "size after", "archive p99", "archive max"
    );
    for (name, o) in [
        ("one DELETE on one table (rev. 3)", &flat),
        ("prune_archive, day partitions", &partitioned),
    ] {
        println!(
            "{:<34} {:>10} {:>8.2} s {:>7} MB {:>9} MB {:>9} MB {:>10.2} ms {:>10.2} ms",
            name,
            o.rows,
            o.took.as_secs_f64(),
            o.wal_bytes / 1_000_000,
            o.size_before / 1_000_000,
            o.size_after / 1_000_000,
            ms(percentile(&o.writes, 0.99)),
            ms(o.writes.iter().max().copied().unwrap_or_default()),
        );
    }
    println!(
        "{:<34} {:>10} {:>9.3}x {:>9.4}x {:>12} {:>11.3}x {:>12.2}x {:>12.2}x",
        "partitioned / one table",
        "",
        partitioned.took.as_secs_f64() / flat.took.as_secs_f64(),
        partitioned.wal_bytes as f64 / flat.wal_bytes as f64,
        "",
        partitioned.size_after as f64 / flat.size_after as f64,
        ms(percentile(&partitioned.writes, 0.99)) / ms(percentile(&flat.writes, 0.99)),
        ms(partitioned.writes.iter().max().copied().unwrap_or_default())
            / ms(flat.writes.iter().max().copied().unwrap_or_default()),
    );
    Ok(())
}

/// Runs `prune` (which returns the rows it forgot as `n`) while another connection runs
/// `archive_one` in a loop, and measures both, with the archive's size (`size`) around it.
fn prune_while_archiving(
    url: &str,
    conn: &mut PgConnection,
    size: &str,
    prune: &str,
    archive_one: &str,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let size_before = number(conn, size)?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, url, archive_one) = (Arc::clone(&stop), url.to_owned(), archive_one.to_owned());
        std::thread::spawn(move || -> Result<Vec<Duration>, diesel::result::Error> {
            let mut conn = PgConnection::establish(&url).expect("connect");
            let mut latencies = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                diesel::sql_query(&archive_one).execute(&mut conn)?;
                latencies.push(started.elapsed());
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(latencies)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let wal_before: String =
        diesel::select(diesel::dsl::sql::<Text>("pg_current_wal_lsn()::text")).get_result(conn)?;
    let started = Instant::now();
    let rows = number(conn, prune)?;
    let took = started.elapsed();
    let wal_bytes = diesel::select(
        diesel::dsl::sql::<BigInt>("pg_wal_lsn_diff(pg_current_wal_lsn(), ")
            .bind::<Text, _>(wal_before)
            .sql("::pg_lsn)::bigint"),
    )
    .get_result(conn)?;
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let writes = writer.join().expect("writer")?;
    Ok(Outcome {
        rows,
        took,
        wal_bytes,
        size_before,
        size_after: number(conn, size)?,
        writes,
    })
}

fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
