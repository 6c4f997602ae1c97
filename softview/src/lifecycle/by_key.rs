//! The lifecycle of any enabled table by a text key, for tools that learn their tables at run
//! time: the `softview` command and the admin console. A key is one text per primary-key
//! column, cast by the toolkit to each column's type, so `["7"]` or `["1", "2"]`.
//!
//! Applications that know their tables at compile time use [`Lifecycle`](crate::Lifecycle)
//! instead; both end in the same SQL.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz};

use crate::error::{Error, Result};

/// Splits a key the way a person types it: one value per column as given, or, for a table
/// whose primary key has several columns, one `1,2` split on commas. Values are kept as
/// written, spaces and all.
pub fn key_values(conn: &mut PgConnection, table: &str, key: &[String]) -> Result<Vec<String>> {
    let [single] = key else {
        return Ok(key.to_vec());
    };
    let columns: Option<i32> = diesel::select(
        diesel::dsl::sql::<Nullable<Integer>>(
            "(SELECT cardinality(primary_key) FROM softview.enabled_tables WHERE relation = to_regclass(",
        )
        .bind::<Text, _>(table)
        .sql("))"),
    )
    .get_result(conn)?;
    Ok(match columns {
        Some(n) if n > 1 => single.split(',').map(str::to_owned).collect(),
        _ => vec![single.clone()],
    })
}

/// Soft-deletes a row (one already deleted keeps its `deleted_at`) and returns it.
pub fn soft_delete(
    conn: &mut PgConnection,
    table: &str,
    key: &[String],
) -> Result<serde_json::Value> {
    row_function(conn, "softview.soft_delete_row", table, key)
}

/// Restores a soft-deleted row and returns it. See [`hidden_by`] for a row that stays out of
/// its view because a parent is deleted.
pub fn restore(conn: &mut PgConnection, table: &str, key: &[String]) -> Result<serde_json::Value> {
    row_function(conn, "softview.restore_row", table, key)
}

/// Deletes a row for good (the archive keeps a copy, with the actor of [`as_actor`](crate::as_actor))
/// and returns it.
pub fn hard_delete(
    conn: &mut PgConnection,
    table: &str,
    key: &[String],
) -> Result<serde_json::Value> {
    row_function(conn, "softview.hard_delete_row", table, key)
}

/// The parent row that keeps a stored, not deleted row out of its view, as
/// `public.places (id)=(1)`; `None` when the view shows the row.
pub fn hidden_by(conn: &mut PgConnection, table: &str, key: &[String]) -> Result<Option<String>> {
    Ok(diesel::select(
        diesel::dsl::sql::<Nullable<Text>>("softview.hidden_by(")
            .bind::<Text, _>(table)
            .sql("::regclass, ")
            .bind::<Array<Text>, _>(key)
            .sql(")"),
    )
    .get_result(conn)?)
}

/// The stored row `key` of `table`, deleted or not, as JSON; `None` when there is none.
pub fn stored_row(
    conn: &mut PgConnection,
    table: &str,
    key: &[String],
) -> Result<Option<serde_json::Value>> {
    Ok(diesel::select(
        diesel::dsl::sql::<Nullable<Jsonb>>("softview.stored_row(")
            .bind::<Text, _>(table)
            .sql("::regclass, ")
            .bind::<Array<Text>, _>(key)
            .sql(")"),
    )
    .get_result(conn)?)
}

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

/// Which stored rows [`browse`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shown {
    /// The rows the table's view shows.
    #[default]
    Live,
    /// Rows deleted themselves (for a dependent table: hidden with a parent).
    Deleted,
    /// Every stored row.
    All,
}

impl Shown {
    /// The name the toolkit and the console's URLs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Shown::Live => "live",
            Shown::Deleted => "deleted",
            Shown::All => "all",
        }
    }
}

impl std::str::FromStr for Shown {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "live" => Ok(Shown::Live),
            "deleted" => Ok(Shown::Deleted),
            "all" => Ok(Shown::All),
            _ => Err(Error::InvalidArgument(format!(
                "unknown row filter {s:?}: use live, deleted or all"
            ))),
        }
    }
}

/// Where a stored row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Its view shows it.
    Live,
    /// Soft-deleted itself.
    Deleted,
    /// Not deleted, but out of its view while a parent row is deleted or hidden.
    Hidden,
}

/// One stored row of a table, as an admin screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    /// The primary key as text, column by column: what the row functions take.
    pub key: Vec<String>,
    /// The whole row, as `to_jsonb` writes it.
    pub row: serde_json::Value,
    /// Live, deleted or hidden.
    pub state: RowState,
    /// When it was soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When a purge may remove it (its `deleted_at` plus the table's grace period).
    pub purge_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct BrowsedRow {
    #[diesel(sql_type = Array<Text>)]
    key: Vec<String>,
    #[diesel(sql_type = Jsonb)]
    row_data: serde_json::Value,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    deleted_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    purge_at: Option<DateTime<Utc>>,
}

