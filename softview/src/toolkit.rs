//! The SQL toolkit: schema `softview` (the public API) and schema `softview_internal`
//! (helpers, trigger functions, the catalog).
//!
//! Install it from a migration of your own project, so that it is versioned with your schema:
//! the up.sql is [`INSTALL_SQL`] (`softview toolkit`), the down.sql [`UNINSTALL_SQL`]
//! (`softview toolkit --down`). When a later softview has a newer [`REVISION`], add a
//! migration whose up.sql is [`upgrade_sql`] from the revision you installed
//! (`softview toolkit --upgrade-from 1`): enabled tables, settings and the archive stay.
//! [`install_or_upgrade`] does either at run time, for applications without migrations.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};

use crate::error::{Error, Result};

/// The toolkit revision this crate installs and expects; `softview.version()` in SQL.
pub const REVISION: i32 = 4;

/// The whole toolkit, as one script, assembled from the files of `sql/` (one per concern).
pub const INSTALL_SQL: &str = concat!(
    include_str!("../sql/00_schemas.sql"),
    "\n",
    include_str!("../sql/10_catalog.sql"),
    "\n",
    include_str!("../sql/15_access.sql"),
    "\n",
    include_str!("../sql/20_names.sql"),
    "\n",
    include_str!("../sql/30_views.sql"),
    "\n",
    include_str!("../sql/40_view_triggers.sql"),
    "\n",
    include_str!("../sql/50_archive.sql"),
    "\n",
    include_str!("../sql/55_archive_partitions.sql"),
    "\n",
    include_str!("../sql/60_rows.sql"),
    "\n",
    include_str!("../sql/65_admin.sql"),
    "\n",
    include_str!("../sql/70_purge.sql"),
    "\n",
    include_str!("../sql/80_indexes.sql"),
    "\n",
    include_str!("../sql/90_privileges.sql"),
);

/// Removes the toolkit; disable the enabled tables first.
pub const UNINSTALL_SQL: &str = include_str!("../sql/uninstall.sql");

/// The step from each revision to the next, in order: `UPGRADES[0]` goes from 1 to 2. A step
/// is never edited once released; each checks the revision it starts from.
const UPGRADES: &[&str] = &[
    include_str!("../sql/upgrade/1-2.sql"),
    include_str!("../sql/upgrade/2-3.sql"),
    include_str!("../sql/upgrade/3-4.sql"),
];

/// The script that upgrades an installed toolkit of revision `from` to [`REVISION`]; it
/// refuses to run on a database holding another revision.
pub fn upgrade_sql(from: i32) -> Result<String> {
    if !(1..=REVISION).contains(&from) {
        return Err(Error::InvalidArgument(format!(
            "there is no toolkit revision {from}: this softview knows revisions 1 to {REVISION}"
        )));
    }
    let steps = &UPGRADES[usize::try_from(from - 1).unwrap_or_default()..];
    Ok(steps.concat())
}

/// The revision installed in the connected database, or `None` when there is no toolkit.
pub fn installed_revision(conn: &mut PgConnection) -> Result<Option<i32>> {
    let installed: bool = diesel::select(diesel::dsl::sql::<Bool>(
        "to_regprocedure('softview.version()') IS NOT NULL",
    ))
    .get_result(conn)?;
    if !installed {
        return Ok(None);
    }
    Ok(Some(
        diesel::select(diesel::dsl::sql::<Integer>("softview.version()")).get_result(conn)?,
    ))
}

/// What [`install_or_upgrade`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The toolkit was not there and is now.
    Installed,
    /// The toolkit was at the given revision and is now at [`REVISION`].
    Upgraded {
        /// The revision found.
        from: i32,
    },
    /// The toolkit was already at [`REVISION`].
    Current,
}

/// Installs the toolkit, or upgrades an older one, in one transaction. A database holding a
/// newer revision than this crate knows is refused ([`Error::ToolkitRevision`]).
pub fn install_or_upgrade(conn: &mut PgConnection) -> Result<Change> {
    conn.transaction(|conn| match installed_revision(conn)? {
        None => {
            conn.batch_execute(INSTALL_SQL)?;
            Ok(Change::Installed)
        }
        Some(REVISION) => Ok(Change::Current),
        Some(found) if found < REVISION => {
            conn.batch_execute(&upgrade_sql(found)?)?;
            Ok(Change::Upgraded { from: found })
        }
        Some(found) => Err(Error::ToolkitRevision {
            found,
            expected: REVISION,
        }),
    })
}

/// Checks that the connected database holds the toolkit at the revision this crate expects.
pub fn check_revision(conn: &mut PgConnection) -> Result<()> {
    match installed_revision(conn)? {
        Some(REVISION) => Ok(()),
        Some(found) => Err(Error::ToolkitRevision {
            found,
            expected: REVISION,
        }),
        None => Err(Error::ToolkitMissing),
    }
}
