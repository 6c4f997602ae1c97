//! What `softview.preview` says an action will do is what the action then does: on a deep
//! chain, a wide fan, and random forests with links, dependent rows, references set to NULL
//! and references that refuse, for soft deletes, restores and hard deletes. Each case measures
//! the real action (every view and table counted before and after) and rolls it back.

use std::collections::BTreeMap;

use softview::lifecycle::by_key::{self, Action, Effect, EffectKind};

use crate::common::{count, db, exec, sql_error, text};

const SCHEMA: &str = "
    CREATE TABLE v_nodes (id int PRIMARY KEY, parent_id int REFERENCES v_nodes ON DELETE CASCADE,
                          deleted_at timestamptz);
    CREATE TABLE v_tags (id int PRIMARY KEY, deleted_at timestamptz);
    CREATE TABLE v_links (id int PRIMARY KEY, node_id int NOT NULL REFERENCES v_nodes ON DELETE CASCADE,
                          tag_id int NOT NULL REFERENCES v_tags ON DELETE CASCADE, deleted_at timestamptz);
    CREATE TABLE v_marks (id int PRIMARY KEY, link_id int NOT NULL REFERENCES v_links ON DELETE CASCADE);
    CREATE TABLE v_notes (id int PRIMARY KEY, node_id int REFERENCES v_nodes ON DELETE SET NULL);
    CREATE TABLE v_pins (id int PRIMARY KEY, tag_id int REFERENCES v_tags);
    SELECT softview.enable('v_nodes'), softview.enable('v_tags'), softview.enable('v_links'),
           softview.enable_dependent('v_marks');";

const TABLES: [&str; 6] = [
    "v_nodes", "v_tags", "v_links", "v_marks", "v_notes", "v_pins",
];
const VIEWS: [&str; 4] = ["v_nodes", "v_tags", "v_links", "v_marks"];

/// Rows each view shows and rows each table stores, and notes whose reference is set.
fn state(conn: &mut diesel::PgConnection) -> BTreeMap<String, i64> {
    let mut state = BTreeMap::new();
    for view in VIEWS {
        state.insert(
            format!("view {view}"),
            count(conn, &format!("SELECT count(*) FROM active_{view}")),
        );
    }
    for table in TABLES {
        state.insert(
            format!("table {table}"),
            count(conn, &format!("SELECT count(*) FROM {table}")),
        );
    }
    state.insert(
        "notes set".into(),
        count(
            conn,
            "SELECT count(*) FROM v_notes WHERE node_id IS NOT NULL",
        ),
    );
    state
}

fn rows(effects: &[Effect], table: &str, kind: EffectKind) -> i64 {
    let name = format!("public.{table}");
    effects
        .iter()
        .filter(|e| e.table == name && e.kind == kind)
        .map(|e| e.rows.unwrap_or(0))
        .sum()
}

