//! The typed lifecycle: [`Lifecycle`] gives every Diesel table its methods, each bounded on a
//! declaration that [`soft_deletable!`](crate::soft_deletable) or
//! [`hard_deletable!`](crate::hard_deletable) makes once per table. Calling a method the table
//! is not declared for is a compile error carrying softview's note.

use diesel::PgConnection;
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::query_builder::{QueryBuilder, QueryFragment};
use diesel::sql_types::Bool;

use crate::error::Result;

/// A deleted row and when a purge will remove it (its `deleted_at` plus the grace period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trashed<R> {
    /// The deleted row.
    pub record: R,
    /// When a purge may remove it.
    pub purge_at: chrono::DateTime<chrono::Utc>,
}

/// A filter on table `T`, for the `…_where` operations: `Box::new(places::name.eq("Mill"))`.
pub type Filter<T> = Box<dyn BoxableExpression<T, Pg, SqlType = Bool>>;

/// A table declared to softview, with the Rust type of its primary key: a value, or a tuple
/// for a composite key. Both declaration macros implement it; the key is written once.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not declared to softview",
    label = "no `softview::soft_deletable!` or `softview::hard_deletable!` for this table",
    note = "declare it next to its models: `softview::soft_deletable!(tasks, record: TaskRecord, key: i64);`"
)]
pub trait Declared: diesel::Table + Copy {
    /// The primary key.
    type Key: Clone + std::fmt::Debug;
}

/// A soft-deletable table: it has `deleted_at` and `softview.enable` made its view. Declared
/// with [`soft_deletable!`](crate::soft_deletable); its operations are [`Lifecycle`]'s.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a soft-deletable table",
    label = "no `softview::soft_deletable!` declaration for this table",
    note = "enable the table with `SELECT softview.enable('…')` in a migration and declare it \
            with `softview::soft_deletable!`; to remove rows of other tables use \
            `softview::hard_deletable!` and `Lifecycle::delete`"
)]
pub trait SoftDeletable: Declared {
    /// The admin model on the base table, `deleted_at` included: `Queryable`, `Selectable`,
    /// `Insertable` and `serde::Deserialize` (the archive keeps rows as JSON).
    type Record;

    #[doc(hidden)]
    fn soft_delete_key(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;
    #[doc(hidden)]
    fn soft_delete_filtered(self, conn: &mut PgConnection, filter: Filter<Self>) -> Result<usize>;
    #[doc(hidden)]
    fn restore_key(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;
    #[doc(hidden)]
    fn restore_filtered(self, conn: &mut PgConnection, filter: Filter<Self>) -> Result<usize>;
    #[doc(hidden)]
    fn hard_delete_key(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;
    #[doc(hidden)]
    fn find_any_key(self, conn: &mut PgConnection, key: Self::Key) -> Result<Self::Record>;
    #[doc(hidden)]
    fn load_trash(self, conn: &mut PgConnection) -> Result<Vec<Trashed<Self::Record>>>;
    #[doc(hidden)]
    fn restore_archive_entry(
        self,
        conn: &mut PgConnection,
        archive_id: i64,
    ) -> Result<Self::Record>;
}

/// A table with a delete behaviour: soft for [`soft_deletable!`](crate::soft_deletable),
/// hard for [`hard_deletable!`](crate::hard_deletable).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no delete behaviour declared",
    note = "declare it with `softview::soft_deletable!` or `softview::hard_deletable!`"
)]
pub trait Deletable: Declared {
    #[doc(hidden)]
    fn delete_key(self, conn: &mut PgConnection, key: Self::Key) -> Result<usize>;
}

/// A soft-deletable table whose deleted rows can be revived by a unique key of `New`, declared
/// with `revive: New, by: [columns]` in [`soft_deletable!`](crate::soft_deletable).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot revive rows from `{New}`",
    note = "declare it with `softview::soft_deletable!(table, record: …, key: …, revive: {New}, by: [unique columns])`"
)]
pub trait Revivable<New>: SoftDeletable {
    #[doc(hidden)]
    fn revive_or_insert(self, conn: &mut PgConnection, new: New) -> Result<Self::Record>;
}

