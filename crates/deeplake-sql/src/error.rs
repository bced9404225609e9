//! SQL errors: a kind, the message a caller reads, and the error below.
//!
//! The kind is decided where the failure is known (a missing table, a
//! `unique` violation, an object store that failed) and travels up
//! unchanged: storage and index errors stay the source, DataFusion's
//! wrapping is unwrapped to find them, and nothing above reads the message
//! to decide what kind of failure it was. The client maps the kind onto
//! its own, the server onto a status code and, next, a SQLSTATE.
//! Messages keep PostgreSQL's and the reference's words; the display form
//! is the spec's `Query failed: ...`.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use deeplake_index::IndexError;
use deeplake_storage::StorageError;

/// What went wrong with a statement, independent of its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlErrorKind {
    /// SQL, parameters or values the caller must change: syntax, an
    /// unknown column, a type mismatch, a division by zero.
    BadInput,
    /// A table, index or version that does not exist.
    NotFound,
    /// A write that collides with what is stored (a `unique` value, an
    /// index that exists) or with a concurrent commit.
    Conflict,
    /// A statement or feature this engine does not offer.
    Unsupported,
    /// Storage that could not be read or written (a disk, an object store).
    Io,
    /// Stored data that does not read back.
    Corrupt,
    /// The statement ran past its deadline and was stopped.
    Timeout,
    /// A bug: an invariant of the engine that did not hold.
    Internal,
}

/// One failed statement. Cheap to clone (the source is shared), so a
/// cached failure can be handed to every caller that waits on it.
#[derive(Clone)]
pub struct SqlError {
    kind: SqlErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl SqlError {
    pub fn new(kind: SqlErrorKind, message: impl Into<String>) -> SqlError {
        SqlError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlErrorKind::BadInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlErrorKind::NotFound, message)
    }

    pub fn unsupported(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlErrorKind::Unsupported, message)
    }

    pub fn internal(message: impl Into<String>) -> SqlError {
        SqlError::new(SqlErrorKind::Internal, message)
    }

    /// PostgreSQL's words for a table a statement names that is not there.
    pub fn relation_missing(name: &str) -> SqlError {
        SqlError::not_found(format!("relation \"{name}\" does not exist"))
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn kind(&self) -> SqlErrorKind {
        self.kind
    }

    /// The message without the `Query failed: ` the display form adds.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// This error inside DataFusion's error type, for the seams
    /// (`TableProvider`, `DataSink`, functions) that must return one; the
    /// conversion back finds it again, kind and source intact.
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Query failed: {}", self.message)
    }
}

impl fmt::Debug for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SqlError");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

/// Equal when a caller could not tell them apart: kind and message.
impl PartialEq for SqlError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl std::error::Error for SqlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// The kind of each storage failure.
fn storage_kind(e: &StorageError) -> SqlErrorKind {
    match e {
        StorageError::TableNotFound(_)
        | StorageError::VersionNotFound { .. }
        | StorageError::IndexNotFound(_) => SqlErrorKind::NotFound,
        StorageError::TableExists(_)
        | StorageError::Conflict(_)
        | StorageError::IndexExists(_)
        | StorageError::IndexConflict(_)
        | StorageError::Constraint(_) => SqlErrorKind::Conflict,
        StorageError::SchemaMismatch(_)
        | StorageError::RowOutOfRange { .. }
        | StorageError::BadInput(_) => SqlErrorKind::BadInput,
        StorageError::Corrupt(_) => SqlErrorKind::Corrupt,
        StorageError::Store(_) | StorageError::Io { .. } => SqlErrorKind::Io,
        StorageError::Arrow(_)
        | StorageError::Json(_)
        | StorageError::BadLocation(_)
        | StorageError::Cancelled
        | StorageError::Stopped(_) => SqlErrorKind::Internal,
    }
}

impl From<StorageError> for SqlError {
    fn from(e: StorageError) -> Self {
        SqlError::new(storage_kind(&e), e.to_string()).with_source(e)
    }
}

/// The kind of each index failure: a repeated value of a `unique` column
/// is a conflict with the rows there.
fn index_kind(e: &IndexError) -> SqlErrorKind {
    match e {
        IndexError::Storage(s) => storage_kind(s),
        IndexError::BadInput(_) => SqlErrorKind::BadInput,
        IndexError::Duplicate(_) => SqlErrorKind::Conflict,
        IndexError::Corrupt(_) => SqlErrorKind::Corrupt,
        IndexError::Arrow(a) => arrow_kind(a),
    }
}

