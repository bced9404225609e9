//! The public error classes of the spec, with the reference's messages,
//! and a kind that says what went wrong in terms a protocol can answer.
//!
//! Hierarchy (as in `deeplake.managed`): every class is a
//! `ManagedServiceError`; `TokenError` is also an `AuthError`. The class is
//! what a caller catches; the [`ErrorKind`] is what the REST server turns
//! into a status code and the PostgreSQL endpoint into a SQLSTATE, so
//! neither ever reads a message to decide.

use std::fmt;
use std::sync::Arc;

use deeplake_index::IndexError;
use deeplake_sql::{SqlError, SqlErrorKind};
use deeplake_storage::StorageError;
use deeplake_types::TypeError;

/// The public error classes (`deeplake.managed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    ManagedService,
    Auth,
    Token,
    Credentials,
    Ingest,
    Table,
    Workspace,
}

impl ErrorClass {
    /// The class name as the Python package spells it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::ManagedService => "ManagedServiceError",
            ErrorClass::Auth => "AuthError",
            ErrorClass::Token => "TokenError",
            ErrorClass::Credentials => "CredentialsError",
            ErrorClass::Ingest => "IngestError",
            ErrorClass::Table => "TableError",
            ErrorClass::Workspace => "WorkspaceError",
        }
    }

    /// The kind an error of this class has unless its maker says otherwise.
    fn default_kind(self) -> ErrorKind {
        match self {
            ErrorClass::Auth | ErrorClass::Token => ErrorKind::Auth,
            ErrorClass::Ingest | ErrorClass::Table | ErrorClass::Workspace => ErrorKind::BadInput,
            ErrorClass::ManagedService | ErrorClass::Credentials => ErrorKind::Internal,
        }
    }
}

/// What went wrong, independent of which class reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No, bad or expired credentials.
    Auth,
    /// Valid credentials that do not reach this object.
    Forbidden,
    /// A table, workspace or path that does not exist.
    NotFound,
    /// The object exists already, or changed under the caller.
    Conflict,
    /// Arguments, data or SQL the caller must change.
    BadInput,
    /// A feature this build or deployment does not offer.
    Unsupported,
    /// The operation ran out of its time budget.
    Timeout,
    /// The caller stopped the operation (a Ctrl-C).
    Cancelled,
    /// A request or one of its messages is over the service's size limit.
    TooLarge,
    /// The service could not be reached.
    Unavailable,
    /// Storage that could not be read or written (a disk, an object store).
    Io,
    /// Stored data that does not read back.
    Corrupt,
    /// Anything else: a bug or an environment failure.
    Internal,
}

/// One error: class, kind, message (the reference's words) and the
/// underlying error when there is one.
#[derive(Clone)]
pub struct ClientError {
    class: ErrorClass,
    kind: ErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Two errors are equal when a caller could not tell them apart by class,
/// kind and message; the source chain is diagnostic only.
impl PartialEq for ClientError {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class && self.kind == other.kind && self.message == other.message
    }
}

impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientError");
        d.field("class", &self.class.name())
            .field("kind", &self.kind)
            .field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl ClientError {
    pub fn new(class: ErrorClass, kind: ErrorKind, message: impl Into<String>) -> ClientError {
        ClientError {
            class,
            kind,
            message: message.into(),
            source: None,
        }
    }

    fn of(class: ErrorClass, message: impl Into<String>) -> ClientError {
        ClientError::new(class, class.default_kind(), message)
    }

    pub fn managed_service(message: impl Into<String>) -> ClientError {
        ClientError::of(ErrorClass::ManagedService, message)
    }
    pub fn auth(message: impl Into<String>) -> ClientError {
        ClientError::of(ErrorClass::Auth, message)
    }
    pub fn token(message: impl Into<String>) -> ClientError {
        ClientError::of(ErrorClass::Token, message)
    }
    pub fn credentials(message: impl Into<String>) -> ClientError {
        ClientError::of(ErrorClass::Credentials, message)
    }
    pub fn ingest(message: impl Into<String>) -> ClientError {
        ClientError::of(ErrorClass::Ingest, message)
    }
    /// An ingest stopped by its [`crate::Cancel`].
    pub fn ingest_cancelled() -> ClientError {
        ClientError::from(deeplake_ingest::IngestError::Cancelled)
    }
    /// A query stopped by its [`crate::Cancel`], worded as PostgreSQL
    /// words a cancelled statement.
    pub fn query_cancelled() -> ClientError {
        ClientError::new(
            ErrorClass::Table,
            ErrorKind::Cancelled,
            "Query failed: canceling statement due to user request",
        )
    }
    pub fn table(message: impl Into<String>) -> ClientError {
        ClientError::of(ErrorClass::Table, message)
    }
    pub fn workspace(message: impl Into<String>) -> ClientError {
        ClientError::of(ErrorClass::Workspace, message)
    }

    /// The same error with another kind.
    pub fn with_kind(mut self, kind: ErrorKind) -> ClientError {
        self.kind = kind;
        self
    }

    /// The same error reported as another class (an ingest's table failure
    /// is the ingest's failure), keeping kind and source.
    pub fn with_class(mut self, class: ErrorClass) -> ClientError {
        self.class = class;
        self
    }

    /// The same error with `message`, keeping class, kind and source.
    pub fn with_message(mut self, message: impl Into<String>) -> ClientError {
        self.message = message.into();
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The spec's "Table already exists", naming the table after it.
    pub fn table_exists(table: &str) -> ClientError {
        ClientError::table(format!("Table already exists: '{table}'"))
            .with_kind(ErrorKind::Conflict)
    }

    /// A table that is not there.
    pub fn table_missing(table: &str) -> ClientError {
        ClientError::table(format!("Table '{table}' does not exist")).with_kind(ErrorKind::NotFound)
    }

    /// The class name as the Python package spells it.
    pub fn class(&self) -> &'static str {
        self.class.name()
    }

    pub fn error_class(&self) -> ErrorClass {
        self.class
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True for `AuthError` and its subclass `TokenError`.
    pub fn is_auth(&self) -> bool {
        matches!(self.class, ErrorClass::Auth | ErrorClass::Token)
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Storage failures surface as table errors: they concern a table's state.
impl From<StorageError> for ClientError {
    fn from(e: StorageError) -> Self {
        let e = match e {
            // A progress callback's own error, back as it was raised.
            StorageError::Stopped(stop) => {
                return match stop.downcast::<ClientError>() {
                    Ok(e) => *e,
                    Err(other) => ClientError::ingest(other.to_string()),
                }
            }
            StorageError::Cancelled => return ClientError::ingest_cancelled(),
            StorageError::BadInput(m) => return ClientError::ingest(m),
            e => e,
        };
        let kind = match &e {
            StorageError::TableNotFound(_)
            | StorageError::VersionNotFound { .. }
            | StorageError::IndexNotFound(_) => ErrorKind::NotFound,
            StorageError::TableExists(_)
            | StorageError::Conflict(_)
            | StorageError::IndexExists(_)
            | StorageError::IndexConflict(_)
            | StorageError::Constraint(_) => ErrorKind::Conflict,
            StorageError::Corrupt(_) => ErrorKind::Corrupt,
            StorageError::SchemaMismatch(_) | StorageError::RowOutOfRange { .. } => {
                ErrorKind::BadInput
            }
            StorageError::Store(_) | StorageError::Io { .. } => ErrorKind::Io,
            StorageError::Arrow(_)
            | StorageError::Json(_)
            | StorageError::BadLocation(_)
            | StorageError::Cancelled
            | StorageError::Stopped(_)
            | StorageError::BadInput(_) => ErrorKind::Internal,
        };
        ClientError::new(ErrorClass::Table, kind, e.to_string()).with_source(e)
    }
}

/// Index failures concern a table, as storage's do; a repeated value of
/// a `unique` column is a conflict with the rows there.
impl From<IndexError> for ClientError {
    fn from(e: IndexError) -> Self {
        let kind = match e {
            IndexError::Storage(s) => return s.into(),
            IndexError::BadInput(_) => ErrorKind::BadInput,
            IndexError::Duplicate(_) => ErrorKind::Conflict,
            IndexError::Corrupt(_) => ErrorKind::Corrupt,
            IndexError::Arrow(_) => ErrorKind::Internal,
        };
        ClientError::new(ErrorClass::Table, kind, e.to_string()).with_source(e)
    }
}

/// A statement's failure is a `TableError("Query failed: ...")` whose
/// kind is the engine's: never read from the message.
impl From<SqlError> for ClientError {
    fn from(e: SqlError) -> Self {
        let kind = match e.kind() {
            SqlErrorKind::BadInput => ErrorKind::BadInput,
            SqlErrorKind::NotFound => ErrorKind::NotFound,
            SqlErrorKind::Conflict => ErrorKind::Conflict,
            SqlErrorKind::Unsupported => ErrorKind::Unsupported,
            SqlErrorKind::Io => ErrorKind::Io,
            SqlErrorKind::Corrupt => ErrorKind::Corrupt,
            SqlErrorKind::Timeout => ErrorKind::Timeout,
            SqlErrorKind::Internal => ErrorKind::Internal,
        };
        ClientError::new(ErrorClass::Table, kind, e.to_string()).with_source(e)
    }
}

/// Typing failures happen while ingesting.
impl From<TypeError> for ClientError {
    fn from(e: TypeError) -> Self {
        ClientError::ingest(e.to_string()).with_source(e)
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Argument errors keep their own words; a file or internal failure is
/// "Failed to ingest data: ..." like every other failure of an ingest.
impl From<deeplake_ingest::IngestError> for ClientError {
    fn from(e: deeplake_ingest::IngestError) -> Self {
        use deeplake_ingest::IngestError as E;
        let (kind, message) = match &e {
            E::File { .. } => (ErrorKind::BadInput, format!("Failed to ingest data: {e}")),
            E::Internal(_) => (ErrorKind::Internal, format!("Failed to ingest data: {e}")),
            E::MissingTool { .. } => (ErrorKind::Unsupported, e.to_string()),
            E::NotFound(_) => (ErrorKind::NotFound, e.to_string()),
            E::Invalid(_) => (ErrorKind::BadInput, e.to_string()),
            E::Cancelled => (ErrorKind::Cancelled, e.to_string()),
        };
        ClientError::new(ErrorClass::Ingest, kind, message).with_source(e)
    }
}
