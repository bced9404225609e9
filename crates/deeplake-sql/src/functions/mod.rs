//! Scalar functions behind the PostgreSQL operators and helpers.

pub mod bm25;
pub mod bound;
pub mod capped;
pub mod hybrid;
pub mod json;
pub mod sync;
pub mod vector;

use datafusion::logical_expr::ScalarUDF;

/// The functions every session has (the per-query search functions are
/// added when a statement needs them); the capped string functions
/// replace DataFusion's of the same names.
pub fn builtins() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(vector::ToVector::flat()),
        ScalarUDF::new_from_impl(vector::ToVector::nested()),
        ScalarUDF::new_from_impl(vector::Similarity::default()),
        ScalarUDF::new_from_impl(json::JsonGet::json()),
        ScalarUDF::new_from_impl(json::JsonGet::text()),
        ScalarUDF::new_from_impl(capped::Capped::repeat()),
        ScalarUDF::new_from_impl(capped::Capped::lpad()),
        ScalarUDF::new_from_impl(capped::Capped::rpad()),
    ]
}
