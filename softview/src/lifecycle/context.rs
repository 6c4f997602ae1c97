use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::error::Result;

/// Runs `work` in a transaction (a savepoint inside the caller's) in which hard deletes are
/// archived with `actor` and `reason`. The settings are transaction-local: a pooled connection
/// does not carry them into its next transaction.
pub fn as_actor<T>(
    conn: &mut PgConnection,
    actor: &str,
    reason: Option<&str>,
    work: impl FnOnce(&mut PgConnection) -> Result<T>,
) -> Result<T> {
    conn.transaction(|conn| {
        diesel::sql_query(
            "SELECT set_config('softview.actor', $1, true), \
                    set_config('softview.reason', coalesce($2, ''), true)",
        )
        .bind::<Text, _>(actor)
        .bind::<Nullable<Text>, _>(reason)
        .execute(conn)?;
        work(conn)
    })
}
