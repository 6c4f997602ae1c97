//! What the pages read besides the library's calls: each enabled table's counts, a table's
//! columns in their order, and a page of the archive.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Oid, Text};
use softview::lifecycle::archive::{self, ArchivedRow};
use softview::toolkit_schema::softview::deleted_records;

/// Above this many rows (by the planner's estimate) a table's counts, and the archive's, are
/// the planner's estimates, so that the tables page of a database with huge tables still opens
/// at once: counting reads every row (the archive's, or the `_trash` index's deleted rows).
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

impl Count {
    /// The number, exact or not.
    pub fn value(self) -> i64 {
        match self {
            Count::Exact(n) | Count::About(n) => n,
        }
    }
}

/// One line of the tables page.
#[derive(Debug, Clone)]
pub struct TableCounts {
    pub live: Count,
    pub deleted: Option<Count>,
    pub due: Option<Count>,
    pub archived: Count,
}

/// Counts of one table, read in a savepoint: a table the console's role may not read gives
/// that error and the page goes on with the others. `archived` is what [`archived_counts`]
/// found.
pub fn counts(
    conn: &mut PgConnection,
    table: &EnabledTable,
    archived: &ArchivedCounts,
) -> softview::Result<TableCounts> {
    conn.transaction(|conn| {
        let exact = table.estimated_rows < EXACT_COUNT_LIMIT;
        let live = if exact {
            Count::Exact(count(
                conn,
                &format!("SELECT count(*) AS n FROM {}", table.view),
            )?)
        } else {
            Count::About(estimate(conn, &format!("SELECT FROM {}", table.view))?)
        };
        let (deleted, due) = if !table.soft_deletable {
            (None, None)
        } else if !exact {
            let deleted = format!("SELECT FROM {} WHERE deleted_at IS NOT NULL", table.name);
            // The purge's own query for the rows due, as softview.purgeable counts it.
            let due: String = diesel::select(
                diesel::dsl::sql::<Text>("softview_internal.purge_candidates(")
                    .bind::<Oid, _>(table.oid)
                    .sql("::regclass)"),
            )
            .get_result(conn)?;
            (
                Some(Count::About(estimate(conn, &deleted)?)),
                Some(Count::About(estimate(conn, &due)?)),
            )
        } else {
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
            (Some(Count::Exact(deleted)), Some(Count::Exact(due)))
        };
        let archived = match archived {
            ArchivedCounts::Exact(counts) => Count::Exact(
                counts
                    .iter()
                    .find(|(oid, _)| *oid == Some(table.oid))
                    .map_or(0, |(_, n)| *n),
            ),
            ArchivedCounts::Estimated => Count::About(estimate(
                conn,
                &format!(
                    "SELECT FROM softview.deleted_records WHERE table_oid = {}",
                    table.oid
                ),
            )?),
        };
        Ok(TableCounts {
            live,
            deleted,
            due,
            archived,
        })
    })
}

/// The planner's estimate of how many rows `query` returns. `query` is built from names
/// PostgreSQL quoted and numbers, never from a request.
fn estimate(conn: &mut PgConnection, query: &str) -> softview::Result<i64> {
    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Json, column_name = "QUERY PLAN")]
        plan: serde_json::Value,
    }
    let plan = diesel::sql_query(format!("EXPLAIN (FORMAT JSON) {query}"))
        .get_result::<Plan>(conn)?
        .plan;
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0) as i64)
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

/// How the tables page counts the archive.
pub enum ArchivedCounts {
    /// Entries per table OID that the console's role may read, from one pass over the archive.
    Exact(Vec<(Option<u32>, i64)>),
    /// The archive holds more than [`EXACT_COUNT_LIMIT`] rows (by the planner's statistics of
    /// its partitions): each table's count is estimated.
    Estimated,
}

/// The archive's counts for the tables page: exact while the archive is small.
pub fn archived_counts(conn: &mut PgConnection) -> softview::Result<ArchivedCounts> {
    let estimated_rows: f64 = diesel::select(diesel::dsl::sql::<Double>(
        "(SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'softview.deleted_records'::regclass)",
    ))
    .get_result(conn)?;
    if estimated_rows >= EXACT_COUNT_LIMIT {
        return Ok(ArchivedCounts::Estimated);
    }
    let rows: Vec<ArchivedCount> = diesel::sql_query(
        "SELECT table_oid, count(*) AS n FROM softview.deleted_records GROUP BY table_oid",
    )
    .load(conn)?;
    Ok(ArchivedCounts::Exact(
        rows.into_iter().map(|r| (r.table_oid, r.n)).collect(),
    ))
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