/// Previews `action`, does it, and checks the preview against what changed; all rolled back.
fn check(conn: &mut diesel::PgConnection, table: &str, id: i64, action: Action, case: &str) {
    exec(conn, "BEGIN");
    let key = [id.to_string()];
    let in_view = |conn: &mut diesel::PgConnection| {
        count(
            conn,
            &format!("SELECT count(*) FROM active_{table} WHERE id = {id}"),
        ) == 1
    };
    exec(conn, "SAVEPOINT preview");
    let effects = match by_key::preview(conn, table, &key, action) {
        Ok(effects) => effects,
        Err(error) => {
            exec(conn, "ROLLBACK TO SAVEPOINT preview");
            // Not the action's outcome: the action itself fails the same way.
            let outcome = match action {
                Action::SoftDelete => by_key::soft_delete(conn, table, &key),
                Action::Restore => by_key::restore(conn, table, &key),
                Action::HardDelete => by_key::hard_delete(conn, table, &key),
            };
            assert_eq!(
                outcome.unwrap_err().to_string(),
                error.to_string(),
                "{case}"
            );
            exec(conn, "ROLLBACK");
            return;
        }
    };
    let visible_before = in_view(conn);
    let before = state(conn);
    exec(conn, "SAVEPOINT action");
    let done = match action {
        Action::SoftDelete => by_key::soft_delete(conn, table, &key),
        Action::Restore => by_key::restore(conn, table, &key),
        Action::HardDelete => by_key::hard_delete(conn, table, &key)
            .inspect(|_| exec(conn, "SET CONSTRAINTS ALL IMMEDIATE")),
    };
    if let Some(refusal) = effects.iter().find(|e| e.kind == EffectKind::Refused) {
        let error = done.expect_err(case).to_string();
        assert!(error.contains("still referenced"), "{case}: {error}");
        assert!(
            refusal
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("is still referenced from table"),
            "{case}: {refusal:?}"
        );
        exec(conn, "ROLLBACK");
        return;
    }
    done.unwrap_or_else(|e| {
        panic!("{case}: the action failed after a preview of {effects:?}: {e}")
    });
    let visible_after = in_view(conn);
    let after = state(conn);
    let change = |name: String| after[&name] - before[&name];
    for view in VIEWS {
        let itself = view == table;
        match action {
            Action::SoftDelete => {
                let root = i64::from(itself && visible_before);
                assert_eq!(
                    -change(format!("view {view}")),
                    rows(&effects, view, EffectKind::Hidden) + root,
                    "{case}: hidden from {view}: {effects:?}"
                );
            }
            Action::Restore => {
                let root = i64::from(itself && visible_after);
                assert_eq!(
                    change(format!("view {view}")),
                    rows(&effects, view, EffectKind::Shown) + root,
                    "{case}: shown in {view}: {effects:?}"
                );
                if itself {
                    assert_eq!(
                        rows(&effects, view, EffectKind::StillHidden) == 1,
                        !visible_after,
                        "{case}: {effects:?}"
                    );
                }
            }
            Action::HardDelete => {}
        }
    }
    if action == Action::HardDelete {
        for t in TABLES {
            assert_eq!(
                -change(format!("table {t}")),
                rows(&effects, t, EffectKind::Deleted),
                "{case}: deleted from {t}: {effects:?}"
            );
        }
        assert_eq!(
            -change("notes set".into()),
            rows(&effects, "v_notes", EffectKind::Changed),
            "{case}: {effects:?}"
        );
    }
    exec(conn, "ROLLBACK");
}

