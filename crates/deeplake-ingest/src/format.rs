//! The format protocol: anything that yields column batches, with optional
//! type hints, as the spec's "Custom Format Classes" describe. The user's
//! schema given to `ingest` overrides the hints.

use std::collections::HashMap;

use deeplake_types::Column;

use crate::error::Result;

/// One batch: equal-length named columns.
pub type Batch = Vec<(String, Column)>;

pub trait Format: Send {
    /// `(column, type name)` hints, e.g. `("mask", "SEGMENT_MASK")`.
    fn schema(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Extra field metadata per column (class names of a label column, say).
    fn metadata(&self) -> Vec<(String, HashMap<String, String>)> {
        Vec::new()
    }

    /// The number of rows, when the source knows it up front (for progress).
    fn rows_hint(&self) -> Option<u64> {
        None
    }

    /// The batches, pulled one at a time so a large source streams.
    fn normalize(&mut self) -> Result<Box<dyn Iterator<Item = Result<Batch>> + Send + '_>>;

    /// Items the format passed over (missing files, say), known once the
    /// batches are exhausted.
    fn skipped(&self) -> u64 {
        0
    }
}
