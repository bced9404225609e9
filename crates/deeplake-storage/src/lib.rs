//! Deeplake's table format: immutable column-major data files plus versioned
//! manifests on any `object_store`, committed with optimistic concurrency.

mod codec;
mod error;
mod location;
mod manifest;
mod names;
mod schema_codec;
mod table;
mod trim;
pub mod upkeep;
mod writer;

pub use error::{Result, StorageError};
pub use location::{Location, ObjectRead};
pub use manifest::{FileSpan, Fragment, IndexMeta, IndexSegment, Manifest};
pub use names::{invalid_reason, MAX_NAME_LEN};
pub use table::Table;
pub use trim::trimmed;
pub use writer::{Cadence, Cancelled, Progress, Stop, TableWriter, WriteKind, WriteOptions};