#[test]
fn a_deep_chain_and_a_wide_fan() {
    let (_db, mut conn) = db();
    let conn = &mut conn;
    exec(conn, SCHEMA);
    // A chain of 40 nodes, each with a link and a mark; a root with 300 children.
    exec(
        conn,
        "INSERT INTO v_tags VALUES (1, NULL), (2, NULL);
         INSERT INTO v_nodes SELECT g, CASE WHEN g > 1 THEN g - 1 END, NULL FROM generate_series(1, 40) g;
         INSERT INTO v_nodes VALUES (100, NULL, NULL);
         INSERT INTO v_nodes SELECT g, 100, NULL FROM generate_series(101, 400) g;
         INSERT INTO v_links SELECT g, g, 1 + g % 2, NULL FROM generate_series(1, 40) g;
         INSERT INTO v_links SELECT g, g, 1, NULL FROM generate_series(101, 400) g;
         INSERT INTO v_marks SELECT g, g FROM generate_series(1, 40) g;
         INSERT INTO v_notes SELECT g, g FROM generate_series(1, 400, 3) g WHERE g <= 40 OR g >= 100;",
    );
    let effects = by_key::preview(conn, "v_nodes", &["1".into()], Action::SoftDelete).unwrap();
    assert_eq!(rows(&effects, "v_nodes", EffectKind::SoftDeleted), 1);
    assert_eq!(rows(&effects, "v_nodes", EffectKind::Hidden), 39);
    assert_eq!(rows(&effects, "v_links", EffectKind::Hidden), 40);
    assert_eq!(rows(&effects, "v_marks", EffectKind::Hidden), 40);
    let wide = by_key::preview(conn, "v_nodes", &["100".into()], Action::HardDelete).unwrap();
    assert_eq!(rows(&wide, "v_nodes", EffectKind::Deleted), 301);
    assert_eq!(rows(&wide, "v_links", EffectKind::Deleted), 300);
    assert_eq!(rows(&wide, "v_notes", EffectKind::Changed), 101);
    // A tag hides the links of every node it is attached to, but not the nodes.
    let tag = by_key::preview(conn, "v_tags", &["1".into()], Action::SoftDelete).unwrap();
    assert_eq!(rows(&tag, "v_links", EffectKind::Hidden), 320);
    assert_eq!(rows(&tag, "v_marks", EffectKind::Hidden), 20);
    assert_eq!(rows(&tag, "v_nodes", EffectKind::Hidden), 0);
    for (table, id) in [
        ("v_nodes", 1),
        ("v_nodes", 20),
        ("v_nodes", 100),
        ("v_tags", 1),
        ("v_links", 5),
    ] {
        for action in [Action::SoftDelete, Action::HardDelete] {
            check(conn, table, id, action, &format!("{table} {id} {action:?}"));
        }
    }
    // Undo of a node deep in a chain whose ancestor is also deleted: it stays hidden, and so
    // does its subtree.
    exec(
        conn,
        "UPDATE v_nodes SET deleted_at = now() WHERE id IN (5, 10)",
    );
    let undo = by_key::preview(conn, "v_nodes", &["10".into()], Action::Restore).unwrap();
    assert_eq!(rows(&undo, "v_nodes", EffectKind::StillHidden), 1);
    assert_eq!(rows(&undo, "v_nodes", EffectKind::Shown), 0);
    assert!(
        undo.iter()
            .any(|e| e.detail.as_deref() == Some("public.v_nodes (id)=(9) is deleted or hidden")),
        "{undo:?}"
    );
    let undo = by_key::preview(conn, "v_nodes", &["5".into()], Action::Restore).unwrap();
    assert_eq!(
        rows(&undo, "v_nodes", EffectKind::Shown),
        4,
        "6 to 9; 10 is deleted itself"
    );
    check(conn, "v_nodes", 5, Action::Restore, "restore 5");
    check(conn, "v_nodes", 10, Action::Restore, "restore 10");
}

