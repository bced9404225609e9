//! Errors raised while typing column data. Every message names the column
//! so a caller can tell which of many columns was bad.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum TypeError {
    #[error("Unknown schema type '{0}'")]
    UnknownType(String),
    #[error("Invalid size '{0}': sizes must be positive integers")]
    BadSize(String),
    #[error("{0} needs a size: give EMBEDDING(n) or at least one non-null value")]
    UnsizedEmbedding(String),
    #[error("Type {0} is a schema directive and cannot be stored")]
    NotStorable(String),
    #[error("Arrow type {0} has no Deeplake equivalent")]
    UnsupportedArrow(String),
    #[error("Cannot infer the type of column '{0}': it has no non-null values")]
    CannotInfer(String),
    #[error("Column '{column}' mixes types: {first} and {other}")]
    MixedTypes {
        column: String,
        first: String,
        other: String,
    },
    #[error("Column '{column}' has vectors of varying sizes: {first} and {other}")]
    VaryingSize {
        column: String,
        first: usize,
        other: usize,
    },
    #[error("Column '{column}' row {row}: expected {expected}, got {got}")]
    WrongType {
        column: String,
        row: usize,
        expected: String,
        got: String,
    },
    #[error("Column '{column}' row {row}: {reason}")]
    BadValue {
        column: String,
        row: usize,
        reason: String,
    },
}
