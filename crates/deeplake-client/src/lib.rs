//! The Deeplake client: `Client::new(token, workspace_id, api_url)` over an
//! embedded workspace, with column ingest, table management and dataset
//! reads for training.

mod client;
mod dataset;
mod error;
mod ingest;
mod names;
mod runtime;
mod token;
mod writer;

pub use client::{Client, IngestOptions, IngestResult, DEFAULT_WORKSPACE, LOCAL_ORG};
pub use dataset::{Batches, Dataset, Row, Scan};
pub use deeplake_types::{SpecType, Value};
pub use error::{ClientError, Result};
pub use ingest::{Column, Mode};
pub use names::MAX_NAME_LEN;
pub use writer::WriteOptions;
