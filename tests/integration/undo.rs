//! Every undo brings back exactly what its step took: random trees, links and references,
//! random soft deletes, hard deletes and purges, each undone by the restore that matches it,
//! and the database (every table, every view) compared with its state before the step.
//! `SOFTVIEW_UNDO_CASES` sets how many cases run (1000 by default), `SOFTVIEW_UNDO_SEED` the
//! first seed; a failure prints the seed that replays it.

use diesel::connection::SimpleConnection;

use crate::common::{count, db, exec, text};

const SCHEMA: &str = "
    CREATE TABLE u_nodes (id int PRIMARY KEY, parent_id int REFERENCES u_nodes ON DELETE CASCADE,
                          deleted_at timestamptz);
    CREATE TABLE u_tags (id int PRIMARY KEY, deleted_at timestamptz);
    CREATE TABLE u_links (id int PRIMARY KEY,
                          node_id int NOT NULL REFERENCES u_nodes ON DELETE CASCADE,
                          tag_id int NOT NULL REFERENCES u_tags ON DELETE CASCADE,
                          deleted_at timestamptz, UNIQUE (node_id, tag_id));
    CREATE TABLE u_notes (id int PRIMARY KEY, node_id int REFERENCES u_nodes ON DELETE SET NULL, body text);
    SELECT softview.enable('u_nodes'), softview.enable('u_tags'), softview.enable('u_links');";

/// Every row of every table and every row each view shows, as one text.
const STATE: &str = "
    SELECT concat_ws(' | ',
        (SELECT string_agg(format('%s<%s%s', id, parent_id, CASE WHEN deleted_at IS NULL THEN '' ELSE ' x' END), ',' ORDER BY id) FROM u_nodes),
        (SELECT string_agg(format('%s%s', id, CASE WHEN deleted_at IS NULL THEN '' ELSE ' x' END), ',' ORDER BY id) FROM u_tags),
        (SELECT string_agg(format('%s:%s-%s%s', id, node_id, tag_id, CASE WHEN deleted_at IS NULL THEN '' ELSE ' x' END), ',' ORDER BY id) FROM u_links),
        (SELECT string_agg(format('%s>%s', id, node_id), ',' ORDER BY id) FROM u_notes),
        'views',
        (SELECT string_agg(id::text, ',' ORDER BY id) FROM active_u_nodes),
        (SELECT string_agg(id::text, ',' ORDER BY id) FROM active_u_tags),
        (SELECT string_agg(id::text, ',' ORDER BY id) FROM active_u_links))";

/// A small deterministic generator (xorshift64*), so that a seed replays a case exactly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The data of one case: a forest of up to 12 nodes, 4 tags, links and notes, some rows
/// soft-deleted long ago (so that a purge takes them) and some lately.
fn populate(rng: &mut Rng) -> String {
    let nodes = 3 + rng.below(10);
    let mut sql = String::new();
    for id in 1..=nodes {
        let parent = if id == 1 || rng.below(4) == 0 {
            "NULL".to_owned()
        } else {
            (1 + rng.below(id - 1)).to_string()
        };
        sql += &format!(
            "INSERT INTO u_nodes VALUES ({id}, {parent}, {});",
            deleted(rng)
        );
    }
    for id in 1..=4 {
        sql += &format!("INSERT INTO u_tags VALUES ({id}, {});", deleted(rng));
    }
    for id in 1..=rng.below(12) {
        sql += &format!(
            "INSERT INTO u_links VALUES ({id}, {}, {}, {}) ON CONFLICT DO NOTHING;",
            1 + rng.below(nodes),
            1 + rng.below(4),
            deleted(rng)
        );
    }
    for id in 1..=rng.below(6) {
        sql += &format!(
            "INSERT INTO u_notes VALUES ({id}, {}, 'note');",
            1 + rng.below(nodes)
        );
    }
    sql
}

fn deleted(rng: &mut Rng) -> &'static str {
    match rng.below(6) {
        0 => "now() - interval '40 days'",
        1 => "now() - interval '1 day'",
        _ => "NULL",
    }
}

/// One step and the undo that matches it, as SQL.
fn step(rng: &mut Rng) -> (String, String) {
    let node = 1 + rng.below(12);
    let tag = 1 + rng.below(4);
    let undo_transaction = "SELECT softview.restore_transaction(pg_current_xact_id()::text::bigint)
                            WHERE EXISTS (SELECT 1 FROM softview.deleted_records)";
    match rng.below(5) {
        0 => (
            format!("DELETE FROM active_u_nodes WHERE id = {node}"),
            format!(
                "SELECT softview.restore_row('u_nodes', ARRAY['{node}'])
                 WHERE EXISTS (SELECT 1 FROM u_nodes WHERE id = {node} AND deleted_at = now())"
            ),
        ),
        1 => (
            format!("DELETE FROM active_u_tags WHERE id = {tag}"),
            format!(
                "SELECT softview.restore_row('u_tags', ARRAY['{tag}'])
                 WHERE EXISTS (SELECT 1 FROM u_tags WHERE id = {tag} AND deleted_at = now())"
            ),
        ),
        2 => (
            format!("DELETE FROM u_nodes WHERE id = {node}"),
            undo_transaction.to_owned(),
        ),
        3 => (
            format!("DELETE FROM u_tags WHERE id = {tag}"),
            undo_transaction.to_owned(),
        ),
        _ => (
            "SELECT softview.purge_batch(t, 1000) FROM softview_internal.purge_order() AS t"
                .to_owned(),
            undo_transaction.to_owned(),
        ),
    }
}

#[test]
fn every_step_is_undone_exactly() {
    let cases: i64 = std::env::var("SOFTVIEW_UNDO_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let first: i64 = std::env::var("SOFTVIEW_UNDO_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (_db, mut conn) = db();
    exec(&mut conn, SCHEMA);
    // How many steps archived rows, and how many nulled references: the cases must reach them.
    let (mut archived, mut nulled) = (0, 0);
    for seed in first..first + cases {
        let mut rng = Rng::new(seed.unsigned_abs());
        // Each case is one transaction, rolled back: the archive holds this case's step only.
        conn.batch_execute("BEGIN").unwrap();
        exec(&mut conn, &populate(&mut rng));
        let before = text(&mut conn, STATE);
        let (act, undo) = step(&mut rng);
        exec(&mut conn, &act);
        archived += count(&mut conn, "SELECT count(*) FROM softview.deleted_records").min(1);
        nulled += count(
            &mut conn,
            "SELECT count(*) FROM softview.changed_references",
        )
        .min(1);
        exec(&mut conn, &undo);
        let after = text(&mut conn, STATE);
        conn.batch_execute("ROLLBACK").unwrap();
        assert_eq!(
            after, before,
            "seed {seed} (replay: SOFTVIEW_UNDO_SEED={seed} SOFTVIEW_UNDO_CASES=1): {act}; then {undo}"
        );
    }
    assert!(
        archived * 5 >= cases && nulled * 20 >= cases,
        "{cases} cases: {archived} archived rows, {nulled} nulled references"
    );
}
