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
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
