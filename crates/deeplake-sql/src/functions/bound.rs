//! Scoring functions bound, at planning time, to state computed from the
//! whole table (BM25 statistics, hybrid top-k lists): registered per
//! statement under a unique name, they then score each batch's rows.

use std::fmt::Debug;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array};
use arrow_schema::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// What a bound function computes from its argument columns.
pub trait RowScorer: Debug + PartialEq + Send + Sync + 'static {
    /// Number of argument columns.
    const ARGS: usize;
    fn scores(&self, args: &[ArrayRef]) -> Result<Float32Array>;
}

#[derive(Debug)]
pub struct Bound<Q: RowScorer> {
    name: String,
    query: Arc<Q>,
    signature: Signature,
}

impl<Q: RowScorer> Bound<Q> {
    pub fn new(name: String, query: Arc<Q>) -> Bound<Q> {
        Bound {
            name,
            query,
            signature: Signature::any(Q::ARGS, Volatility::Immutable),
        }
    }
}

impl<Q: RowScorer> PartialEq for Bound<Q> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.query == other.query
    }
}
impl<Q: RowScorer> Eq for Bound<Q> {}
impl<Q: RowScorer> std::hash::Hash for Bound<Q> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl<Q: RowScorer> ScalarUDFImpl for Bound<Q> {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<Result<Vec<_>>>()?;
        let scores = self.query.scores(&arrays)?;
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &scores, 0,
            )?));
        }
        Ok(ColumnarValue::Array(Arc::new(scores)))
    }
}
