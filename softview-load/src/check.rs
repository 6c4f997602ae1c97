//! The invariants a run must hold, checked on the database once the threads have stopped.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::workload::{EventKey, HardDelete, Shared, lock};

/// The enabled tables of the example domain, by the name the archive and events use.
pub const TABLES: &[(&str, &str)] = &[
    ("places", "public.places"),
    ("activities", "public.activities"),
    ("reviews", "public.reviews"),
    ("place_activities", "public.place_activities"),
];

/// Records every committed change the toolkit announces, in the transaction that makes it: a
/// soft delete, a restore, or a row gone (hard delete, purge, cascade). What the listener
/// received is compared with it. The trigger function pins its search_path: it also fires from
/// the toolkit's functions (the purge), which run with `pg_catalog, pg_temp`.
pub const LEDGER_SQL: &str = r#"
CREATE TABLE load_ledger (table_name text NOT NULL, key jsonb NOT NULL, operation text NOT NULL);
CREATE FUNCTION load_ledger_record() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO load_ledger VALUES (
        format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME),
        jsonb_build_object('id', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END),
        CASE WHEN TG_OP = 'DELETE' THEN 'gone'
             WHEN NEW.deleted_at IS NULL THEN 'restore' ELSE 'soft_delete' END);
    RETURN NULL;
