//! Migrations that change a big table without blocking its writers.
//!
//! `softview.enable` builds the indexes it needs inside its own transaction, and a plain
//! `CREATE INDEX` blocks every write to the table until it is done: seconds at tens of millions
//! of rows. The steps here build them first with `CREATE INDEX CONCURRENTLY`, which PostgreSQL
//! runs only outside a transaction block and one statement at a time: so each such step is a
//! migration of its own, run with `run_in_transaction = false` (`softview migration` writes
//! them). The enable that follows finds its indexes built and holds its locks only for catalog
//! changes.
//!
//! [`partial_unique_steps`] does the same for the other slow change an enabled table asks for:
//! replacing unique indexes that deleted rows hold keys in with partial ones.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::error::Result;

/// One migration: `up` and `down` are each a single statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What the step does, fit for a migration directory name (`build_places_trash`).
    pub name: String,
    /// The statement that applies the step.
    pub up: String,
    /// The statement that reverts it.
    pub down: String,
    /// False for `CONCURRENTLY` statements, which PostgreSQL refuses inside a transaction.
    pub in_transaction: bool,
}

/// How the table is enabled (see `softview.enable` and `softview.enable_dependent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enable {
    /// The table has `deleted_at`.
    WithDeletedAt,
    /// The table has no `deleted_at`; its rows hide with their parents.
    Dependent,
}

/// The steps that enable `table` online: one concurrent build per index the enable would
/// otherwise build under its locks (none when they exist), then the enable itself. Its parents
/// must be enabled already, since the indexes on their live keys depend on them.
pub fn enable_steps(conn: &mut PgConnection, table: &str, how: Enable) -> Result<Vec<Step>> {
    #[derive(QueryableByName)]
    struct Statement {
        #[diesel(sql_type = Text)]
        index_name: String,
        #[diesel(sql_type = Text)]
        statement: String,
    }
    let builds: Vec<Statement> = diesel::sql_query(
        "SELECT index_name, statement FROM softview.online_index_statements($1::regclass)",
    )
    .bind::<Text, _>(table)
    .load(conn)?;
    // A SQL string literal (standard_conforming_strings, on since PostgreSQL 9.1).
    let quoted = format!("'{}'", table.replace('\'', "''"));
    let function = match how {
        Enable::WithDeletedAt => "softview.enable",
        Enable::Dependent => "softview.enable_dependent",
    };
    let mut steps: Vec<Step> = builds
        .into_iter()
        .map(|build| Step {
            name: format!("build_{}", unqualified(&build.index_name)),
            up: build.statement,
            down: format!("DROP INDEX CONCURRENTLY IF EXISTS {}", build.index_name),
            in_transaction: false,
        })
        .collect();
    steps.push(Step {
        name: format!("enable_{}", unqualified(table)),
        up: format!("SELECT {function}({quoted})"),
        down: format!("SELECT softview.disable({quoted})"),
        in_transaction: true,
    });
    Ok(steps)
}

/// A unique index [`partial_unique_steps`] leaves full, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptIndex {
    /// The index, schema-qualified.
    pub index_name: String,
    /// Why it stays: the foreign keys that reference it.
    pub reason: String,
}

/// The steps that replace each unique index of an enabled `table` that deleted rows hold keys
/// in with a partial one (`WHERE deleted_at IS NULL`): build the partial twin concurrently,
/// then retire the full index. Unique keys that foreign keys reference must hold every row's
/// key; they are returned apart and left alone.
///
/// Queries that name the index's columns in `ON CONFLICT` must then add the predicate:
/// `ON CONFLICT (email) WHERE deleted_at IS NULL`.
pub fn partial_unique_steps(
    conn: &mut PgConnection,
    table: &str,
) -> Result<(Vec<Step>, Vec<KeptIndex>)> {
    #[derive(QueryableByName)]
    struct Replacement {
        #[diesel(sql_type = Text)]
        index_name: String,
        #[diesel(sql_type = Nullable<Text>)]
        partial_name: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        build: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        retire: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        unretire: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        kept_because: Option<String>,
    }
    let rows: Vec<Replacement> = diesel::sql_query(
        "SELECT index_name, partial_name, build, retire, unretire, kept_because
         FROM softview.partial_unique_statements($1::regclass)",
    )
    .bind::<Text, _>(table)
    .load(conn)?;
    let mut steps = Vec::new();
    let mut kept = Vec::new();
    for row in rows {
        match (row.partial_name, row.build, row.retire, row.unretire) {
            (Some(partial), Some(build), Some(retire), Some(unretire)) => {
                let retire_in_transaction = !retire.contains(" CONCURRENTLY ");
                steps.push(Step {
                    name: format!("build_{}", unqualified(&partial)),
                    up: build,
                    down: format!("DROP INDEX CONCURRENTLY IF EXISTS {partial}"),
                    in_transaction: false,
                });
                steps.push(Step {
                    name: format!("retire_{}", unqualified(&row.index_name)),
                    up: retire,
                    down: unretire,
                    in_transaction: retire_in_transaction,
                });
            }
            _ => kept.push(KeptIndex {
                index_name: row.index_name,
                reason: row.kept_because.unwrap_or_default(),
            }),
        }
    }
    Ok((steps, kept))
}

/// The last part of a possibly qualified, possibly quoted name, as letters, digits and `_`.
fn unqualified(name: &str) -> String {
    name.rsplit('.')
        .next()
        .unwrap_or(name)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
