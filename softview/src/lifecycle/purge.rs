//! Grace periods and the purge: rows deleted longer ago than their table's grace period are
//! hard-deleted (and so archived) in batches, each its own transaction, skipping rows another
//! transaction holds. A restore racing a purge either wins (the row stays, live) or loses (the
//! row is in the archive): the batch and its archive rows commit together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::data_types::PgInterval;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Interval, Nullable, Text};

use crate::error::{Error, Result};

/// What one purge pass does.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    /// Only this table (as `places` or `public.places`); every soft-deletable table when `None`.
    pub table: Option<String>,
    /// Purge rows deleted longer ago than this instead of each table's grace period.
    pub older_than: Option<chrono::Duration>,
    /// Rows per batch, each batch one transaction.
    pub batch_size: i32,
    /// Count what would be purged; change nothing.
    pub dry_run: bool,
}

impl Default for PurgeOptions {
    fn default() -> Self {
        Self {
            table: None,
            older_than: None,
            batch_size: 1000,
            dry_run: false,
        }
    }
}

/// One committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The table, qualified.
    pub table: String,
    /// Rows purged.
    pub rows: i64,
    /// Rows of enabled tables (other ones, or further rows of this one) that the batch's
    /// deletes took with them and archived: `ON DELETE CASCADE` foreign keys, triggers. Per
    /// table, qualified.
    pub cascaded: Vec<(String, i64)>,
    /// How long the batch's transaction held its row locks.
    pub held_for: Duration,
}

/// What a pass purged (or, in a dry run, would purge), per table in purge order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Rows purged per table, including the batches a table committed before it failed.
    pub tables: Vec<(String, i64)>,
    /// Rows the purged rows took with them through `ON DELETE CASCADE`, per table, in name
    /// order. A purge counts what it archived (rows of enabled tables, whatever deleted them);
    /// a dry run follows the cascades' foreign keys into every table, and counts a row two of
    /// them reach on each.
    pub cascaded: Vec<(String, i64)>,
    /// Batches committed.
    pub batches: usize,
    /// The longest a batch held its locks.
    pub longest_batch: Duration,
    /// Tables whose purge failed, with the error; the pass went on with the others.
    pub failures: Vec<TableFailure>,
}

/// A table whose purge stopped on an error; its batches committed before it stay committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFailure {
    /// The table, qualified.
    pub table: String,
    /// The error, as it reads.
    pub message: String,
}

impl PurgeReport {
    /// Rows purged in all.
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }

    /// Rows the cascades took with them, in all.
    pub fn cascaded_rows(&self) -> i64 {
        self.cascaded.iter().map(|(_, n)| n).sum()
    }

    fn add_cascaded(&mut self, rows: &[(String, i64)]) {
        for (table, n) in rows {
            match self.cascaded.binary_search_by(|(t, _)| t.cmp(table)) {
                Ok(i) => self.cascaded[i].1 += n,
                Err(i) => self.cascaded.insert(i, (table.clone(), *n)),
            }
        }
    }
}

#[derive(QueryableByName)]
struct TableRows {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

fn pairs(rows: Vec<TableRows>) -> Vec<(String, i64)> {
    rows.into_iter().map(|r| (r.table_name, r.rows)).collect()
}

/// The rows the last purge batch archived, per table: the archive trigger counts
/// them in `softview.purge_archived` while `softview.purge_batch` runs. Reading them back from
/// the archive would need an index that finds a transaction's newest rows, and its BRIN index
/// reads every range VACUUM has not summarized yet, which is every row archived since.
fn archived_by_purge(conn: &mut PgConnection) -> Result<Vec<(String, i64)>> {
    Ok(pairs(
        diesel::sql_query(
            "SELECT key AS table_name, value::bigint AS rows
             FROM jsonb_each_text(coalesce(nullif(current_setting('softview.purge_archived', true), ''), '{}')::jsonb)
             ORDER BY 1",
        )
        .load(conn)?,
    ))
}

/// The tables a purge takes, children before parents, by their qualified names.
pub fn purge_order(conn: &mut PgConnection, table: Option<&str>) -> Result<Vec<String>> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let names: Vec<Name> = match table {
        Some(table) => {
            diesel::sql_query("SELECT softview_internal.require_soft_deletable($1::regclass)")
                .bind::<Text, _>(table)
                .execute(conn)?;
            diesel::sql_query("SELECT softview_internal.qualified_name($1::regclass) AS name")
                .bind::<Text, _>(table)
                .load(conn)?
        }
        None => diesel::sql_query(
            "SELECT softview_internal.qualified_name(r) AS name FROM softview_internal.purge_order() AS r",
        )
        .load(conn)?,
    };
    Ok(names.into_iter().map(|n| n.name).collect())
}

