//! The one error type of softview, and the single place where database errors become its
//! typed variants.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind};

/// Everything softview can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row asked for is not there.
    #[error("row not found: {table} {key}")]
    NotFound { table: String, key: String },

    /// A restore asked for a row that is not deleted.
    #[error("row is not deleted: {table} {key}")]
    NotDeleted { table: String, key: String },

    /// A hard delete of a table that requires an actor ran without one (SQLSTATE SV002).
    #[error("{0}")]
    ActorRequired(String),

    /// An archived row no longer fits its table (SQLSTATE SV003); the archive keeps it.
    #[error("{message}")]
    ArchiveDrift {
        /// The column that no longer fits; empty when the table itself is gone.
        column: String,
        message: String,
    },

    /// An archived row could not be read into the table's model.
    #[error("archived row {archive_id} cannot be restored: {message}")]
    ArchiveDecode { archive_id: i64, message: String },

    /// An argument was out of range; the message names it.
    #[error("{0}")]
    InvalidArgument(String),

    /// A write through a view referred to a parent that is soft-deleted (SQLSTATE SV001).
    #[error("parent row is deleted: {parent}; restore the parent first")]
    ParentDeleted {
        /// The parent table and key, as `public.places (id)=(7)`.
        parent: String,
        constraint: Option<String>,
    },

    /// A write referred to a parent that does not exist (SQLSTATE 23503).
    #[error("parent row does not exist: {message}")]
    ParentMissing {
        message: String,
        constraint: Option<String>,
    },

    /// A live row already holds the unique key (SQLSTATE 23505).
    #[error("unique key already held by a live row: {key} (constraint {constraint})")]
    UniqueConflict {
        constraint: String,
        /// The key as PostgreSQL reports it, as `Key (name)=(Swim) already exists.`
        key: String,
    },

    /// A table softview was asked to manage cannot be (no `deleted_at`, no primary key, …).
    #[error("{0}")]
    NotEnableable(String),

    /// Views that softview did not make depend on the view it has to re-create (SQLSTATE 2BP01).
    #[error("{0}")]
    DependentViews(String),

    /// No PostgreSQL server binaries were found for a throwaway server.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; searched: {searched}. \
         Install the PostgreSQL server package (for example `apt-get install postgresql`), \
         set PG_BIN to its bin directory, or set DATABASE_URL to use a running server"
    )]
    ServerBinariesNotFound { searched: String },

    /// A step of starting or stopping the throwaway server failed.
    #[error("throwaway PostgreSQL: {step} failed: {output}")]
    ServerStart { step: &'static str, output: String },

    /// Setting up the shared test server failed earlier in this process.
    #[error("test database setup failed: {0}")]
    TestSetup(String),

    /// A query failed for a reason without a variant of its own.
    #[error(transparent)]
    Database(diesel::result::Error),

    #[error(transparent)]
    Connection(#[from] diesel::ConnectionError),

    #[error(transparent)]
    Pool(#[from] diesel::r2d2::PoolError),

    #[error("migration failed: {0}")]
    Migration(Box<dyn std::error::Error + Send + Sync>),

    /// Code generation met a column type it has no Diesel type for, or similar.
    #[error("schema generation: {0}")]
    Codegen(String),

    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// softview's own SQLSTATE for a write that refers to a soft-deleted parent.
pub const PARENT_DELETED_SQLSTATE: &str = "SV001";

/// Diesel does not expose the SQLSTATE of an error, only a kind for the common ones; the
/// toolkit's own conditions are recognised by the fixed start of their messages.
const PARENT_DELETED_MESSAGE: &str = "parent row is deleted: ";
const PARENT_MISSING_MESSAGE: &str = "parent row does not exist: ";

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match error {
            E::DatabaseError(kind, info) => classify(kind, info.as_ref())
                .unwrap_or_else(|| Error::Database(E::DatabaseError(kind, info))),
            other => Error::Database(other),
        }
    }
}

fn classify(kind: DatabaseErrorKind, info: &dyn DatabaseErrorInformation) -> Option<Error> {
    let constraint = info.constraint_name().map(str::to_owned);
    let message = info.message();
    match kind {
        // 23505
        DatabaseErrorKind::UniqueViolation => Some(Error::UniqueConflict {
            constraint: constraint.unwrap_or_default(),
            key: info.details().unwrap_or(message).to_owned(),
        }),
        // 23503
        DatabaseErrorKind::ForeignKeyViolation => Some(Error::ParentMissing {
            message: message
                .strip_prefix(PARENT_MISSING_MESSAGE)
                .map(str::to_owned)
                .unwrap_or_else(|| info.details().unwrap_or(message).to_owned()),
            constraint,
        }),
        // SV001
        _ if message.starts_with(PARENT_DELETED_MESSAGE) => Some(Error::ParentDeleted {
            parent: message[PARENT_DELETED_MESSAGE.len()..].to_owned(),
            constraint,
        }),
        // P0002 and SV004 from the toolkit's row functions
        _ if message.starts_with("row not found: ")
            || message.starts_with("row is not deleted: ") =>
        {
            let (head, rest) = message.split_once(": ").unwrap_or_default();
            let (table, key) = rest.split_once(' ').unwrap_or((rest, ""));
            let (table, key) = (table.to_owned(), key.to_owned());
            Some(if head == "row not found" {
                Error::NotFound { table, key }
            } else {
                Error::NotDeleted { table, key }
            })
        }
        // SV002
        _ if message.starts_with("actor required: ") => {
            Some(Error::ActorRequired(message.to_owned()))
        }
        // SV003
        _ if message.starts_with("archived row ") && message.contains(" no longer fits ") => {
            Some(Error::ArchiveDrift {
                column: info.column_name().unwrap_or_default().to_owned(),
                message: message.to_owned(),
            })
        }
        // 42703, 42804, 42809, 42P16 from softview.enable
        _ if message.starts_with("cannot enable ") => {
            Some(Error::NotEnableable(message.to_owned()))
        }
        // 2BP01 from softview.drop_views / refresh / disable
        _ if message.starts_with("cannot drop the softview views")
            || message.starts_with("cannot disable ") =>
        {
            Some(Error::DependentViews(message.to_owned()))
        }
        _ => None,
    }
}

impl Error {
    /// [`Error::NotFound`] for `key` of `table`.
    pub fn not_found(table: &str, key: &impl std::fmt::Debug) -> Self {
        Error::NotFound {
            table: table.to_owned(),
            key: format!("{key:?}"),
        }
    }
}

impl From<std::fmt::Error> for Error {
    fn from(e: std::fmt::Error) -> Self {
        Error::Codegen(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
