//! What search is made of, below SQL: the BM25 tokenizer, corpus
//! statistics and scoring (`bm25`), and the SIMD cosine and MaxSim kernels
//! (`kernel`). The index structures built on them live here too, so that
//! SQL depends on this crate and this crate on storage, never the reverse.

pub mod bm25;
pub mod kernel;
