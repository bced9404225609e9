//! What search is made of, below SQL: the BM25 tokenizer, corpus
//! statistics and scoring (`bm25`), the SIMD cosine and MaxSim kernels
//! (`kernel`), and the index structures built on them over storage's
//! index segments: the index types and their rules (`kind`), the IVF
//! vector index (`ivf`), the BM25 postings (`postings`), the lookup
//! indexes for WHERE (`values`: sorted values; `grams`: trigrams of
//! texts), building and catching up a table's indexes (`build`), keeping
//! `unique` columns unique (`unique`) on every commit through storage's
//! seam (`upkeep`), and answering from them (`search`,
//! with loaded segments cached per process). SQL depends on this crate and this crate on
//! storage, never the reverse.

pub mod bm25;
pub mod build;
mod file;
pub mod grams;
pub mod ivf;
pub mod kernel;
pub mod kind;
pub mod postings;
pub mod search;
mod segment;
pub mod unique;
pub mod upkeep;
pub mod values;

use deeplake_storage::StorageError;

/// What can go wrong building or reading an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The statement or its arguments are wrong (unknown type, a column
    /// the type cannot index, mismatched vector sizes).
    #[error("{0}")]
    BadInput(String),
    /// A write that would repeat a value of a `unique` column.
    #[error("{0}")]
    Duplicate(String),
    /// An index file that does not read back as written.
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}
