//! Typed operations on one table, declared once per table with [`soft_deletable!`] or
//! [`hard_deletable!`](crate::hard_deletable).
//!
//! [`soft_deletable!`]: crate::soft_deletable

use diesel::PgConnection;
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::sql_types::Bool;

use crate::error::Result;

/// A deleted row and when a purge will remove it (its `deleted_at` plus the grace period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trashed<R> {
    pub record: R,
    pub purge_at: chrono::DateTime<chrono::Utc>,
}

/// A filter on table `T`, for the `…_where` operations: `Box::new(places::name.eq("Mill"))`.
pub type Filter<T> = Box<dyn BoxableExpression<T, Pg, SqlType = Bool>>;

/// A table whose rows are soft-deleted (it has `deleted_at` and `softview.enable` made its view).
///
/// Every operation takes the connection so it can join the caller's transaction, runs in a
/// savepoint of its own, and leaves the database as it was when it fails.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a soft-deletable table",
    label = "no `softview::soft_deletable!` declaration for this table",
    note = "enable the table with `SELECT softview.enable('…')` in a migration and declare it \
            with `softview::soft_deletable!`; to remove rows of other tables use \
            `softview::hard_deletable!` and `Delete::delete`"
)]
pub trait SoftDelete: diesel::Table + Copy {
    /// The primary key: a value, or a tuple for a composite key.
    type Key: Clone + std::fmt::Debug;
    /// The admin model on the base table, `deleted_at` included.
    type Record;

    /// The schema-qualified table name, as the archive records it.
    const NAME: &'static str;

