//! The Deeplake client: `Client::new(token, workspace_id, api_url)` over an
//! embedded workspace, with column ingest, table management and dataset
//! reads for training.
//!
//! ```
//! use deeplake_client::{Client, Column, IngestOptions, Mode, Value};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("file://{}", dir.path().display());
//! // No token: org "local". An api_url of file://PATH roots the workspace at
//! // PATH; without one the root is $DEEPLAKE_ROOT or ~/.local/share/deeplake.
//! let client = Client::new(None, Some("my-workspace"), Some(&url))?;
//!
//! let columns = |texts: &[&str], first_label: i64| -> Vec<(String, Column)> {
//!     let n = texts.len() as i64;
//!     vec![
//!         ("text".into(), Column::Values(texts.iter().map(|t| Value::from(*t)).collect())),
//!         ("embedding".into(), Column::Values((0..n).map(|i| Value::Floats(vec![0.1 * i as f64, 0.2, 0.3])).collect())),
//!         ("label".into(), Column::Values((first_label..first_label + n).map(Value::Int).collect())),
//!     ]
//! };
//! let result = client.ingest("embeddings", columns(&["doc1", "doc2"], 0), IngestOptions::default())?;
//! assert_eq!(result.row_count, 2);
//!
//! // Ingesting into an existing table needs an explicit mode.
//! let append = IngestOptions { mode: Mode::Append, ..Default::default() };
//! client.ingest("embeddings", columns(&["doc3"], 2), append)?;
//!
//! let ds = client.open_table("embeddings")?;
//! assert_eq!(ds.len(), 3);
//! let row = ds.get(2)?; // (column, Value) pairs
//! assert_eq!(row.get("text"), Some(&Value::from("doc3")));
//! for batch in ds.batches(100, false, Some(&["embedding"]))? {
//!     let batch = batch?; // an Arrow RecordBatch
//!     assert_eq!(batch.num_rows(), 3);
//! }
//! let first = ds.checkout(ds.version() - 1)?; // time travel
//! assert_eq!(first.len(), 2);
//! # Ok::<(), deeplake_client::ClientError>(())
//! ```

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
mod token;
mod workspace;
mod writer;

pub use client::{Client, IngestOptions, IngestResult, DEFAULT_WORKSPACE, LOCAL_ORG};
pub use dataset::{Batches, Dataset, Scan};
/// The error a `Format` returns; it reaches the caller as `ClientError::Ingest`.
pub use deeplake_ingest::IngestError as FormatError;
pub use deeplake_ingest::{
    Batch, Cancel, Chunking, CocoBatches, CocoPanoptic, FileOptions, Format, HfEnv, HuggingFace,
    Tools, CLASS_NAMES_KEY,
};
pub use deeplake_sql::{QueryOutput, Row};
pub use deeplake_storage::MAX_NAME_LEN;
pub use deeplake_types::Column;
pub use deeplake_types::{SpecType, Value};
pub use error::{ClientError, ErrorClass, ErrorKind, Result};
pub use indexes::canonical_index_type;
pub use ingest::Mode;
pub use query::TableQuery;
pub use workspace::{check_name, check_table_name, ColumnInfo, TableInfo, Target, Workspace};
pub use writer::{Progress, TableWriter, WriteOptions};
