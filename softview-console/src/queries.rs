//! What the pages read besides the library's calls: each enabled table's counts, a table's
//! columns in their order, and a page of the archive.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Oid, Text};
use softview::lifecycle::archive::{self, ArchivedRow};
use softview::toolkit_schema::softview::deleted_records;

/// Above this many rows (by the planner's estimate) the live count is estimated, so that the
/// tables page of a database with huge tables still opens at once.
const EXACT_COUNT_LIMIT: f64 = 200_000.0;

/// An enabled table as the pages name it.
#[derive(QueryableByName, Debug, Clone)]
pub struct EnabledTable {
    #[diesel(sql_type = Oid)]
    pub oid: u32,
    /// Schema-qualified and quoted where needed: what `::regclass` reads back.
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub view: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Bool)]
    pub soft_deletable: bool,
    /// The grace period of a soft-deletable table, in seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub grace_seconds: Option<f64>,
    #[diesel(sql_type = Double)]
    pub estimated_rows: f64,
}

/// The enabled tables that still exist, parents first; `only` picks one by any name
/// `::regclass` reads.
pub fn enabled_tables(
    conn: &mut PgConnection,
    only: Option<&str>,
) -> softview::Result<Vec<EnabledTable>> {
    Ok(diesel::sql_query(
        "SELECT e.relation::oid AS oid, format('%I.%I', e.schema_name, e.table_name) AS name,
                format('%I.%I', e.schema_name, e.view_name) AS view, e.kind, e.soft_deletable,
                CASE WHEN e.soft_deletable THEN extract(epoch FROM softview.grace_period(e.relation))::float8 END AS grace_seconds,
                greatest(c.reltuples, 0)::float8 AS estimated_rows
         FROM softview.enabled_tables e JOIN pg_class c ON c.oid = e.relation
         WHERE $1::text IS NULL OR e.relation = to_regclass($1)
         ORDER BY e.position",
    )
    .bind::<Nullable<Text>, _>(only)
    .load(conn)?)
}

/// A count, exact or from the planner's statistics.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    Exact(i64),
    About(i64),
}

/// One line of the tables page.
#[derive(Debug, Clone)]
pub struct TableCounts {
    pub live: Count,
    pub deleted: Option<i64>,
    pub due: Option<i64>,
    pub archived: i64,
}

/// Counts of one table, read in a savepoint: a table the console's role may not read gives
/// that error and the page goes on with the others.
pub fn counts(
    conn: &mut PgConnection,
    table: &EnabledTable,
    archived: i64,
) -> softview::Result<TableCounts> {
    conn.transaction(|conn| {
        let live = if table.estimated_rows < EXACT_COUNT_LIMIT {
            Count::Exact(count(
                conn,
                &format!("SELECT count(*) AS n FROM {}", table.view),
            )?)
        } else {
            Count::About(table.estimated_rows as i64)
        };
        let (deleted, due) = if table.soft_deletable {
            let deleted = count(
                conn,
                &format!(
                    "SELECT count(*) AS n FROM {} WHERE deleted_at IS NOT NULL",
                    table.name
                ),
            )?;
            let due: i64 = diesel::select(
                diesel::dsl::sql::<BigInt>("softview.purgeable(")
                    .bind::<Oid, _>(table.oid)
                    .sql("::regclass)"),
            )
            .get_result(conn)?;
            (Some(deleted), Some(due))
        } else {
            (None, None)
        };
        Ok(TableCounts {
            live,
            deleted,
            due,
            archived,
        })
    })
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `sql` is built from names PostgreSQL quoted (`format('%I')`), never from a request.
fn count(conn: &mut PgConnection, sql: &str) -> softview::Result<i64> {
    Ok(diesel::sql_query(sql).get_result::<N>(conn)?.n)
}

#[derive(QueryableByName)]
struct ArchivedCount {
    #[diesel(sql_type = Nullable<Oid>)]
    table_oid: Option<u32>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Archive entries per table OID that the console's role may read (one pass over the archive).
pub fn archived_counts(conn: &mut PgConnection) -> softview::Result<Vec<(Option<u32>, i64)>> {
    let rows: Vec<ArchivedCount> = diesel::sql_query(
        "SELECT table_oid, count(*) AS n FROM softview.deleted_records GROUP BY table_oid",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.table_oid, r.n)).collect())
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    attname: String,
}

/// The table's columns in their order (`to_jsonb` sorts them otherwise).
pub fn columns(conn: &mut PgConnection, oid: u32) -> softview::Result<Vec<String>> {
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .bind::<Oid, _>(oid)
    .load(conn)?;
    Ok(columns.into_iter().map(|c| c.attname).collect())
}

/// Archive entries newest first, older than entry `before` (or, when that entry is gone, with
/// smaller numbers), of one table or all.
pub fn archive_page(
    conn: &mut PgConnection,
    table_oid: Option<u32>,
    before: Option<i64>,
    limit: i64,
) -> softview::Result<Vec<ArchivedRow>> {
    archive::newest_first(conn, limit, || {
        let mut query = deleted_records::table.into_boxed();
        if let Some(oid) = table_oid {
            query = query.filter(deleted_records::table_oid.eq(oid));
        }
        if let Some(before) = before {
            query = query.filter(
                diesel::dsl::sql::<Bool>(
                    "CASE WHEN EXISTS (SELECT FROM softview.deleted_records b WHERE b.id = ",
                )
                .bind::<BigInt, _>(before)
                .sql(
                    ") THEN (archived_at, id) < (SELECT b.archived_at, b.id \
                     FROM softview.deleted_records b WHERE b.id = ",
                )
                .bind::<BigInt, _>(before)
                .sql(") ELSE id < ")
                .bind::<BigInt, _>(before)
                .sql(" END"),
            );
        }
        query
    })
}
