//! The one error type of softview, and the single place where database errors become its
//! typed variants.
//!
//! Diesel gives no SQLSTATE, only a kind for the common ones and the fields PostgreSQL sends
//! (message, detail, table, column, constraint). The conditions the toolkit raises itself are
//! therefore recognised by the fixed start of their message, listed once in
//! [`TOOLKIT_MESSAGES`]; the table they are about is the rest of the message and the key is in
//! the detail, so nothing is split on spaces and quoted names come out whole.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything softview can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The row asked for is not there.
    #[error("row not found: {table} {key}")]
    NotFound {
        /// The table: schema-qualified (`public.places`) when the toolkit raised the error, as
        /// the `table!` declaration names it (`places`, `app.tasks`) when the typed lifecycle
        /// found no row itself.
        table: String,
        /// The key, as `(id)=(7)` from SQL or as the Rust value's `Debug`.
        key: String,
        /// The database error, when the toolkit raised it.
        #[source]
        source: Option<DieselError>,
    },

    /// A restore asked for a row that is not deleted.
    #[error("row is not deleted: {table} {key}")]
    NotDeleted {
        /// The table, named as in [`Error::NotFound`].
        table: String,
        /// The key.
        key: String,
        /// The database error, when the toolkit raised it.
        #[source]
        source: Option<DieselError>,
    },

    /// A write through a view referred to a parent that is soft-deleted (SQLSTATE SV001).
    #[error("parent row is deleted: {parent} {key}; restore the parent first")]
    ParentDeleted {
        /// The parent table, as `public.places`.
        parent: String,
        /// The parent's key, as `(id)=(7)`.
        key: String,
        /// The foreign key that refers to it.
        constraint: Option<String>,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// A write referred to a parent row that does not exist (SQLSTATE 23503 on the writing
    /// side, from PostgreSQL or from a view's trigger).
    #[error("parent row does not exist: {detail}")]
    ParentMissing {
        /// The foreign key.
        constraint: Option<String>,
        /// What PostgreSQL says of the key, as `Key (place_id)=(7) is not present in table "places".`
        detail: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// A delete or key update left rows that still refer to the row (SQLSTATE 23503 on the
    /// referenced side: a `RESTRICT` or `NO ACTION` foreign key).
    #[error("row is still referenced from table {referencing}: {detail}")]
    StillReferenced {
        /// The table whose rows refer to it.
        referencing: String,
        /// The foreign key.
        constraint: Option<String>,
        /// What PostgreSQL says of the key, as `Key (id)=(7) is still referenced from table "reviews".`
        detail: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// A unique key is already held (SQLSTATE 23505). With the partial unique indexes softview
    /// asks for, the holder is a live row; with a plain unique index it may be a deleted one.
    #[error("unique key already taken: {detail}")]
    UniqueConflict {
        /// The unique index or constraint PostgreSQL names.
        constraint: String,
        /// The key, as PostgreSQL reports it: `Key (name)=(Swim) already exists.`
        detail: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// A hard delete of a table that requires an actor ran without one (SQLSTATE SV002).
    #[error(
        "actor required: hard deletes from {table} need softview.actor (see softview::as_actor)"
    )]
    ActorRequired {
        /// The table.
        table: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// An archived row no longer fits its table (SQLSTATE SV003); the archive keeps it.
    #[error("archived row no longer fits {table}: {detail}")]
    ArchiveDrift {
        /// The table the row was archived from.
        table: String,
        /// The column that no longer fits; `None` when the table itself is gone.
        column: Option<String>,
        /// What does not fit.
        detail: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// A typed restore asked for an archived row of another table.
    #[error("archived row {archive_id} holds a row of {archived_table}, not of {table}")]
    ArchiveMismatch {
        /// The archive entry.
        archive_id: i64,
        /// The table the archive entry belongs to.
        archived_table: String,
        /// The table the restore was asked of.
        table: String,
    },

    /// An archived row could not be read into the table's record model.
    #[error("archived row {archive_id} cannot be read into the record model")]
    ArchiveDecode {
        /// The archive entry.
        archive_id: i64,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },

    /// The table is not enabled for softview.
    #[error("table is not enabled for softview: {table}. {reason}")]
    NotEnabled {
        /// The table.
        table: String,
        /// Why, as `It is the view softview made for public.places: give the table.`
        reason: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// The table's rows cannot be soft-deleted: it is not enabled, is enabled as a dependent
    /// without `deleted_at`, or lost its `deleted_at` since it was enabled.
    #[error("table is not soft-deletable: {table}. {reason}")]
    NotSoftDeletable {
        /// The table.
        table: String,
        /// Which of those, in a sentence.
        reason: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// `softview.enable` refused a table (no `deleted_at`, no primary key, …).
    #[error("{message}")]
    NotEnableable {
        /// PostgreSQL's message, naming the table and the reason.
        message: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// Views that softview did not make depend on a view it has to drop (SQLSTATE 2BP01).
    #[error("{message}")]
    DependentViews {
        /// PostgreSQL's message, naming the views.
        message: String,
        /// The database error.
        #[source]
        source: DieselError,
    },

    /// The database has no softview toolkit.
    #[error(
        "the softview toolkit is not installed: install it from a migration (`softview toolkit`)"
    )]
    ToolkitMissing,

    /// The database holds a toolkit revision this crate cannot work with.
    #[error(
        "the database holds softview toolkit revision {found}, this crate expects {expected}; \
         upgrade an older toolkit with `softview toolkit --upgrade-from {found}`, or use a newer softview"
    )]
    ToolkitRevision {
        /// The revision installed.
        found: i32,
        /// [`crate::toolkit::REVISION`].
        expected: i32,
    },

    /// An argument was out of range; the message names it.
    #[error("{0}")]
    InvalidArgument(String),

    /// A query failed for a reason without a variant of its own.
    #[error(transparent)]
    Database(DieselError),

    /// Connecting failed.
    #[error(transparent)]
    Connection(#[from] diesel::ConnectionError),
}

/// softview's own SQLSTATE for a write that refers to a soft-deleted parent.
pub const PARENT_DELETED_SQLSTATE: &str = "SV001";

/// The conditions the toolkit raises that have a variant of their own: the fixed start of the
/// message, followed by the qualified table. Every `RAISE EXCEPTION` of the toolkit either
/// starts with one of these or stays [`Error::Database`]; a test checks both ways.
pub const TOOLKIT_MESSAGES: &[(&str, ToolkitCondition)] = &[
    ("row not found: ", ToolkitCondition::NotFound),
    ("row is not deleted: ", ToolkitCondition::NotDeleted),
    ("parent row is deleted: ", ToolkitCondition::ParentDeleted),
    (
        "parent row does not exist: ",
        ToolkitCondition::ParentMissing,
    ),
    ("actor required: ", ToolkitCondition::ActorRequired),
    (
        "archived row no longer fits its table: ",
        ToolkitCondition::ArchiveDrift,
    ),
    (
        "table is not enabled for softview: ",
        ToolkitCondition::NotEnabled,
    ),
    (
        "table is not soft-deletable: ",
        ToolkitCondition::NotSoftDeletable,
    ),
    ("cannot enable ", ToolkitCondition::NotEnableable),
    (
        "cannot drop the softview views of ",
        ToolkitCondition::DependentViews,
    ),
    ("cannot disable ", ToolkitCondition::DependentViews),
];

/// Which variant a toolkit message becomes; see [`TOOLKIT_MESSAGES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each is the variant of the same name
pub enum ToolkitCondition {
    NotFound,
    NotDeleted,
    ParentDeleted,
    ParentMissing,
    ActorRequired,
    ArchiveDrift,
    NotEnabled,
    NotSoftDeletable,
    NotEnableable,
    DependentViews,
}

impl From<DieselError> for Error {
    fn from(error: DieselError) -> Self {
        classify(error)
    }
}

fn classify(error: DieselError) -> Error {
    let DieselError::DatabaseError(kind, info) = &error else {
        return Error::Database(error);
    };
    let kind = *kind;
    let message = info.message().to_owned();
    let detail = info.details().unwrap_or_default().to_owned();
    let constraint = info.constraint_name().map(str::to_owned);
    let table = info.table_name().unwrap_or_default().to_owned();
    let column = info
        .column_name()
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let toolkit = TOOLKIT_MESSAGES
        .iter()
        .find_map(|(prefix, condition)| Some((message.strip_prefix(prefix)?, *condition)));
    if let Some((subject, condition)) = toolkit {
        let subject = subject.to_owned();
        let fields = Fields {
            message,
            detail,
            constraint,
            column,
        };
        return toolkit_error(condition, subject, fields, error);
    }
    match kind {
        DatabaseErrorKind::UniqueViolation => Error::UniqueConflict {
            constraint: constraint.unwrap_or_default(),
            detail: if detail.is_empty() { message } else { detail },
            source: error,
        },
        // PostgreSQL words the two sides of a foreign-key violation differently, and reports
        // the referencing table on both; only the message tells which side failed.
        DatabaseErrorKind::ForeignKeyViolation
            if message.starts_with("update or delete on table ") =>
        {
            Error::StillReferenced {
                referencing: table,
                constraint,
                detail: if detail.is_empty() { message } else { detail },
                source: error,
            }
        }
        DatabaseErrorKind::ForeignKeyViolation => Error::ParentMissing {
            constraint,
            detail: if detail.is_empty() { message } else { detail },
            source: error,
        },
        _ => Error::Database(error),
    }
}

/// The fields of a database error that the variants keep.
struct Fields {
    message: String,
    detail: String,
    constraint: Option<String>,
    column: Option<String>,
}

fn toolkit_error(
    condition: ToolkitCondition,
    table: String,
    fields: Fields,
    source: DieselError,
) -> Error {
    let Fields {
        message,
        detail,
        constraint,
        column,
    } = fields;
    // The toolkit writes keys in the detail as `Key (id)=(7).`
    let key = || {
        detail
            .strip_prefix("Key ")
            .and_then(|k| k.strip_suffix('.'))
            .unwrap_or(&detail)
            .to_owned()
    };
    match condition {
        ToolkitCondition::NotFound => Error::NotFound {
            table,
            key: key(),
            source: Some(source),
        },
        ToolkitCondition::NotDeleted => Error::NotDeleted {
            table,
            key: key(),
            source: Some(source),
        },
        ToolkitCondition::ParentDeleted => Error::ParentDeleted {
            parent: table,
            key: key(),
            constraint,
            source,
        },
        ToolkitCondition::ParentMissing => Error::ParentMissing {
            constraint,
            detail,
            source,
        },
        ToolkitCondition::ActorRequired => Error::ActorRequired { table, source },
        ToolkitCondition::ArchiveDrift => Error::ArchiveDrift {
            table,
            column,
            detail,
            source,
        },
        ToolkitCondition::NotEnabled => Error::NotEnabled {
            table,
            reason: detail,
            source,
        },
        ToolkitCondition::NotSoftDeletable => Error::NotSoftDeletable {
            table,
            reason: detail,
            source,
        },
        ToolkitCondition::NotEnableable => Error::NotEnableable { message, source },
        ToolkitCondition::DependentViews => Error::DependentViews { message, source },
    }
}

impl Error {
    /// Whether the connection to the server is gone (a restart, a terminated backend, a server
    /// that cannot be reached): reconnecting may help, repeating the call on it will not.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            Error::Connection(_)
                | Error::Database(DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _
                ))
        )
    }

    /// [`Error::NotFound`] for `key` of `table`, raised on the Rust side.
    pub fn not_found(table: impl Into<String>, key: &impl std::fmt::Debug) -> Self {
        Error::NotFound {
            table: table.into(),
            key: format!("{key:?}"),
            source: None,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
