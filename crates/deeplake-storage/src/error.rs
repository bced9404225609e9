//! Storage errors. The client maps them onto the public error classes.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    /// Worded with the spec's "Table already exists", which agents match on.
    #[error("Table already exists: '{0}'")]
    TableExists(String),
    #[error("Table '{0}' does not exist")]
    TableNotFound(String),
    #[error("Table '{table}' has no version {version}")]
    VersionNotFound { table: String, version: u64 },
    #[error("Schema mismatch: {0}")]
    SchemaMismatch(String),
    /// A concurrent commit changed fragments this operation depends on.
    #[error("Concurrent commit conflict: {0}")]
    Conflict(String),
    #[error("Index '{0}' already exists")]
    IndexExists(String),
    #[error("Index '{0}' does not exist")]
    IndexNotFound(String),
    /// One index per column.
    #[error("{0}")]
    IndexConflict(String),
    #[error("Row {row} is out of range for a table of {len} rows")]
    RowOutOfRange { row: u64, len: u64 },
    #[error("Corrupt table data: {0}")]
    Corrupt(String),
    #[error("Storage I/O failed: {0}")]
    Store(#[from] object_store::Error),
    /// A local data file could not be written (disk full, permissions).
    #[error("Storage I/O failed: {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("Metadata encoding failed: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Invalid storage location '{0}'")]
    BadLocation(String),
    /// Rows an index's rule refuses (a repeated `unique` value), worded as
    /// PostgreSQL words the violation; nothing was committed.
    #[error("{0}")]
    Constraint(String),
    /// A write's options or rows that cannot be written as given.
    #[error("{0}")]
    BadInput(String),
    /// A writer stopped at the caller's request, before its next commit.
    #[error("The write was cancelled")]
    Cancelled,
    /// A writer stopped by its caller's progress callback, whose error
    /// this carries back to the caller.
    #[error("{0}")]
    Stopped(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
