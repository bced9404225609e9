//! The public error classes of the spec, with the reference's messages.
//!
//! Hierarchy (as in `deeplake.managed`): every class is a
//! `ManagedServiceError`; `TokenError` is also an `AuthError`.

use deeplake_storage::StorageError;
use deeplake_types::TypeError;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ClientError {
    #[error("{0}")]
    ManagedService(String),
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Token(String),
    #[error("{0}")]
    Credentials(String),
    #[error("{0}")]
    Ingest(String),
    #[error("{0}")]
    Table(String),
    #[error("{0}")]
    Workspace(String),
}

impl ClientError {
    /// The class name as the Python package spells it.
    pub fn class(&self) -> &'static str {
        match self {
            ClientError::ManagedService(_) => "ManagedServiceError",
            ClientError::Auth(_) => "AuthError",
            ClientError::Token(_) => "TokenError",
            ClientError::Credentials(_) => "CredentialsError",
            ClientError::Ingest(_) => "IngestError",
            ClientError::Table(_) => "TableError",
            ClientError::Workspace(_) => "WorkspaceError",
        }
    }

    /// The spec's "Table already exists", naming the table after it.
    pub fn table_exists(table: &str) -> ClientError {
        ClientError::Table(format!("Table already exists: '{table}'"))
    }

    /// True for `AuthError` and its subclass `TokenError`.
    pub fn is_auth(&self) -> bool {
        matches!(self, ClientError::Auth(_) | ClientError::Token(_))
    }

    pub fn message(&self) -> &str {
        match self {
            ClientError::ManagedService(m)
            | ClientError::Auth(m)
            | ClientError::Token(m)
            | ClientError::Credentials(m)
            | ClientError::Ingest(m)
            | ClientError::Table(m)
            | ClientError::Workspace(m) => m,
        }
    }
}

/// Storage failures surface as table errors: they concern a table's state.
impl From<StorageError> for ClientError {
    fn from(e: StorageError) -> Self {
        ClientError::Table(e.to_string())
    }
}

/// Typing failures happen while ingesting.
impl From<TypeError> for ClientError {
    fn from(e: TypeError) -> Self {
        ClientError::Ingest(e.to_string())
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Argument errors keep their own words; a file or internal failure is
/// "Failed to ingest data: ..." like every other failure of an ingest.
impl From<deeplake_ingest::IngestError> for ClientError {
    fn from(e: deeplake_ingest::IngestError) -> Self {
        use deeplake_ingest::IngestError as E;
        match e {
            E::File { .. } | E::Internal(_) => {
                ClientError::Ingest(format!("Failed to ingest data: {e}"))
            }
            E::MissingTool { .. } | E::NotFound(_) | E::Invalid(_) => {
                ClientError::Ingest(e.to_string())
            }
        }
    }
}