/// One pass over the tables, after adding the archive's coming partitions (not in a dry run). `on_batch` sees each committed batch (for progress); `stop` is
/// checked between batches, so a pass asked to stop finishes its current batch and returns. A
/// table whose purge fails is listed in [`PurgeReport::failures`] and the pass goes on with the
/// next; bad options and a table that cannot be purged at all are errors before anything runs.
pub fn purge(
    conn: &mut PgConnection,
    options: &PurgeOptions,
    stop: &AtomicBool,
    mut on_batch: impl FnMut(&Batch),
) -> Result<PurgeReport> {
    if options.batch_size < 1 {
        return Err(Error::InvalidArgument(format!(
            "a purge batch must hold at least one row, got {}",
            options.batch_size
        )));
    }
    let older_than = options.older_than.map(interval).transpose()?;
    if let Some(age) = older_than {
        // Checked once, before anything runs, rather than failing every table.
        diesel::select(
            diesel::dsl::sql::<Interval>("softview_internal.checked_age('age to purge from', ")
                .bind::<Interval, _>(age)
                .sql(")"),
        )
        .get_result::<PgInterval>(conn)?;
    }
    if !options.dry_run {
        crate::lifecycle::archive::add_partitions(conn)?;
    }
    let mut report = PurgeReport::default();
    for table in purge_order(conn, options.table.as_deref())? {
        let mut purged = 0;
        let outcome = purge_table(conn, &table, options, older_than, stop, |batch| {
            report.batches += 1;
            report.longest_batch = report.longest_batch.max(batch.held_for);
            report.add_cascaded(&batch.cascaded);
            purged += batch.rows;
            on_batch(batch);
        });
        match outcome {
            Ok(DryRun { rows, cascaded }) => {
                purged += rows;
                report.add_cascaded(&cascaded);
            }
            // Without a connection no other table can be purged either.
            Err(error) if error.is_connection_lost() => return Err(error),
            // One table's failure (a trigger of its own, a lock timeout) does not keep the
            // others from their purge; what it committed stays counted.
            Err(error) => report.failures.push(TableFailure {
                table: table.clone(),
                message: error.to_string(),
            }),
        }
        report.tables.push((table, purged));
    }
    Ok(report)
}

/// What a dry run of one table found; all zero when the purge ran for real.
#[derive(Default)]
struct DryRun {
    rows: i64,
    cascaded: Vec<(String, i64)>,
}

/// Purges one table batch by batch, handing each committed batch to `on_batch`; in a dry run
/// returns what it would purge instead.
fn purge_table(
    conn: &mut PgConnection,
    table: &str,
    options: &PurgeOptions,
    older_than: Option<PgInterval>,
    stop: &AtomicBool,
    mut on_batch: impl FnMut(&Batch),
) -> Result<DryRun> {
    if options.dry_run {
        let rows = diesel::select(
            diesel::dsl::sql::<BigInt>("softview.purgeable(")
                .bind::<Text, _>(table)
                .sql("::regclass, ")
                .bind::<Nullable<Interval>, _>(older_than)
                .sql(")"),
        )
        .get_result(conn)?;
        let cascaded = pairs(
            diesel::sql_query(
                "SELECT table_name, rows FROM softview.purgeable_cascades($1::regclass, $2)",
            )
            .bind::<Text, _>(table)
            .bind::<Nullable<Interval>, _>(older_than)
            .load(conn)?,
        );
        return Ok(DryRun { rows, cascaded });
    }
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let (rows, deleted) = conn.transaction(|conn| -> Result<_> {
            let rows: i64 = diesel::select(
                diesel::dsl::sql::<BigInt>("softview.purge_batch(")
                    .bind::<Text, _>(table)
                    .sql("::regclass, ")
                    .bind::<Integer, _>(options.batch_size)
                    .sql(", ")
                    .bind::<Nullable<Interval>, _>(older_than)
                    .sql(")"),
            )
            .get_result(conn)?;
            let archived = match rows {
                0 => Vec::new(),
                _ => archived_by_purge(conn)?,
            };
            Ok((rows, archived))
        })?;
        if rows == 0 {
            break;
        }
        // What the transaction archived beyond the batch's own rows went with them.
        let cascaded = deleted
            .into_iter()
            .map(|(t, n)| if t == table { (t, n - rows) } else { (t, n) })
            .filter(|(_, n)| *n > 0)
            .collect();
        on_batch(&Batch {
            table: table.to_owned(),
            rows,
            cascaded,
            held_for: started.elapsed(),
        });
    }
    Ok(DryRun::default())
}

/// The grace period of `table` (its own, or the default).
pub fn grace_period(conn: &mut PgConnection, table: &str) -> Result<chrono::Duration> {
    let grace = grace_interval(conn, table)?;
    Ok(chrono::Duration::microseconds(grace.microseconds)
        + chrono::Duration::days(i64::from(grace.days) + 30 * i64::from(grace.months)))
}

/// The grace period of `table` as PostgreSQL holds it, for arithmetic in SQL.
#[doc(hidden)]
pub fn grace_interval(conn: &mut PgConnection, table: &str) -> Result<PgInterval> {
    Ok(diesel::select(
        diesel::dsl::sql::<Interval>("softview.grace_period(")
            .bind::<Text, _>(table)
            .sql("::regclass)"),
    )
    .get_result(conn)?)
}

/// Sets the grace period of `table`; `None` returns it to the default.
pub fn set_grace_period(
    conn: &mut PgConnection,
    table: &str,
    grace: Option<chrono::Duration>,
) -> Result<()> {
    diesel::sql_query("SELECT softview.set_grace_period($1::regclass, $2)")
        .bind::<Text, _>(table)
        .bind::<Nullable<Interval>, _>(grace.map(interval).transpose()?)
        .execute(conn)?;
    Ok(())
}

/// Sets the grace period of every table that has none of its own (30 days to begin with).
pub fn set_default_grace_period(conn: &mut PgConnection, grace: chrono::Duration) -> Result<()> {
    diesel::sql_query("SELECT softview.set_default_grace_period($1)")
        .bind::<Interval, _>(interval(grace)?)
        .execute(conn)?;
    Ok(())
}

fn interval(duration: chrono::Duration) -> Result<PgInterval> {
    if duration < chrono::Duration::zero() {
        return Err(Error::InvalidArgument(format!(
            "a duration must not be negative, got {duration}"
        )));
    }
    // Whole days as days, so that PostgreSQL's messages read `2800000 days`, not hours.
    let days = duration.num_days();
    let micros = (duration - chrono::Duration::days(days))
        .num_microseconds()
        .unwrap_or_default();
    let days = i32::try_from(days)
        .map_err(|_| Error::InvalidArgument(format!("the duration {duration} is too long")))?;
    Ok(PgInterval::new(micros, days, 0))
}
