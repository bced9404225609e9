//! The Deeplake client: `Client::new(token, workspace_id, api_url)` over an
//! embedded workspace, with column ingest, table management and dataset
//! reads for training.
//!
//! A first session, the test `tests/it/example.rs` (rustdoc runs no
//! examples here: each would link the whole engine once more):
//!
//! ```
#![doc = include_str!("../tests/it/example.rs")]
//! ```
// The example is a test file shown as it is; rustdoc never runs it.
#![allow(clippy::test_attr_in_doctest)]

mod client;
mod dataset;
mod error;
mod indexes;
mod ingest;
pub mod ipc;
mod query;
mod remote;
mod runtime;
mod sink;
mod sources;
mod tables;
mod token;
mod workspace;

pub use client::{Client, IndexSpec, IngestOptions, IngestResult, DEFAULT_WORKSPACE, LOCAL_ORG};
pub use dataset::{Batches, Dataset, Scan};
/// The error a `Format` returns; it reaches the caller as `ClientError::Ingest`.
pub use deeplake_ingest::IngestError as FormatError;
pub use deeplake_ingest::{
    Batch, Cancel, Chunking, CocoBatches, CocoPanoptic, FileOptions, Format, HfEnv, HuggingFace,
    Tools, CLASS_NAMES_KEY,
};
pub use deeplake_sql::{QueryOutput, Row};
pub use deeplake_storage::MAX_NAME_LEN;
pub use deeplake_storage::{TableWriter, WriteOptions};
pub use deeplake_types::Column;
pub use deeplake_types::{SpecType, Value};
pub use error::{ClientError, ErrorClass, ErrorKind, Result};
pub use indexes::canonical_index_type;
pub use ingest::Mode;
pub use query::TableQuery;
pub use sink::Progress;
pub use workspace::{check_name, check_table_name, ColumnInfo, TableInfo, Target, Workspace};
