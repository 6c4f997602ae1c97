//! The archive of hard-deleted rows, `softview.deleted_records`.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Interval, Nullable, Text};

use crate::error::{Error, Result};
use crate::toolkit_schema::softview::deleted_records;

/// One hard-deleted row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = deleted_records, check_for_backend(diesel::pg::Pg))]
pub struct ArchivedRow {
    /// The archive entry.
    pub id: i64,
    /// Schema-qualified, as `public.places`.
    pub table_name: String,
    /// The row's key, as `{"id": 7}`.
    pub primary_key: serde_json::Value,
    /// The whole row, as `to_jsonb` writes it.
    pub row_data: serde_json::Value,
    /// When it was deleted.
    pub archived_at: DateTime<Utc>,
    /// `softview.actor` of the deleting transaction.
    pub actor: Option<String>,
    /// `softview.reason` of the deleting transaction.
    pub reason: Option<String>,
    /// Rows deleted by one transaction (a parent and its cascade) share it.
    pub transaction_id: i64,
    /// The OID of the table it was deleted from, by which the toolkit finds the table (`None`
    /// before toolkit revision 4 when the table was gone by then).
    pub table_oid: Option<u32>,
    /// The database role the delete ran as, recorded by the database (`None` before toolkit
    /// revision 4).
    pub database_role: Option<String>,
    /// The role the deleting session logged in as (`None` before toolkit revision 4).
    pub session_role: Option<String>,
    /// A purge removed the row (it was deleted longer ago than the purge's age).
    pub purged: bool,
}

/// How far back [`newest_first`] looks, window after window, as SQL conditions on archived_at.
/// The archive has no B-tree to read it newest first (each archived row would update one, see
/// `softview/sql/10_catalog.sql`); its BRIN index reads only the ranges a window's rows are in.
const WINDOWS: [&str; 5] = [
    "archived_at > now() - interval '1 hour'",
    "archived_at > now() - interval '1 day'",
    "archived_at > now() - interval '31 days'",
    "archived_at > now() - interval '366 days'",
    "true",
];

/// Up to `limit` rows of `rows` (the archive, filtered), newest first: by the time their
/// transaction began, then by entry. Each window is searched in turn until one holds `limit`
/// rows; the newest `limit` of a window are the newest of the whole archive.
pub fn newest_first<'a>(
    conn: &mut PgConnection,
    limit: i64,
    rows: impl Fn() -> deleted_records::BoxedQuery<'a, Pg>,
) -> Result<Vec<ArchivedRow>> {
    if limit < 1 {
        return Err(Error::InvalidArgument(format!(
            "the archive lists at least one row, got a limit of {limit}"
        )));
    }
    let mut found = Vec::new();
    for window in WINDOWS {
        found = rows()
            .filter(diesel::dsl::sql::<Bool>(window))
            .order((
                deleted_records::archived_at.desc(),
                deleted_records::id.desc(),
            ))
            .limit(limit)
            .load::<ArchivedRow>(conn)?;
        if found.len() as i64 == limit {
            break;
        }
    }
    Ok(found)
}

/// Archived rows, newest first, of one table (`places`, `app.tasks`) or all. A table that no
/// longer exists is matched by name: as written, or unqualified in any schema. Naming a view
/// (`active_places`), a sequence or an index is an error that says so.
pub fn list(conn: &mut PgConnection, table: Option<&str>, limit: i64) -> Result<Vec<ArchivedRow>> {
    let Some(table) = table else {
        return newest_first(conn, limit, || deleted_records::table.into_boxed());
    };
    let not_a_table: Option<String> = diesel::select(
        diesel::dsl::sql::<Nullable<Text>>(
            "(SELECT softview_internal.why_not_enabled(c.oid) FROM pg_class c
          WHERE c.relkind NOT IN ('r', 'p') AND c.oid = to_regclass(",
        )
        .bind::<Text, _>(table)
        .sql("))"),
    )
    .get_result(conn)?;
    if let Some(reason) = not_a_table {
        return Err(Error::InvalidArgument(format!(
            "the archive holds rows of tables, and {table} is not one. {reason}"
        )));
    }
    newest_first(conn, limit, || {
        deleted_records::table.into_boxed().filter(
            diesel::dsl::sql::<Bool>("CASE WHEN to_regclass(")
                .bind::<Text, _>(table)
                .sql(
                    ") IS NOT NULL THEN table_name = softview_internal.qualified_name(to_regclass(",
                )
                .bind::<Text, _>(table)
                .sql(")) ELSE table_name = ")
                .bind::<Text, _>(table)
                .sql(" OR (strpos(")
                .bind::<Text, _>(table)
                .sql(", '.') = 0 AND right(table_name, length(")
                .bind::<Text, _>(table)
                .sql(") + 1) = '.' || ")
                .bind::<Text, _>(table)
                .sql(") END"),
        )
    })
}

/// Checks that archived row `archive_id` belongs to `table` (as Diesel names it, or any name
/// `::regclass` reads) and still fits it, removes it from the archive and returns its JSON,
/// for the caller to insert in the same transaction. The toolkit checks that the caller may
/// read the entry and insert into its table (`softview_internal.take_archived`).
pub fn take_archived(
    conn: &mut PgConnection,
    table: &str,
    archive_id: i64,
) -> Result<serde_json::Value> {
    let (archived_table, table_oid): (String, Option<u32>) = deleted_records::table
        .filter(deleted_records::id.eq(archive_id))
        .select((deleted_records::table_name, deleted_records::table_oid))
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("softview.deleted_records", &archive_id))?;
    let same_table: bool = diesel::select(
        diesel::dsl::sql::<Bool>("")
            .bind::<Nullable<diesel::sql_types::Oid>, _>(table_oid)
            .sql(" IS NOT DISTINCT FROM ")
            .bind::<Text, _>(table)
            .sql("::regclass::oid"),
    )
    .get_result(conn)?;
    if !same_table {
        return Err(Error::ArchiveMismatch {
            archive_id,
            archived_table,
            table: crate::lifecycle::display_name(table),
        });
    }
    diesel::sql_query("SELECT softview_internal.check_archive_drift($1)")
        .bind::<BigInt, _>(archive_id)
        .execute(conn)?;
    Ok(diesel::select(
        diesel::dsl::sql::<diesel::sql_types::Jsonb>("(softview_internal.take_archived(")
            .bind::<BigInt, _>(archive_id)
            .sql(")).row_data"),
    )
    .get_result(conn)?)
}

