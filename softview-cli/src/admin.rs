//! `softview trash | restore | delete | archive`: the lifecycle on any enabled table of an
//! existing database, through the toolkit's row functions.

use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Jsonb, Nullable, Text, Timestamptz};

use softview::lifecycle::archive;
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

pub fn restore(conn: &mut PgConnection, table: &str, key: &[String]) -> Result<()> {
    let values = key_values(conn, table, key)?;
    let row = row_function(conn, "softview.restore_row", table, &values)?;
    println!("restored {table} {}: {row}", key.join(" "));
    let hidden_by: Option<String> = diesel::select(
        diesel::dsl::sql::<Nullable<Text>>("softview.hidden_by(")
            .bind::<Text, _>(table)
            .sql("::regclass, ")
            .bind::<Array<Text>, _>(&values)
            .sql(")"),
    )
    .get_result(conn)?;
    if let Some(parent) = hidden_by {
        println!(
            "  it stays hidden while its parent {parent} is deleted or hidden: restore that too"
        );
    }
    Ok(())
}

/// A key as the command line takes it: one value per argument, as written (spaces, commas and
/// all). A single argument for a table whose primary key has several columns is split on
/// commas, so that `1,2` names a composite key.
fn key_values(conn: &mut PgConnection, table: &str, key: &[String]) -> Result<Vec<String>> {
    let [single] = key else {
        return Ok(key.to_vec());
    };
    let columns: Option<i32> = diesel::select(diesel::dsl::sql::<Nullable<Integer>>(
        "(SELECT cardinality(primary_key) FROM softview.enabled_tables WHERE relation = to_regclass(",
    )
    .bind::<Text, _>(table)
    .sql("))"))
    .get_result(conn)?;
    Ok(match columns {
        Some(n) if n > 1 => single.split(',').map(str::to_owned).collect(),
        _ => vec![single.clone()],
    })
}

pub fn delete(
    conn: &mut PgConnection,
    table: &str,
    key: &[String],
    hard: bool,
    actor: Option<&str>,
    reason: Option<&str>,
) -> Result<()> {
    let function = if hard {
        "softview.hard_delete_row"
    } else {
        "softview.soft_delete_row"
    };
    let values = key_values(conn, table, key)?;
    let (row, now) = conn.transaction(|conn| {
        let row = match actor {
            Some(actor) => softview::as_actor(conn, actor, reason, |conn| {
                row_function(conn, function, table, &values)
            })?,
            None => row_function(conn, function, table, &values)?,
        };
        let now: String =
            diesel::select(diesel::dsl::sql::<Text>("to_jsonb(now())::text")).get_result(conn)?;
        Ok::<_, Error>((row, now))
    })?;
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

/// Calls one of the toolkit's row functions.
fn row_function(
    conn: &mut PgConnection,
    function: &str,
    table: &str,
    key: &[String],
) -> Result<serde_json::Value> {
    Ok(diesel::select(
        diesel::dsl::sql::<Jsonb>(&format!("{function}("))
            .bind::<Text, _>(table)
            .sql("::regclass, ")
            .bind::<Array<Text>, _>(key)
            .sql(")"),
    )
    .get_result(conn)?)
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
