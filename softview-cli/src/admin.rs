//! `softview trash | restore | delete | archive`: the lifecycle on any enabled table of an
//! existing database, through the toolkit's row functions.

use diesel::prelude::*;
use diesel::sql_types::{Jsonb, Text, Timestamptz};

use softview::lifecycle::archive;
use softview::lifecycle::by_key::{self, Action, Effect, EffectKind};
use softview::{Error, Result};

use crate::cli::print_table;

#[derive(QueryableByName)]
struct TrashRow {
    #[diesel(sql_type = Jsonb)]
    primary_key: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    deleted_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = Timestamptz)]
    purge_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = Jsonb)]
    row_data: serde_json::Value,
}

pub fn trash(conn: &mut PgConnection, table: &str) -> Result<()> {
    let rows: Vec<TrashRow> = diesel::sql_query(
        "SELECT primary_key, deleted_at, purge_at, row_data FROM softview.trash($1::regclass)",
    )
    .bind::<Text, _>(table)
    .load(conn)?;
    print_table(
        &["key", "deleted at", "purged after", "row"],
        &rows
            .iter()
            .map(|r| {
                vec![
                    r.primary_key.to_string(),
                    timestamp(r.deleted_at),
                    timestamp(r.purge_at),
                    r.row_data.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    Ok(())
}

pub fn restore(conn: &mut PgConnection, table: &str, key: &[String], dry_run: bool) -> Result<()> {
    let values = by_key::key_values(conn, table, key)?;
    if dry_run {
        return print_preview(conn, table, &values, Action::Restore, "restore");
    }
    let row = by_key::restore(conn, table, &values)?;
    println!("restored {table} {}: {row}", key.join(" "));
    if let Some(parent) = by_key::hidden_by(conn, table, &values)? {
        println!(
            "  it stays hidden while its parent {parent} is deleted or hidden: restore that too"
        );
    }
    Ok(())
}

/// What `softview delete` was asked to do.
pub struct Deletion<'a> {
    pub table: &'a str,
    pub key: &'a [String],
    pub hard: bool,
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub dry_run: bool,
}

pub fn delete(conn: &mut PgConnection, deletion: Deletion<'_>) -> Result<()> {
    let Deletion {
        table,
        key,
        hard,
        actor,
        reason,
        dry_run,
    } = deletion;
    let values = by_key::key_values(conn, table, key)?;
    let (action, what) = if hard {
        (Action::HardDelete, "delete for good")
    } else {
        (Action::SoftDelete, "soft delete")
    };
    let (row, now) = conn.transaction(|conn| {
        let act = |conn: &mut PgConnection| {
            if dry_run {
                return print_preview(conn, table, &values, action, what).map(|()| None);
            }
            let row = if hard {
                by_key::hard_delete(conn, table, &values)?
            } else {
                by_key::soft_delete(conn, table, &values)?
            };
            Ok(Some(row))
        };
        let row = match actor {
            Some(actor) => softview::as_actor(conn, actor, reason, act)?,
            None => act(conn)?,
        };
        let now: String =
            diesel::select(diesel::dsl::sql::<Text>("to_jsonb(now())::text")).get_result(conn)?;
        Ok::<_, Error>((row, now))
    })?;
    let Some(row) = row else {
        return Ok(());
    };
    // A row deleted before keeps its deleted_at; one this call deleted has the transaction's.
    let already = !hard && row.get("deleted_at").map(ToString::to_string) != Some(now);
    let verb = match (hard, already) {
        (true, _) => "deleted for good (archived)",
        (false, true) => "already soft-deleted",
        (false, false) => "soft-deleted",
    };
    println!("{verb} {table} {}: {row}", key.join(" "));
    Ok(())
}

/// Prints what an action would do, a line per table; a refused action is an error.
fn print_preview(
    conn: &mut PgConnection,
    table: &str,
    key: &[String],
    action: Action,
    what: &str,
) -> Result<()> {
    let effects = by_key::preview(conn, table, key, action)?;
    if let Some(refusal) = effects.iter().find(|e| e.kind == EffectKind::Refused) {
        return Err(Error::InvalidArgument(format!(
            "dry run: the {what} would be refused: {}",
            refusal.detail.as_deref().unwrap_or("")
        )));
    }
    println!("dry run: the {what} of {table} {} would", key.join(" "));
    print_table(
        &["table", "rows", "effect"],
        &effects
            .iter()
            .map(|e| {
                vec![
                    e.table.clone(),
                    e.rows.map_or_else(String::new, |n| n.to_string()),
                    effect_words(e),
                ]
            })
            .collect::<Vec<_>>(),
    );
    println!("nothing was changed");
    Ok(())
}

/// An effect in words, as the command line and the console say it.
fn effect_words(effect: &Effect) -> String {
    match effect.kind {
        EffectKind::SoftDeleted => "soft-deleted".into(),
        EffectKind::AlreadyDeleted => "already deleted: stays as it is".into(),
        EffectKind::Restored => "restored".into(),
        EffectKind::StillHidden => format!(
            "still hidden: {}",
            effect.detail.as_deref().unwrap_or("a parent is deleted")
        ),
        EffectKind::Hidden => "hidden from the views with it".into(),
        EffectKind::Shown => "back in the views with it".into(),
        EffectKind::Deleted => "deleted for good".into(),
        EffectKind::Changed => "references set to NULL or their default".into(),
        _ => effect.detail.clone().unwrap_or_default(),
    }
}

pub fn archive_list(conn: &mut PgConnection, table: Option<&str>, limit: i64) -> Result<()> {
    let rows = archive::list(conn, table, limit)?;
    print_table(
        &[
            "id",
            "table",
            "key",
            "archived at",
            "actor",
            "database role",
            "reason",
            "transaction",
        ],
        &rows
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.table_name.clone(),
                    r.primary_key.to_string(),
                    timestamp(r.archived_at),
                    r.actor.clone().unwrap_or_else(|| "-".into()),
                    match (&r.database_role, r.purged) {
                        (Some(role), true) => format!("{role} (purge)"),
                        (Some(role), false) => role.clone(),
                        (None, _) => "-".into(),
                    },
                    r.reason.clone().unwrap_or_else(|| "-".into()),
                    r.transaction_id.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    Ok(())
}

pub fn archive_restore(
    conn: &mut PgConnection,
    id: Option<i64>,
    transaction: Option<i64>,
) -> Result<()> {
    match (id, transaction) {
        (Some(id), None) => {
            let row = archive::restore_any(conn, id)?;
            println!("restored archived row {id}: {row}");
        }
        (None, Some(transaction)) => {
            let restored = archive::restore_transaction(conn, transaction)?;
            println!("restored {restored} row(s) deleted by transaction {transaction}");
        }
        _ => {
            return Err(Error::InvalidArgument(
                "give an archive id or --transaction, not both".into(),
            ));
        }
    }
    Ok(())
}

pub fn archive_partitions(conn: &mut PgConnection) -> Result<()> {
    let partitions = archive::partitions(conn)?;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(timestamp);
    print_table(
        &["partition", "from", "until", "rows (estimate)", "size"],
        &partitions
            .iter()
            .map(|p| {
                let (from, until) = match (time(p.archived_from), time(p.archived_until)) {
                    (None, None) => ("(default: any other time)".to_owned(), String::new()),
                    (None, Some(until)) => ("-".to_owned(), until),
                    (Some(from), until) => (from, until.unwrap_or_default()),
                };
                vec![
                    p.name.clone(),
                    from,
                    until,
                    p.estimated_rows.to_string(),
                    format!("{} kB", p.bytes / 1024),
                ]
            })
            .collect::<Vec<_>>(),
    );
    Ok(())
}

pub fn archive_prune(conn: &mut PgConnection, older_than: chrono::Duration) -> Result<()> {
    let pruned = archive::prune(conn, older_than)?;
    println!(
        "pruned {pruned} archived row(s) older than {}",
        crate::cli::format_age(older_than)
    );
    Ok(())
}

pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%F %T UTC").to_string()
}