    /// Soft-deletes the row. A row already deleted is returned as it is, keeping its
    /// `deleted_at`; a missing row is [`Error::NotFound`](crate::Error::NotFound).
    fn soft_delete(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;

    /// Soft-deletes the live rows matching `filter`; returns how many.
    fn soft_delete_where(self, conn: &mut PgConnection, filter: Filter<Self>) -> Result<usize>;

    /// Brings a soft-deleted row back. A live row is [`Error::NotDeleted`](crate::Error::NotDeleted);
    /// a unique key now held by a live row is [`Error::UniqueConflict`](crate::Error::UniqueConflict).
    fn restore(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;

    /// Restores the deleted rows matching `filter`; returns how many.
    fn restore_where(self, conn: &mut PgConnection, filter: Filter<Self>) -> Result<usize>;

    /// Deletes the row for good; the archive keeps a copy.
    fn hard_delete(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;

    /// The row, deleted or not.
    fn find_any(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;

    /// The deleted rows, newest first, with when a purge will remove each.
    fn trash(self, conn: &mut PgConnection) -> Result<Vec<Trashed<Self::Record>>>;

    /// Puts an archived row of this table back, read from its JSON into [`Self::Record`];
    /// the archive entry goes once the insert commits.
    fn restore_archived(self, conn: &mut PgConnection, archive_id: i64) -> Result<Self::Record>;
}

/// Insert a row, or bring back the deleted row that holds the same unique key.
pub trait InsertOrRevive<New>: SoftDelete {
    /// Revives the most recently deleted row whose unique key matches `new` (setting the
    /// other columns from `new`), or inserts `new` when there is none. A live row holding the
    /// key is [`Error::UniqueConflict`](crate::Error::UniqueConflict).
    fn insert_or_revive(self, conn: &mut PgConnection, new: New) -> Result<Self::Record>;
}

/// "Delete" as the table allows: a soft delete on a soft-deletable table, a hard delete on any
/// other, chosen at compile time by the table's declaration.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no delete behaviour declared",
    note = "declare it with `softview::soft_deletable!` or `softview::hard_deletable!`"
)]
pub trait Delete: diesel::Table + Copy {
    type Key;
    /// Deletes the row; returns how many rows changed (0 for a row already soft-deleted).
    fn delete(self, conn: &mut PgConnection, key: Self::Key) -> Result<usize>;
}

/// Declares a table soft-deletable: implements [`SoftDelete`] and [`Delete`] for it, and with
/// `revive:` also [`InsertOrRevive`].
///
/// ```ignore
/// softview::soft_deletable!(places, record: PlaceRecord, key: i64);
/// softview::soft_deletable!(activities, record: ActivityRecord, key: i64,
///                           revive: NewActivity<'_>, by: [name]);
/// ```
#[macro_export]
macro_rules! soft_deletable {
    ($table:ident, record: $record:ty, key: $key:ty $(,)?) => {
        impl $crate::lifecycle::SoftDelete for $table::table {
            type Key = $key;
            type Record = $record;
            const NAME: &'static str = concat!("public.", stringify!($table));

            fn soft_delete(
                self,
                conn: &mut diesel::PgConnection,
                key: $key,
            ) -> $crate::Result<$record> {
                use diesel::prelude::*;
                conn.transaction(|conn| {
                    let deleted = diesel::update(self.find(key.clone()))
                        .filter($table::deleted_at.is_null())
                        .set($table::deleted_at.eq(diesel::dsl::now.into_sql::<diesel::sql_types::Timestamptz>().nullable()))
                        .returning(<$record>::as_returning())
                        .get_result(conn)
                        .optional()?;
                    match deleted {
                        Some(record) => Ok(record),
                        None => self.find_any(conn, key),
                    }
                })
            }

            fn soft_delete_where(
                self,
                conn: &mut diesel::PgConnection,
                filter: $crate::lifecycle::Filter<Self>,
            ) -> $crate::Result<usize> {
                use diesel::prelude::*;
                Ok(diesel::update(self.filter(filter).filter($table::deleted_at.is_null()))
                    .set($table::deleted_at.eq(diesel::dsl::now.into_sql::<diesel::sql_types::Timestamptz>().nullable()))
                    .execute(conn)?)
            }

            fn restore(self, conn: &mut diesel::PgConnection, key: $key) -> $crate::Result<$record> {
                use diesel::prelude::*;
                conn.transaction(|conn| {
                    let deleted_at: Option<$crate::__private::DateTime<$crate::__private::Utc>> = self
                        .find(key.clone())
                        .select($table::deleted_at)
                        .for_update()
                        .first(conn)
                        .optional()?
                        .ok_or_else(|| $crate::Error::not_found(Self::NAME, &key))?;
                    if deleted_at.is_none() {
                        return Err($crate::Error::NotDeleted {
                            table: Self::NAME.to_owned(),
                            key: format!("{key:?}"),
                        });
                    }
                    Ok(diesel::update(self.find(key))
                        .set($table::deleted_at.eq(None::<$crate::__private::DateTime<$crate::__private::Utc>>))
                        .returning(<$record>::as_returning())
                        .get_result(conn)?)
                })
            }

            fn restore_where(
                self,
                conn: &mut diesel::PgConnection,
                filter: $crate::lifecycle::Filter<Self>,
            ) -> $crate::Result<usize> {
                use diesel::prelude::*;
                conn.transaction(|conn| {
                    Ok(diesel::update(self.filter(filter).filter($table::deleted_at.is_not_null()))
                        .set($table::deleted_at.eq(None::<$crate::__private::DateTime<$crate::__private::Utc>>))
                        .execute(conn)?)
                })
            }

            fn hard_delete(self, conn: &mut diesel::PgConnection, key: $key) -> $crate::Result<$record> {
                use diesel::prelude::*;
                conn.transaction(|conn| {
                    diesel::delete(self.find(key.clone()))
                        .returning(<$record>::as_returning())
                        .get_result(conn)
                        .optional()?
                        .ok_or_else(|| $crate::Error::not_found(Self::NAME, &key))
                })
            }

            fn find_any(self, conn: &mut diesel::PgConnection, key: $key) -> $crate::Result<$record> {
                use diesel::prelude::*;
                self.find(key.clone())
                    .select(<$record>::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| $crate::Error::not_found(Self::NAME, &key))
            }

            fn trash(
                self,
                conn: &mut diesel::PgConnection,
            ) -> $crate::Result<Vec<$crate::lifecycle::Trashed<$record>>> {
                use diesel::prelude::*;
                let purge_at = diesel::dsl::sql::<diesel::sql_types::Timestamptz>(concat!(
                    stringify!($table),
                    ".deleted_at + softview.grace_period('",
                    stringify!($table),
                    "'::regclass)"
                ));
                let rows: Vec<($record, $crate::__private::DateTime<$crate::__private::Utc>)> = self
                    .filter($table::deleted_at.is_not_null())
                    .order($table::deleted_at.desc())
                    .select((<$record>::as_select(), purge_at))
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|(record, purge_at)| $crate::lifecycle::Trashed { record, purge_at })
                    .collect())
            }

            fn restore_archived(
                self,
                conn: &mut diesel::PgConnection,
                archive_id: i64,
            ) -> $crate::Result<$record> {
                use diesel::prelude::*;
                conn.transaction(|conn| {
                    let row_data = $crate::lifecycle::take_archived(conn, Self::NAME, archive_id)?;
                    let record: $record = $crate::__private::serde_json::from_value(row_data).map_err(|e| {
                        $crate::Error::ArchiveDecode {
                            archive_id,
                            message: e.to_string(),
                        }
                    })?;
                    Ok(diesel::insert_into(self)
                        .values(&record)
                        .returning(<$record>::as_returning())
                        .get_result(conn)?)
                })
            }
        }

        impl $crate::lifecycle::Delete for $table::table {
            type Key = $key;

            fn delete(self, conn: &mut diesel::PgConnection, key: $key) -> $crate::Result<usize> {
                use diesel::prelude::*;
                Ok(diesel::update(self.find(key))
                    .filter($table::deleted_at.is_null())
                    .set($table::deleted_at.eq(diesel::dsl::now.into_sql::<diesel::sql_types::Timestamptz>().nullable()))
                    .execute(conn)?)
            }
        }
    };
    ($table:ident, record: $record:ty, key: $key:ty, revive: $new:ty, by: [$($unique:ident),+ $(,)?] $(,)?) => {
        $crate::soft_deletable!($table, record: $record, key: $key);

        impl $crate::lifecycle::InsertOrRevive<$new> for $table::table {
            fn insert_or_revive(
                self,
                conn: &mut diesel::PgConnection,
                new: $new,
            ) -> $crate::Result<$record> {
                use diesel::prelude::*;
                conn.transaction(|conn| {
                    let deleted_key = self
                        $(.filter($table::$unique.eq(&new.$unique)))+
                        .filter($table::deleted_at.is_not_null())
                        .order($table::deleted_at.desc())
                        .select(<Self as diesel::Table>::primary_key(&self))
                        .for_update()
                        .first::<$key>(conn)
                        .optional()?;
                    let live_holder = self
                        $(.filter($table::$unique.eq(&new.$unique)))+
                        .filter($table::deleted_at.is_null());
                    let held = diesel::select(diesel::dsl::exists(live_holder)).get_result::<bool>(conn)?;
                    match deleted_key {
                        Some(key) if !held => Ok(diesel::update(self.find(key))
                            .set((&new, $table::deleted_at.eq(None::<$crate::__private::DateTime<$crate::__private::Utc>>)))
                            .returning(<$record>::as_returning())
                            .get_result(conn)?),
                        _ => Ok(diesel::insert_into(self)
                            .values(&new)
                            .returning(<$record>::as_returning())
                            .get_result(conn)?),
                    }
                })
            }
        }
    };
}

/// Declares a table without soft delete: [`Delete`] removes its rows for good.
#[macro_export]
macro_rules! hard_deletable {
    ($table:ident, key: $key:ty $(,)?) => {
        impl $crate::lifecycle::Delete for $table::table {
            type Key = $key;

            fn delete(self, conn: &mut diesel::PgConnection, key: $key) -> $crate::Result<usize> {
                use diesel::prelude::*;
                Ok(diesel::delete(self.find(key)).execute(conn)?)
            }
        }
    };
}