/// A page of `table`'s stored rows in primary-key order, starting after the key `after`
/// (`None` for the first page): keyset pagination, so the millionth page costs what the first
/// does. At most `page_size` (1 to 10,000) rows.
pub fn browse(
    conn: &mut PgConnection,
    table: &str,
    shown: Shown,
    after: Option<&[String]>,
    page_size: i32,
) -> Result<Vec<StoredRow>> {
    let rows: Vec<BrowsedRow> = diesel::sql_query(
        "SELECT key, row_data, state, deleted_at, purge_at FROM softview.browse($1::regclass, $2, $3, $4)",
    )
    .bind::<Text, _>(table)
    .bind::<Text, _>(shown.as_str())
    .bind::<Nullable<Array<Text>>, _>(after)
    .bind::<Integer, _>(page_size)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| StoredRow {
            key: r.key,
            row: r.row_data,
            state: match r.state.as_str() {
                "live" => RowState::Live,
                "deleted" => RowState::Deleted,
                _ => RowState::Hidden,
            },
            deleted_at: r.deleted_at,
            purge_at: r.purge_at,
        })
        .collect())
}

/// An action on one row, for [`preview`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// [`soft_delete`].
    SoftDelete,
    /// [`restore`].
    Restore,
    /// [`hard_delete`].
    HardDelete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::SoftDelete => "soft_delete",
            Action::Restore => "restore",
            Action::HardDelete => "hard_delete",
        }
    }
}

/// What an action does to the rows of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EffectKind {
    /// The row itself is soft-deleted.
    SoftDeleted,
    /// The row itself was deleted before; a soft delete leaves it as it is.
    AlreadyDeleted,
    /// The row itself is restored.
    Restored,
    /// The restored row stays out of its view: a parent is deleted or hidden (in `detail`).
    StillHidden,
    /// Rows that leave the views with the row (children, links, descendants).
    Hidden,
    /// Rows that come back into the views with the row.
    Shown,
    /// Rows deleted for good: the row and what foreign keys cascade to.
    Deleted,
    /// Rows whose references foreign keys set to NULL or their default.
    Changed,
    /// The action would fail; `detail` says why (a row still referencing it, a unique key
    /// taken, an actor required, a privilege missing).
    Refused,
}

/// One line of a [`preview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The table, schema-qualified.
    pub table: String,
    /// What happens to its rows.
    pub kind: EffectKind,
    /// How many rows; `None` for [`EffectKind::Refused`].
    pub rows: Option<i64>,
    /// Why, for [`EffectKind::StillHidden`] and [`EffectKind::Refused`].
    pub detail: Option<String>,
}

#[derive(QueryableByName)]
struct EffectRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    effect: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    rows: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    detail: Option<String>,
}

/// What `action` on the row `key` of `table` would do, table by table, before it is done: what
/// a soft delete hides with the row, what a hard delete deletes, changes or is refused by, what
/// a restore brings back. The toolkit (`softview.preview`) does the action and rolls it back,
/// so the numbers are those the action then has, unless other transactions change the rows in
/// between. A hard delete runs under the caller's actor (see [`as_actor`](crate::as_actor)), as
/// the delete itself will. Errors that are not the action's outcome (no such row, a restore
/// of a live row) are returned as the action would return them.
pub fn preview(
    conn: &mut PgConnection,
    table: &str,
    key: &[String],
    action: Action,
) -> Result<Vec<Effect>> {
    let rows: Vec<EffectRow> = diesel::sql_query(
        "SELECT table_name, effect, rows, detail FROM softview.preview($1::regclass, $2, $3)",
    )
    .bind::<Text, _>(table)
    .bind::<Array<Text>, _>(key)
    .bind::<Text, _>(action.as_str())
    .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let kind = match r.effect.as_str() {
                "soft_deleted" => EffectKind::SoftDeleted,
                "already_deleted" => EffectKind::AlreadyDeleted,
                "restored" => EffectKind::Restored,
                "still_hidden" => EffectKind::StillHidden,
                "hidden" => EffectKind::Hidden,
                "shown" => EffectKind::Shown,
                "deleted" => EffectKind::Deleted,
                "changed" => EffectKind::Changed,
                "refused" => EffectKind::Refused,
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "softview.preview returned an effect this crate does not know: {other}"
                    )));
                }
            };
            Ok(Effect {
                table: r.table_name,
                kind,
                rows: r.rows,
                detail: r.detail,
            })
        })
        .collect()
}
