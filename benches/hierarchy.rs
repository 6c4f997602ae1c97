//! The price of hiding descendants with their ancestors: the view of a table that refers to
//! itself walks each row's ancestors. A 100,000-row tree of depth 10, read through its view,
//! against the same rows in a table without the self-reference (whose view has no walk), side
//! by side in one run. `cargo bench --bench hierarchy` (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let (rows, probes) = if quick {
        (10_000_i64, 50)
    } else {
        (100_000, 400)
    };
    let per_level = rows / 10;
    let database = softview_devdb::test_database(&softview_example::TEMPLATE)?;
    let mut conn = database.connect()?;
    // Level 1 holds the roots; each row of level n + 1 hangs under one of level n. One root in
    // a hundred is deleted, which hides its whole subtree.
    conn.batch_execute(&format!(
        "CREATE TABLE tree_tasks (id bigint PRIMARY KEY, parent_id bigint REFERENCES tree_tasks,
                                  title text NOT NULL, deleted_at timestamptz);
         CREATE TABLE flat_tasks (id bigint PRIMARY KEY, parent_id bigint,
                                  title text NOT NULL, deleted_at timestamptz);
         INSERT INTO tree_tasks
         SELECT g, CASE WHEN g > {per_level}
                        THEN ((g - 1) / {per_level} - 1) * {per_level} + ((g - 1) % {per_level} + g % 3) % {per_level} + 1
                   END,
                md5(g::text),
                CASE WHEN g <= {per_level} AND g % 100 = 0 THEN now() END
         FROM generate_series(1, {rows}) g;
         INSERT INTO flat_tasks SELECT * FROM tree_tasks;
         CREATE INDEX ON tree_tasks (parent_id);
         CREATE INDEX ON flat_tasks (parent_id);
         CREATE INDEX ON tree_tasks (title) WHERE deleted_at IS NULL;
         CREATE INDEX ON flat_tasks (title) WHERE deleted_at IS NULL;
         SELECT softview.enable('tree_tasks'), softview.enable('flat_tasks');"
    ))?;
    conn.batch_execute("VACUUM ANALYZE tree_tasks, flat_tasks")?;

    println!(
        "{rows} rows, depth 10, 1% of the roots deleted; {probes} probes each, medians, each query warm"
    );
    println!(
        "{:<34} {:>12} {:>12} {:>7}",
        "scenario", "flat", "hierarchy", "ratio"
    );
    let deepest = rows - per_level + 1;
    for (scenario, query) in [
        (
            "key lookup (deepest level)",
            "SELECT count(*) FROM active_{} WHERE id = {}",
        ),
        (
            "list page (title > k LIMIT 50)",
            "SELECT count(*) FROM (SELECT * FROM active_{} WHERE title > md5({}::text) ORDER BY title LIMIT 50) s",
        ),
    ] {
        let mut times = [Vec::new(), Vec::new()];
        for probe in 0..probes {
            let key = deepest + (probe * 7919) % per_level;
            for (side, table) in ["flat_tasks", "tree_tasks"].iter().enumerate() {
                let sql = query
                    .replacen("{}", table, 1)
                    .replacen("{}", &key.to_string(), 1);
                conn.batch_execute(&sql)?;
                let started = Instant::now();
                conn.batch_execute(&sql)?;
                times[side].push(started.elapsed());
            }
        }
        let (flat, tree) = (median(&mut times[0]), median(&mut times[1]));
        println!(
            "{scenario:<34} {:>10.3}ms {:>10.3}ms {:>6.2}x",
            flat.as_secs_f64() * 1000.0,
            tree.as_secs_f64() * 1000.0,
            tree.as_secs_f64() / flat.as_secs_f64()
        );
    }
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
