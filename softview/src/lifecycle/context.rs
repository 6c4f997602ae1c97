use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::error::{Error, Result};

/// Runs `work` in a transaction (a savepoint inside the caller's) in which hard deletes are
/// archived with `actor` and `reason`. The settings hold for `work` only: when it returns, the
/// caller's own (or none) are back, inside an outer transaction and after nested calls too,
/// and a pooled connection does not carry them into its next transaction.
pub fn as_actor<T>(
    conn: &mut PgConnection,
    actor: &str,
    reason: Option<&str>,
    work: impl FnOnce(&mut PgConnection) -> Result<T>,
) -> Result<T> {
    // The archive stores a blank actor as none: refuse it rather than lose it.
    if actor.trim().is_empty() {
        return Err(Error::InvalidArgument(format!(
            "as_actor needs an actor that is not blank, got {actor:?}"
        )));
    }
    conn.transaction(|conn| {
        let (previous_actor, previous_reason) = diesel::select((
            sql::<Nullable<Text>>("current_setting('softview.actor', true)"),
            sql::<Nullable<Text>>("current_setting('softview.reason', true)"),
        ))
        .get_result::<(Option<String>, Option<String>)>(conn)?;
        set_actor(conn, Some(actor), reason)?;
        let result = work(conn)?;
        // A failed `work` rolls the savepoint back, settings included; a successful one would
        // keep them to the end of the outermost transaction.
        set_actor(conn, previous_actor.as_deref(), previous_reason.as_deref())?;
        Ok(result)
    })
}

/// Sets both transaction-local settings; `None` is stored as empty, which counts as unset.
fn set_actor(conn: &mut PgConnection, actor: Option<&str>, reason: Option<&str>) -> Result<()> {
    diesel::sql_query(
        "SELECT set_config('softview.actor', coalesce($1, ''), true), \
                set_config('softview.reason', coalesce($2, ''), true)",
    )
    .bind::<Nullable<Text>, _>(actor)
    .bind::<Nullable<Text>, _>(reason)
    .execute(conn)?;
    Ok(())
}
