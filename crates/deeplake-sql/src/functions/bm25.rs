//! Okapi BM25 on text columns as SQL functions: the scoring itself is
//! `deeplake_index::bm25`'s.

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Float32Array};
use arrow_schema::DataType;
use datafusion::common::{exec_err, Result};
use deeplake_index::bm25::Bm25Query;

use super::bound::RowScorer;

/// Scores every row of a string column with `score`.
pub fn score_texts(column: &ArrayRef, score: impl Fn(&str) -> f32) -> Result<Float32Array> {
    let col = arrow_cast::cast(column, &DataType::Utf8)?;
    Ok(col
        .as_string::<i32>()
        .iter()
        .map(|t| t.map(&score))
        .collect())
}

/// `text <#> 'query'`: the statistics are bound when the statement is
/// planned, so each batch only reads its rows' text.
impl RowScorer for Bm25Query {
    const ARGS: usize = 1;
    fn scores(&self, args: &[ArrayRef]) -> Result<Float32Array> {
        if !matches!(
            args[0].data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        ) {
            return exec_err!("BM25 needs a text column, got {}", args[0].data_type());
        }
        score_texts(&args[0], |t| self.score(t))
    }
}