#[test]
fn refusals_and_mistakes() {
    let (_db, mut conn) = db();
    let conn = &mut conn;
    exec(conn, SCHEMA);
    exec(
        conn,
        "INSERT INTO v_tags VALUES (1, NULL); INSERT INTO v_pins VALUES (1, 1);",
    );
    let before = text(
        conn,
        "SELECT string_agg(to_jsonb(t)::text, ',') FROM v_tags t",
    );
    let effects = by_key::preview(conn, "v_tags", &["1".into()], Action::HardDelete).unwrap();
    assert_eq!(effects.len(), 1);
    assert_eq!(effects[0].kind, EffectKind::Refused);
    assert_eq!(effects[0].table, "public.v_pins");
    assert_eq!(
        effects[0].detail.as_deref(),
        Some(
            "update or delete on table \"v_tags\" violates foreign key constraint \"v_pins_tag_id_fkey\" on table \"v_pins\". Key (id)=(1) is still referenced from table \"v_pins\"."
        )
    );
    assert_eq!(
        text(
            conn,
            "SELECT string_agg(to_jsonb(t)::text, ',') FROM v_tags t"
        ),
        before
    );
    assert_eq!(
        count(conn, "SELECT count(*) FROM softview.deleted_records"),
        0,
        "the preview's archive entry is rolled back"
    );
    // Mistakes are errors, as the action would raise them.
    let (state, message) = sql_error(
        conn,
        "SELECT * FROM softview.preview('v_tags', '{1}', 'purge')",
    );
    assert_eq!(state, "22023");
    assert_eq!(message, "invalid action for public.v_tags: purge");
    let (state, message) = sql_error(
        conn,
        "SELECT * FROM softview.preview('v_tags', '{1}', 'restore')",
    );
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("SV004", "row is not deleted: public.v_tags")
    );
    let (state, message) = sql_error(
        conn,
        "SELECT * FROM softview.preview('v_marks', '{1}', 'soft_delete')",
    );
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("42809", "table is not soft-deletable: public.v_marks")
    );
    let (state, message) = sql_error(
        conn,
        "SELECT * FROM softview.preview('v_tags', '{1,2}', 'hard_delete')",
    );
    assert_eq!(state, "22023");
    assert!(
        message.starts_with("bad key for public.v_tags"),
        "{message}"
    );
    // An actor required by the table refuses a hard delete previewed without one.
    exec(
        conn,
        "DELETE FROM v_pins; SELECT softview.require_actor('v_tags')",
    );
    let effects = by_key::preview(conn, "v_tags", &["1".into()], Action::HardDelete).unwrap();
    assert_eq!(effects[0].kind, EffectKind::Refused);
    assert!(
        effects[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("actor required: public.v_tags"),
        "{effects:?}"
    );
}

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[test]
fn random_forests_agree_with_what_the_actions_do() {
    let (_db, mut conn) = db();
    let conn = &mut conn;
    exec(conn, SCHEMA);
    for seed in 1..=12u64 {
        let rng = &mut Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let nodes = 5 + rng.below(30);
        let mut sql = String::from("TRUNCATE v_nodes, v_tags, v_links, v_marks, v_notes, v_pins;");
        let deleted = |rng: &mut Rng| if rng.below(5) == 0 { "now()" } else { "NULL" };
        for id in 1..=nodes {
            let parent = if id == 1 || rng.below(4) == 0 {
                "NULL".to_owned()
            } else {
                (1 + rng.below(id - 1)).to_string()
            };
            sql += &format!(
                "INSERT INTO v_nodes VALUES ({id}, {parent}, {});",
                deleted(rng)
            );
        }
        for id in 1..=4 {
            sql += &format!("INSERT INTO v_tags VALUES ({id}, {});", deleted(rng));
        }
        for id in 1..=nodes * 2 {
            sql += &format!(
                "INSERT INTO v_links VALUES ({id}, {}, {}, {});",
                1 + rng.below(nodes),
                1 + rng.below(4),
                deleted(rng)
            );
            if rng.below(2) == 0 {
                sql += &format!("INSERT INTO v_marks VALUES ({id}, {id});");
            }
        }
        for id in 1..=nodes / 2 {
            sql += &format!(
                "INSERT INTO v_notes VALUES ({id}, {});",
                1 + rng.below(nodes)
            );
        }
        if rng.below(2) == 0 {
            sql += &format!("INSERT INTO v_pins VALUES (1, {});", 1 + rng.below(4));
        }
        // TRUNCATE is refused on enabled tables; delete instead, outside the archive's concern.
        let sql = sql.replace(
            "TRUNCATE v_nodes, v_tags, v_links, v_marks, v_notes, v_pins;",
            "DELETE FROM v_pins; DELETE FROM v_notes; DELETE FROM v_marks; DELETE FROM v_links; DELETE FROM v_nodes; DELETE FROM v_tags;",
        );
        exec(conn, &sql);
        for case in 0..25 {
            let (table, id) = match rng.below(3) {
                0 => ("v_nodes", 1 + rng.below(nodes)),
                1 => ("v_tags", 1 + rng.below(4)),
                _ => ("v_links", 1 + rng.below(nodes * 2)),
            };
            let action =
                [Action::SoftDelete, Action::Restore, Action::HardDelete][rng.below(3) as usize];
            check(
                conn,
                table,
                id as i64,
                action,
                &format!("seed {seed} case {case}: {action:?} {table} {id}"),
            );
        }
    }
}
