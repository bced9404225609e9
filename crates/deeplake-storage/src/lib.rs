//! Deeplake's table format: immutable column-major data files plus versioned
//! manifests on any `object_store`, committed with optimistic concurrency.

mod codec;
mod error;
mod location;
mod manifest;
mod names;
mod schema_codec;
mod table;

pub use error::{Result, StorageError};
pub use location::Location;
pub use manifest::{Fragment, Manifest};
pub use names::{invalid_reason, MAX_NAME_LEN};
pub use table::{compacted, Table};
