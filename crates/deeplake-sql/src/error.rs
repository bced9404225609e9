//! SQL errors. The client maps them to `TableError("Query failed: ...")`.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum SqlError {
    /// Anything wrong with a statement or its execution, with the engine's message.
    #[error("Query failed: {0}")]
    Query(String),
}

impl From<datafusion::error::DataFusionError> for SqlError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        SqlError::Query(clean(&e))
    }
}

impl From<deeplake_storage::StorageError> for SqlError {
    fn from(e: deeplake_storage::StorageError) -> Self {
        SqlError::Query(e.to_string())
    }
}

/// The innermost message: DataFusion wraps errors in context layers
/// ("External error: ...") that say nothing to a user.
fn clean(e: &datafusion::error::DataFusionError) -> String {
    use datafusion::error::DataFusionError as E;
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