END $$;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['places', 'activities', 'reviews', 'place_activities'] LOOP
        EXECUTE format('CREATE TRIGGER load_ledger_soft AFTER UPDATE OF deleted_at ON %I FOR EACH ROW
                        WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
                        EXECUTE FUNCTION load_ledger_record()', t);
        EXECUTE format('CREATE TRIGGER load_ledger_gone AFTER DELETE ON %I FOR EACH ROW
                        EXECUTE FUNCTION load_ledger_record()', t);
    END LOOP;
END $$;
"#;

/// One invariant and what broke it (nothing when it held).
pub struct Verdict {
    pub invariant: &'static str,
    pub broken: Vec<String>,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Archived {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

fn lines(conn: &mut PgConnection, sql: &str) -> QueryResult<Vec<String>> {
    Ok(diesel::sql_query(sql)
        .load::<Line>(conn)?
        .into_iter()
        .map(|l| l.line)
        .collect())
}

pub fn all(
    conn: &mut PgConnection,
    shared: &Shared,
    events: &[EventKey],
) -> QueryResult<Vec<Verdict>> {
    Ok(vec![
        Verdict {
            invariant: "every call answered truthfully, with an expected error or none",
            broken: lock(&shared.violations).clone(),
        },
        Verdict {
            invariant: "never two live rows with one unique key",
            broken: lines(
                conn,
                "SELECT format('activities: %s live rows named %s', count(*), name) AS line
                 FROM activities WHERE deleted_at IS NULL GROUP BY name HAVING count(*) > 1
                 UNION ALL
                 SELECT format('place_activities: %s live links (%s, %s)', count(*), place_id, activity_id)
                 FROM place_activities WHERE deleted_at IS NULL
                 GROUP BY place_id, activity_id HAVING count(*) > 1",
            )?,
        },
        Verdict {
            invariant: "every row a call reported is live or deleted in its table, or archived, exactly once",
            broken: rows_accounted_for(conn, shared)?,
        },
        Verdict {
            invariant: "every committed change announced once, and nothing else",
            broken: events_match_ledger(conn, events)?,
        },
        Verdict {
            invariant: "every hard delete archived under its own actor, never a pooled connection's earlier one",
            broken: actors(conn, &lock(&shared.hard_deletes))?,
        },
    ])
}

fn rows_accounted_for(conn: &mut PgConnection, shared: &Shared) -> QueryResult<Vec<String>> {
    let created = lock(&shared.created);
    let mut broken = Vec::new();
    for &(table, qualified) in TABLES {
        let stored: HashSet<i64> = diesel::sql_query(format!("SELECT id FROM {table}"))
            .load::<Id>(conn)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let mut archived: HashMap<i64, usize> = HashMap::new();
        for row in diesel::sql_query(
            "SELECT (primary_key->>'id')::bigint AS id FROM softview.deleted_records WHERE table_name = $1",
        )
        .bind::<Text, _>(qualified)
        .load::<Id>(conn)?
        {
            *archived.entry(row.id).or_default() += 1;
        }
        let reported: HashSet<i64> = created.get(table).into_iter().flatten().copied().collect();
        for (id, n) in &archived {
            if *n > 1 {
                broken.push(format!("{table} {id}: archived {n} times"));
            }
            if stored.contains(id) {
                broken.push(format!("{table} {id}: archived and still stored"));
            }
        }
        for id in &reported {
            if !stored.contains(id) && !archived.contains_key(id) {
                broken.push(format!(
                    "{table} {id}: reported written, now neither stored nor archived"
                ));
            }
        }
        for id in stored.iter().chain(archived.keys()) {
            if !reported.contains(id) {
                broken.push(format!("{table} {id}: written though no call reported it"));
            }
        }
    }
    Ok(broken)
}

fn events_match_ledger(conn: &mut PgConnection, events: &[EventKey]) -> QueryResult<Vec<String>> {
    let mut balance: BTreeMap<(String, String, &str), i64> = BTreeMap::new();
    for (table, key, what) in events {
        *balance
            .entry((table.clone(), key.to_string(), what))
            .or_default() += 1;
    }
    for line in lines(
        conn,
        "SELECT concat_ws(E'\t', table_name, key::text, operation) AS line FROM load_ledger",
    )? {
        let mut parts = line.splitn(3, '\t');
        let (table, key, what) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let key = serde_json::from_str::<serde_json::Value>(key)
            .map(|k| k.to_string())
            .unwrap_or_else(|_| key.to_owned());
        let what = match what {
            "soft_delete" => "soft_delete",
            "restore" => "restore",
            _ => "gone",
        };
        *balance.entry((table, key, what)).or_default() -= 1;
    }
    Ok(balance
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((table, key, what), n)| {
            if n > 0 {
                format!("{table} {key} {what}: announced {n} more time(s) than committed")
            } else {
                format!(
                    "{table} {key} {what}: committed, announced {} time(s) less",
                    -n
                )
            }
        })
        .collect())
}

fn actors(conn: &mut PgConnection, hard_deletes: &[HardDelete]) -> QueryResult<Vec<String>> {
    let archived: HashMap<(String, i64), Option<String>> = diesel::sql_query(
        "SELECT table_name, (primary_key->>'id')::bigint AS id, actor FROM softview.deleted_records",
    )
    .load::<Archived>(conn)?
    .into_iter()
    .map(|a| ((a.table_name, a.id), a.actor))
    .collect();
    let mut broken = Vec::new();
    for delete in hard_deletes {
        let qualified = format!("public.{}", delete.table);
        match archived.get(&(qualified, delete.id)) {
            None => broken.push(format!(
                "{} {}: hard-deleted, not archived",
                delete.table, delete.id
            )),
            Some(actor) if *actor != delete.actor => broken.push(format!(
                "{} {}: deleted as {:?}, archived as {:?}",
                delete.table, delete.id, delete.actor, actor
            )),
            Some(_) => {}
        }
    }
    // Rows deleted together (a parent and its cascade, a purge batch) share who and why.
    broken.extend(lines(
        conn,
        "SELECT format('transaction %s archived rows under %s actors', transaction_id,
                       count(DISTINCT (coalesce(actor, ''), coalesce(reason, '')))) AS line
         FROM softview.deleted_records GROUP BY transaction_id
         HAVING count(DISTINCT (coalesce(actor, ''), coalesce(reason, ''))) > 1
         UNION ALL
         SELECT format('%s %s: purged under actor %s', table_name, primary_key, actor)
         FROM softview.deleted_records
         WHERE reason LIKE 'deleted more than%' AND actor IS DISTINCT FROM 'softview purge'",
    )?);
    Ok(broken)
}
