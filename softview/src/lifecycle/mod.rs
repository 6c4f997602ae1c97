//! Deleting, restoring and archiving rows: typed per table through [`Lifecycle`], with who
//! and why recorded from [`as_actor`], and the archive of hard deletes in [`archive`]. Tools
//! that learn their tables at run time use [`by_key`].

pub mod archive;
pub mod by_key;
mod context;
pub mod events;
pub mod purge;
mod typed;
pub mod worker;

pub use context::as_actor;
pub use typed::{Declared, Deletable, Filter, Lifecycle, Revivable, SoftDeletable, Trashed};

#[doc(hidden)]
pub use typed::{display_name, sql_name, table_label};

use diesel::prelude::*;

/// The notifications that have arrived, and the error that stopped reading them, if any
/// (Diesel's iterator repeats an error forever).
fn arrived_notifications(
    conn: &mut PgConnection,
) -> (
    Vec<diesel::pg::PgNotification>,
    Option<diesel::result::Error>,
) {
    let mut arrived = Vec::new();
    for notification in conn.notifications_iter() {
        match notification {
            Ok(notification) => arrived.push(notification),
            Err(error) => return (arrived, Some(error)),
        }
    }
    (arrived, None)
}

/// The error to report when reading notifications failed. libpq says only that it could not
/// read (Diesel's kind `Unknown`); a query tells a lost connection (`ClosedConnection`) apart.
fn notification_error(conn: &mut PgConnection, error: diesel::result::Error) -> crate::Error {
    match diesel::sql_query("SELECT 1").execute(conn) {
        Err(lost) => lost.into(),
        Ok(_) => error.into(),
    }
}