/// Puts back every row one transaction deleted, parents before children; returns how many.
/// Nothing is restored if one of them no longer fits its table.
pub fn restore_transaction(conn: &mut PgConnection, transaction_id: i64) -> Result<i64> {
    conn.transaction(|conn| {
        Ok(diesel::select(
            diesel::dsl::sql::<BigInt>("softview.restore_transaction(")
                .bind::<BigInt, _>(transaction_id)
                .sql(")"),
        )
        .get_result(conn)?)
    })
}

/// Puts back one archived row of any table, through SQL (the typed way is
/// [`SoftDelete::restore_archived`](crate::lifecycle::SoftDelete::restore_archived)).
/// Returns the row as JSON.
pub fn restore_any(conn: &mut PgConnection, archive_id: i64) -> Result<serde_json::Value> {
    conn.transaction(|conn| {
        Ok(diesel::select(
            diesel::dsl::sql::<diesel::sql_types::Jsonb>("softview.restore_archived(")
                .bind::<BigInt, _>(archive_id)
                .sql(")"),
        )
        .get_result(conn)?)
    })
}

/// Forgets archived rows older than `older_than`; returns how many. Partitions holding only
/// such rows are dropped whole, which takes a short ACCESS EXCLUSIVE lock on the archive at the
/// end of the call; only the toolkit's owner may do it.
pub fn prune(conn: &mut PgConnection, older_than: chrono::Duration) -> Result<i64> {
    if older_than < chrono::Duration::zero() {
        return Err(Error::InvalidArgument(format!(
            "the age to prune from must not be negative, got {older_than}"
        )));
    }
    let interval = diesel::data_types::PgInterval::from_microseconds(
        older_than.num_microseconds().unwrap_or(i64::MAX),
    );
    Ok(diesel::select(
        diesel::dsl::sql::<BigInt>("softview.prune_archive(")
            .bind::<Interval, _>(interval)
            .sql(")"),
    )
    .get_result(conn)?)
}

/// Creates the archive's partitions for the coming week (`softview.add_archive_partitions`);
/// returns how many it created. Every purge pass does it first, so a database whose purge
/// runs needs no other call; rows archived where no partition takes them go to the default
/// partition, and move out when their partition is created.
pub fn add_partitions(conn: &mut PgConnection) -> Result<i32> {
    Ok(
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
            "softview.add_archive_partitions()",
        ))
        .get_result(conn)?,
    )
}

/// A partition of the archive (`softview.archive_partitions`).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Partition {
    /// Schema-qualified, as `softview_internal.deleted_records_20261207`.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// The first archiving time it takes; `None` for the oldest partition after an upgrade
    /// (it takes everything before its end) and for the default partition.
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    pub archived_from: Option<DateTime<Utc>>,
    /// The archiving time it takes rows until (exclusive); `None` for the default partition,
    /// which takes the rows no other partition does.
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    pub archived_until: Option<DateTime<Utc>>,
    /// Rows, as the planner's statistics estimate them (no count is run).
    #[diesel(sql_type = BigInt)]
    pub estimated_rows: i64,
    /// Bytes on disk, indexes included.
    #[diesel(sql_type = BigInt)]
    pub bytes: i64,
}

/// The archive's partitions, oldest first, the default one last.
pub fn partitions(conn: &mut PgConnection) -> Result<Vec<Partition>> {
    Ok(diesel::sql_query(
        "SELECT p.partition::text AS name, p.archived_from, p.archived_until,
                greatest(c.reltuples, 0)::bigint AS estimated_rows,
                pg_total_relation_size(p.partition) AS bytes
         FROM softview.archive_partitions p
         JOIN pg_class c ON c.oid = p.partition",
    )
    .load(conn)?)
}

/// Makes hard deletes of `table` fail unless an actor is set (see [`as_actor`](crate::lifecycle::as_actor)).
pub fn require_actor(conn: &mut PgConnection, table: &str, required: bool) -> Result<()> {
    diesel::sql_query("SELECT softview.require_actor($1::regclass, $2)")
        .bind::<Text, _>(table)
        .bind::<diesel::sql_types::Bool, _>(required)
        .execute(conn)?;
    Ok(())
}
