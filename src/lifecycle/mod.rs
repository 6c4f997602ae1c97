//! Deleting, restoring and archiving rows: typed per table through [`SoftDelete`], with who
//! and why recorded from [`as_actor`], and the archive of hard deletes in [`archive`].

pub mod archive;
mod context;
pub mod events;
pub mod purge;
mod soft_delete;
pub mod worker;

pub use archive::take_archived;
pub use context::as_actor;
pub use soft_delete::{Delete, Filter, InsertOrRevive, SoftDelete, Trashed};