/// The lifecycle of rows, on every Diesel table; each method asks for the declaration it
/// needs. Every operation takes the connection so it can join the caller's transaction, runs
/// in a savepoint of its own, and leaves the database as it was when it fails.
pub trait Lifecycle: diesel::Table + Copy {
    /// Soft-deletes the row. A row already deleted is returned as it is, keeping its
    /// `deleted_at`; a missing row is [`Error::NotFound`](crate::Error::NotFound).
    fn soft_delete(
        self,
        conn: &mut PgConnection,
        key: <Self as Declared>::Key,
    ) -> Result<<Self as SoftDeletable>::Record>
    where
        Self: SoftDeletable,
    {
        self.soft_delete_key(conn, key)
    }

    /// Soft-deletes the live rows matching `filter`; returns how many.
    fn soft_delete_where(self, conn: &mut PgConnection, filter: Filter<Self>) -> Result<usize>
    where
        Self: SoftDeletable,
    {
        self.soft_delete_filtered(conn, filter)
    }

    /// Brings a soft-deleted row back. A live row is [`Error::NotDeleted`](crate::Error::NotDeleted);
    /// a unique key now held by a live row is [`Error::UniqueConflict`](crate::Error::UniqueConflict).
    fn restore(
        self,
        conn: &mut PgConnection,
        key: <Self as Declared>::Key,
    ) -> Result<<Self as SoftDeletable>::Record>
    where
        Self: SoftDeletable,
    {
        self.restore_key(conn, key)
    }

    /// Restores the deleted rows matching `filter`; returns how many.
    fn restore_where(self, conn: &mut PgConnection, filter: Filter<Self>) -> Result<usize>
    where
        Self: SoftDeletable,
    {
        self.restore_filtered(conn, filter)
    }

    /// Deletes the row for good; the archive keeps a copy.
    fn hard_delete(
        self,
        conn: &mut PgConnection,
        key: <Self as Declared>::Key,
    ) -> Result<<Self as SoftDeletable>::Record>
    where
        Self: SoftDeletable,
    {
        self.hard_delete_key(conn, key)
    }

    /// The row, deleted or not.
    fn find_any(
        self,
        conn: &mut PgConnection,
        key: <Self as Declared>::Key,
    ) -> Result<<Self as SoftDeletable>::Record>
    where
        Self: SoftDeletable,
    {
        self.find_any_key(conn, key)
    }

    /// The deleted rows, newest first, with when a purge will remove each.
    fn trash(self, conn: &mut PgConnection) -> Result<Vec<Trashed<<Self as SoftDeletable>::Record>>>
    where
        Self: SoftDeletable,
    {
        self.load_trash(conn)
    }

    /// Puts an archived row of this table back, read from its JSON into the record model; the
    /// archive entry goes once the insert commits.
    fn restore_archived(
        self,
        conn: &mut PgConnection,
        archive_id: i64,
    ) -> Result<<Self as SoftDeletable>::Record>
    where
        Self: SoftDeletable,
    {
        self.restore_archive_entry(conn, archive_id)
    }

    /// Revives the most recently deleted row whose unique key matches `new` (setting the
    /// other columns from `new`), or inserts `new` when there is none. A live row holding the
    /// key is [`Error::UniqueConflict`](crate::Error::UniqueConflict).
    fn insert_or_revive<New>(
        self,
        conn: &mut PgConnection,
        new: New,
    ) -> Result<<Self as SoftDeletable>::Record>
    where
        Self: Revivable<New>,
    {
        self.revive_or_insert(conn, new)
    }

    /// "Delete" as the table allows: a soft delete on a soft-deletable table, a hard delete
    /// on a table declared with [`hard_deletable!`](crate::hard_deletable). Returns how many
    /// rows changed (0 for a row already soft-deleted).
    fn delete(self, conn: &mut PgConnection, key: <Self as Declared>::Key) -> Result<usize>
    where
        Self: Deletable,
    {
        self.delete_key(conn, key)
    }
}

impl<T: diesel::Table + Copy> Lifecycle for T {}

