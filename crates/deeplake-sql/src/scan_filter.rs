//! `WHERE` conditions evaluated inside a table scan (late materialization).
//!
//! A scan with a filter reads a piece's filter columns first and evaluates
//! the condition on them; the other projected columns are read only for
//! the rows that pass, at those rows' own bytes when few pass. A point
//! query (`WHERE id = $1`) then reads the `id` column and one row of the
//! rest, where a scan without a filter decodes every projected column of
//! every row for a filter above it to throw away.
//!
//! Contract: a filter is pushed into the scan only when evaluating it there
//! is exactly what a filter above the scan would do (DataFusion is told the
//! pushdown is exact and drops its own filter): it reads stored columns
//! only, holds no subquery, aggregate or volatile function, and a row
//! passes when the condition is true (NULL and false both drop it).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use datafusion::arrow::compute::prep_null_mask_filter;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{exec_err, DFSchema, Result};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;

/// Whether `filter` can run inside a scan of a table with `schema` with
/// exactly the result a filter above the scan would give.
pub fn pushable(filter: &Expr, schema: &Schema) -> bool {
    let foreign = filter.exists(|e| {
        Ok(match e {
            Expr::Column(c) => schema.field_with_name(&c.name).is_err(),
            Expr::ScalarFunction(_) => e.is_volatile_node(),
            Expr::Literal(..)
            | Expr::BinaryExpr(_)
            | Expr::Like(_)
            | Expr::SimilarTo(_)
            | Expr::Not(_)
            | Expr::IsNotNull(_)
            | Expr::IsNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsNotUnknown(_)
            | Expr::Negative(_)
            | Expr::Between(_)
            | Expr::Case(_)
            | Expr::Cast(_)
            | Expr::TryCast(_)
            | Expr::InList(_) => false,
            _ => true,
        })
    });
    matches!(foreign, Ok(false))
}

/// A scan's conjunction of pushed filters, planned against the columns it
/// reads.
#[derive(Debug)]
pub struct ScanFilter {
    /// The stored columns the condition reads, in table order.
    columns: Vec<String>,
    predicate: Arc<dyn PhysicalExpr>,
}

impl ScanFilter {
    /// The filter for `filters` (all [`pushable`]), or `None` without any.
    pub fn new(state: &dyn Session, filters: &[Expr], table: &Schema) -> Result<Option<Self>> {
        let Some(condition) = conjunction(filters.iter().cloned().map(unnormalize_col)) else {
            return Ok(None);
        };
        let refs = condition.column_refs();
        let fields: Vec<_> = table
            .fields()
            .iter()
            .filter(|f| refs.iter().any(|c| c.name == *f.name()))
            .cloned()
            .collect();
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let predicate = state.create_physical_expr(condition, &df_schema)?;
        Ok(Some(ScanFilter { columns, predicate }))
    }

    pub fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(String::as_str).collect()
    }

    pub fn reads(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }

    /// Which rows of `batch` (the filter's columns) pass: true only where
    /// the condition is true.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let value = self
            .predicate
            .evaluate(batch)?
            .into_array(batch.num_rows())?;
        if value.data_type() != &DataType::Boolean {
            return exec_err!("WHERE condition must be boolean, got {}", value.data_type());
        }
        let mask = value.as_boolean();
        Ok(match mask.null_count() {
            0 => mask.clone(),
            _ => prep_null_mask_filter(mask),
        })
    }
}
