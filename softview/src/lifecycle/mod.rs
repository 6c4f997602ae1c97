//! Deleting, restoring and archiving rows: typed per table through [`Lifecycle`], with who
//! and why recorded from [`as_actor`], and the archive of hard deletes in [`archive`].

pub mod archive;
mod context;
pub mod events;
pub mod purge;
mod typed;
pub mod worker;

pub use context::as_actor;
pub use typed::{Declared, Deletable, Filter, Lifecycle, Revivable, SoftDeletable, Trashed};

#[doc(hidden)]
pub use typed::{display_name, sql_name, table_label};