/// The table's name as Diesel writes it in SQL: schema-qualified when `table!` names a
/// schema, quoted, with `#[sql_name]` applied. PostgreSQL reads it back with `::regclass`.
pub fn sql_name<T: QueryFragment<Pg>>(table: &T) -> String {
    let mut builder = diesel::pg::PgQueryBuilder::default();
    match table.to_sql(&mut builder, &Pg) {
        Ok(()) => builder.finish(),
        // A table! name always renders; keep the type name rather than fail an error path.
        Err(_) => std::any::type_name::<T>().to_owned(),
    }
}

/// The table's name for error messages: [`sql_name`] with quotes only where needed.
pub fn table_label<T: QueryFragment<Pg>>(table: &T) -> String {
    display_name(&sql_name(table))
}

/// `"app"."tasks"` as `app.tasks`: quotes stay only where a part needs them.
pub fn display_name(sql_name: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = sql_name;
    while let Some(quoted) = rest.strip_prefix('"') {
        let mut part = String::new();
        let mut chars = quoted.char_indices();
        let mut end = quoted.len();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if quoted[i + 1..].starts_with('"') {
                    part.push('"');
                    chars.next();
                } else {
                    end = i + 1;
                    break;
                }
            } else {
                part.push(c);
            }
        }
        let plain = part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        parts.push(if plain {
            part
        } else {
            format!("\"{}\"", part.replace('"', "\"\""))
        });
        rest = quoted[end..].strip_prefix('.').unwrap_or("");
    }
    if parts.is_empty() {
        sql_name.to_owned()
    } else {
        parts.join(".")
    }
}

