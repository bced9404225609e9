//! SQL over Deeplake tables on Apache DataFusion, PostgreSQL dialect.
//!
//! `<#>` is "higher is better": cosine similarity on `float4[]`, MaxSim on
//! `float4[][]`, Okapi BM25 on text (exact, statistics from the table) and
//! hybrid fusion on `deeplake_hybrid_record`. `ORDER BY score DESC LIMIT k`
//! runs as DataFusion's bounded top-k sort over a SIMD cosine kernel, so the
//! table is never sorted whole.

pub mod builder;
mod catalog;
mod ddl;
mod deadline;
mod direct;
mod engine;
mod error;
mod filtered;
pub mod functions;
mod indexed;
mod planned;
mod positions;
mod provider;
mod rewrite;
mod rows;
mod scan_filter;

pub use builder::Select;
pub use deadline::Deadline;
pub use engine::{Engine, QueryOutput};
pub use error::{Result, SqlError, SqlErrorKind};
pub use rows::{rows, Row};