impl From<IndexError> for SqlError {
    fn from(e: IndexError) -> Self {
        SqlError::new(index_kind(&e), e.to_string()).with_source(e)
    }
}

/// Arrow's compute errors are the values' fault; the rest are ours or
/// the disk's.
fn arrow_kind(e: &ArrowError) -> SqlErrorKind {
    match e {
        ArrowError::DivideByZero
        | ArrowError::CastError(_)
        | ArrowError::ParseError(_)
        | ArrowError::ComputeError(_)
        | ArrowError::InvalidArgumentError(_)
        | ArrowError::ArithmeticOverflow(_)
        | ArrowError::SchemaError(_)
        | ArrowError::JsonError(_)
        | ArrowError::CsvError(_) => SqlErrorKind::BadInput,
        ArrowError::NotYetImplemented(_) => SqlErrorKind::Unsupported,
        ArrowError::IoError(..) => SqlErrorKind::Io,
        _ => SqlErrorKind::Internal,
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        if let Some(found) = ours(&e) {
            return found;
        }
        SqlError::new(datafusion_kind(&e), clean(&e)).with_source(e)
    }
}

/// The error of ours (or of storage's, or an index's) that DataFusion
/// carries, however deep in its wrapping.
fn ours(e: &DataFusionError) -> Option<SqlError> {
    use DataFusionError as E;
    let inner: &(dyn std::error::Error + Send + Sync) = match e {
        E::External(inner) => inner.as_ref(),
        E::ArrowError(a, _) => match a.as_ref() {
            ArrowError::ExternalError(inner) => inner.as_ref(),
            _ => return None,
        },
        E::Context(_, inner) | E::Diagnostic(_, inner) => return ours(inner),
        E::Shared(inner) => return ours(inner),
        E::Collection(all) => return all.first().and_then(ours),
        _ => return None,
    };
    if let Some(s) = inner.downcast_ref::<SqlError>() {
        return Some(s.clone());
    }
    if let Some(d) = inner.downcast_ref::<DataFusionError>() {
        return ours(d);
    }
    if let Some(s) = inner.downcast_ref::<StorageError>() {
        return Some(SqlError::new(storage_kind(s), s.to_string()));
    }
    if let Some(i) = inner.downcast_ref::<IndexError>() {
        return Some(SqlError::new(index_kind(i), i.to_string()));
    }
    None
}

/// The kind of a failure DataFusion raised itself.
fn datafusion_kind(e: &DataFusionError) -> SqlErrorKind {
    use DataFusionError as E;
    match e {
        E::SQL(..) | E::Plan(_) | E::SchemaError(..) | E::Execution(_) | E::Configuration(_) => {
            SqlErrorKind::BadInput
        }
        E::NotImplemented(_) => SqlErrorKind::Unsupported,
        E::ArrowError(a, _) => arrow_kind(a),
        E::IoError(_) | E::ObjectStore(_) => SqlErrorKind::Io,
        E::Context(_, inner) | E::Diagnostic(_, inner) => datafusion_kind(inner),
        E::Shared(inner) => datafusion_kind(inner),
        E::Collection(all) => all.first().map_or(SqlErrorKind::Internal, datafusion_kind),
        _ => SqlErrorKind::Internal,
    }
}

/// The innermost message: DataFusion wraps errors in context layers
/// ("External error: ...") that say nothing to a user.
fn clean(e: &DataFusionError) -> String {
    use DataFusionError as E;
    match e {
        E::External(inner) => inner.to_string(),
        E::Context(_, inner) => clean(inner),
        E::Shared(inner) => clean(inner),
        E::Diagnostic(_, inner) => clean(inner),
        E::SQL(e, _) => {
            use datafusion::sql::sqlparser::parser::ParserError as P;
            match e.as_ref() {
                P::ParserError(m) | P::TokenizerError(m) => format!("syntax error: {m}"),
                P::RecursionLimitExceeded => "syntax error: statement nested too deeply".into(),
            }
        }
        other => other.strip_backtrace(),
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