/// Declares a soft-deletable table: implements [`Declared`], [`SoftDeletable`] and
/// [`Deletable`] for it, and with `revive:` also [`Revivable`], so that [`Lifecycle`]'s methods
/// work on it. The table may be a path (`app::tasks`); its SQL name is Diesel's (schema,
/// `#[sql_name]`). The record model must derive `Queryable`, `Selectable`, `Insertable` and
/// `serde::Deserialize`; the revive model `Insertable` and `AsChangeset`, with fields named as
/// the unique columns.
///
/// ```ignore
/// softview::soft_deletable!(places, record: PlaceRecord, key: i64);
/// softview::soft_deletable!(app::tasks, record: TaskRecord, key: uuid::Uuid);
/// softview::soft_deletable!(activities, record: ActivityRecord, key: i64,
///                           revive: NewActivity<'_>, by: [name]);
/// ```
#[macro_export]
macro_rules! soft_deletable {
    ($($table:ident)::+, record: $record:ty, key: $key:ty $(,)?) => {
        impl $crate::Declared for $($table)::+::table {
            type Key = $key;
        }

        impl $crate::Deletable for $($table)::+::table {
            fn delete_key(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                key: $key,
            ) -> $crate::Result<usize> {
                use $crate::__private::diesel::prelude::*;
                use $crate::__private::diesel::dsl::now;
                Ok($crate::__private::diesel::update(self.find(key))
                    .filter($($table)::+::deleted_at.is_null())
                    .set($($table)::+::deleted_at.eq(now.into_sql::<$crate::__private::diesel::sql_types::Timestamptz>().nullable()))
                    .execute(conn)?)
            }
        }

        impl $crate::SoftDeletable for $($table)::+::table {
            type Record = $record;

            fn soft_delete_key(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                key: $key,
            ) -> $crate::Result<$record> {
                use $crate::__private::diesel::prelude::*;
                use $crate::__private::diesel::dsl::now;
                let soft_delete = |conn: &mut $crate::__private::diesel::PgConnection| {
                    $crate::__private::diesel::update(self.find(key.clone()))
                        .filter($($table)::+::deleted_at.is_null())
                        .set($($table)::+::deleted_at.eq(now.into_sql::<$crate::__private::diesel::sql_types::Timestamptz>().nullable()))
                        .returning(<$record>::as_returning())
                        .get_result(conn)
                        .optional()
                };
                conn.transaction(|conn| {
                    if let Some(record) = soft_delete(conn)? {
                        return Ok(record);
                    }
                    // Not live in the update's snapshot. Lock the row before reading it: a
                    // restore that committed since makes it live again, and then it is deleted now.
                    let locked: Option<($record, Option<$crate::__private::DateTime<$crate::__private::Utc>>)> = self
                        .find(key.clone())
                        .select((<$record>::as_select(), $($table)::+::deleted_at))
                        .for_no_key_update()
                        .first(conn)
                        .optional()?;
                    match locked {
                        Some((record, Some(_))) => Ok(record),
                        Some((_, None)) => soft_delete(conn)?.ok_or_else(|| {
                            $crate::Error::not_found($crate::lifecycle::table_label(&self), &key)
                        }),
                        None => Err($crate::Error::not_found($crate::lifecycle::table_label(&self), &key)),
                    }
                })
            }

            fn soft_delete_filtered(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                filter: $crate::lifecycle::Filter<Self>,
            ) -> $crate::Result<usize> {
                use $crate::__private::diesel::prelude::*;
                use $crate::__private::diesel::dsl::now;
                Ok($crate::__private::diesel::update(self.filter(filter).filter($($table)::+::deleted_at.is_null()))
                    .set($($table)::+::deleted_at.eq(now.into_sql::<$crate::__private::diesel::sql_types::Timestamptz>().nullable()))
                    .execute(conn)?)
            }

            fn restore_key(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                key: $key,
            ) -> $crate::Result<$record> {
                use $crate::__private::diesel::prelude::*;
                use $crate::__private::{DateTime, Utc};
                conn.transaction(|conn| {
                    let deleted_at: Option<DateTime<Utc>> = self
                        .find(key.clone())
                        .select($($table)::+::deleted_at)
                        .for_no_key_update()
                        .first(conn)
                        .optional()?
                        .ok_or_else(|| $crate::Error::not_found($crate::lifecycle::table_label(&self), &key))?;
                    if deleted_at.is_none() {
                        return Err($crate::Error::NotDeleted {
                            table: $crate::lifecycle::table_label(&self),
                            key: format!("{key:?}"),
                            source: None,
                        });
                    }
                    Ok($crate::__private::diesel::update(self.find(key))
                        .set($($table)::+::deleted_at.eq(None::<DateTime<Utc>>))
                        .returning(<$record>::as_returning())
                        .get_result(conn)?)
                })
            }

            fn restore_filtered(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                filter: $crate::lifecycle::Filter<Self>,
            ) -> $crate::Result<usize> {
                use $crate::__private::diesel::prelude::*;
                use $crate::__private::{DateTime, Utc};
                conn.transaction(|conn| {
                    Ok($crate::__private::diesel::update(self.filter(filter).filter($($table)::+::deleted_at.is_not_null()))
                        .set($($table)::+::deleted_at.eq(None::<DateTime<Utc>>))
                        .execute(conn)?)
                })
            }

            fn hard_delete_key(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                key: $key,
            ) -> $crate::Result<$record> {
                use $crate::__private::diesel::prelude::*;
                conn.transaction(|conn| {
                    $crate::__private::diesel::delete(self.find(key.clone()))
                        .returning(<$record>::as_returning())
                        .get_result(conn)
                        .optional()?
                        .ok_or_else(|| $crate::Error::not_found($crate::lifecycle::table_label(&self), &key))
                })
            }

            fn find_any_key(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                key: $key,
            ) -> $crate::Result<$record> {
                use $crate::__private::diesel::prelude::*;
                self.find(key.clone())
                    .select(<$record>::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| $crate::Error::not_found($crate::lifecycle::table_label(&self), &key))
            }

            fn load_trash(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
            ) -> $crate::Result<Vec<$crate::Trashed<$record>>> {
                use $crate::__private::diesel::prelude::*;
                let grace = $crate::lifecycle::purge::grace_interval(conn, &$crate::lifecycle::sql_name(&self))?;
                let rows: Vec<($record, $crate::__private::DateTime<$crate::__private::Utc>)> = self
                    .filter($($table)::+::deleted_at.is_not_null())
                    .order($($table)::+::deleted_at.desc())
                    .select((<$record>::as_select(), ($($table)::+::deleted_at + grace).assume_not_null()))
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|(record, purge_at)| $crate::Trashed { record, purge_at })
                    .collect())
            }

            fn restore_archive_entry(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                archive_id: i64,
            ) -> $crate::Result<$record> {
                use $crate::__private::diesel::prelude::*;
                conn.transaction(|conn| {
                    let row_data = $crate::lifecycle::archive::take_archived(conn, &$crate::lifecycle::sql_name(&self), archive_id)?;
                    let record: $record = $crate::__private::serde_json::from_value(row_data)
                        .map_err(|source| $crate::Error::ArchiveDecode { archive_id, source })?;
                    Ok($crate::__private::diesel::insert_into(self)
                        .values(&record)
                        .returning(<$record>::as_returning())
                        .get_result(conn)?)
                })
            }
        }
    };
    ($($table:ident)::+, record: $record:ty, key: $key:ty, revive: $new:ty, by: [$($unique:ident),+ $(,)?] $(,)?) => {
        $crate::soft_deletable!($($table)::+, record: $record, key: $key);

        impl $crate::Revivable<$new> for $($table)::+::table {
            fn revive_or_insert(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                new: $new,
            ) -> $crate::Result<$record> {
                use $crate::__private::diesel::prelude::*;
                use $crate::__private::{DateTime, Utc};
                // A name for the table's module, usable inside the repetition over columns.
                use $($table)::+ as declared;
                conn.transaction(|conn| {
                    // Every row holding the key, live or deleted, locked at once in key order: a
                    // row deleted or restored by a transaction still running is waited for and
                    // read as it committed, so what follows is decided on rows that cannot
                    // change. `FOR NO KEY UPDATE`, the lock the UPDATE takes, leaves children's
                    // foreign key checks free; `FOR UPDATE` made them wait, into deadlocks.
                    let holders: Vec<($key, Option<DateTime<Utc>>)> = self
                        $(.filter(declared::$unique.eq(&new.$unique)))+
                        .select((<Self as $crate::__private::diesel::Table>::primary_key(&self), declared::deleted_at))
                        .order(<Self as $crate::__private::diesel::Table>::primary_key(&self))
                        .for_no_key_update()
                        .load(conn)?;
                    let live_holder = holders.iter().any(|(_, deleted_at)| deleted_at.is_none());
                    let newest_deleted = holders
                        .into_iter()
                        .filter_map(|(key, deleted_at)| deleted_at.map(|at| (at, key)))
                        .max_by_key(|(at, _)| *at);
                    match newest_deleted {
                        Some((_, key)) if !live_holder => Ok($crate::__private::diesel::update(self.find(key))
                            .set((&new, declared::deleted_at.eq(None::<DateTime<Utc>>)))
                            .returning(<$record>::as_returning())
                            .get_result(conn)?),
                        // Nothing to revive, or a live row holds the key: the insert raises
                        // PostgreSQL's unique violation, which names the constraint.
                        _ => Ok($crate::__private::diesel::insert_into(self)
                            .values(&new)
                            .returning(<$record>::as_returning())
                            .get_result(conn)?),
                    }
                })
            }
        }
    };
}

/// Declares a table without soft delete: [`Lifecycle::delete`] removes its rows for good (the
/// archive keeps them when the table is enabled with `softview.enable_dependent`).
///
/// ```ignore
/// softview::hard_deletable!(tags, key: i32);
/// ```
#[macro_export]
macro_rules! hard_deletable {
    ($($table:ident)::+, key: $key:ty $(,)?) => {
        impl $crate::Declared for $($table)::+::table {
            type Key = $key;
        }

        impl $crate::Deletable for $($table)::+::table {
            fn delete_key(
                self,
                conn: &mut $crate::__private::diesel::PgConnection,
                key: $key,
            ) -> $crate::Result<usize> {
                use $crate::__private::diesel::prelude::*;
                Ok($crate::__private::diesel::delete(self.find(key)).execute(conn)?)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn display_names_keep_quotes_only_where_needed() {
        assert_eq!(display_name(r#""places""#), "places");
        assert_eq!(display_name(r#""app"."tasks""#), "app.tasks");
        assert_eq!(display_name(r#""app"."AuditNotes""#), r#"app."AuditNotes""#);
        assert_eq!(
            display_name(r#""my schema"."a""b""#),
            r#""my schema"."a""b""#
        );
    }
}
