//! Answering an index-narrowed top-k without planning it.
//!
//! Once an index has narrowed `SELECT cols, score FROM t [WHERE ...] ORDER
//! BY score DESC LIMIT k` to a few candidate rows, planning the statement
//! costs more than running it (DataFusion's logical and physical planning
//! of one such statement: most of a millisecond). When the statement's
//! shape is this simple, the candidates' columns are read, scored by the
//! statement's own scoring function (the same one a plan would call),
//! sorted best first with NULLs first (PostgreSQL's `DESC`), and the
//! selected columns returned. Anything else (expressions, joins, a second
//! order key, NULLS LAST, EXPLAIN) keeps the planned path; so does a WHERE
//! clause, unless the candidates already hold only rows it passes (the
//! engine says so), since no predicate is evaluated here.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::compute::{sort_to_indices, take, SortOptions};
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use datafusion::sql::sqlparser::ast::{
    Expr, LimitClause, OrderByKind, SelectItem, SetExpr, Statement,
};
use deeplake_storage::Table;

use crate::error::{Result, SqlError};
use crate::indexed::{ordered_expr, single_table};
use crate::rewrite::{column_ref, const_number, function_args, function_name, norm_ident};

/// Where an output column comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Column(String),
    Score,
}

/// A top-k statement simple enough to answer directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Direct {
    /// Output name and source of each selected column, in order.
    outputs: Vec<(String, Source)>,
    /// The scoring function and its argument columns.
    udf: String,
    args: Vec<String>,
    limit: usize,
    offset: usize,
}

/// A whole number constant.
fn count(e: &Expr) -> Option<usize> {
    let n = const_number(e)?;
    (n >= 0.0 && n.fract() == 0.0).then_some(n as usize)
}

/// The shape of `stmt` (after the search rewrite) when it can be answered
/// directly: every selected item a column of `schema` (plain, aliased or
/// `*`) or the ordering score under an alias.
pub fn direct_shape(stmt: &Statement, table: &str, schema: &Schema) -> Option<Direct> {
    let Statement::Query(query) = stmt else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if select.having.is_some() || select.qualify.is_some() || !select.named_window.is_empty() {
        return None;
    }
    let (_, alias) = single_table(query)?;
    let ours = |qual: &Option<String>| match qual {
        None => true,
        Some(q) => Some(q) == alias.as_ref() || (alias.is_none() && q == table),
    };
    let column = |e: &Expr| {
        let (qual, name) = column_ref(e)?;
        (ours(&qual) && schema.field_with_name(&name).is_ok()).then_some(name)
    };
    let (limit, offset) = match query.limit_clause.as_ref()? {
        LimitClause::LimitOffset { limit, offset, .. } => (
            count(limit.as_ref()?)?,
            offset.as_ref().map_or(Some(0), |o| count(&o.value))?,
        ),
        LimitClause::OffsetCommaLimit { offset, limit } => (count(limit)?, count(offset)?),
    };
    let Some(OrderByKind::Expressions(order)) = query.order_by.as_ref().map(|o| &o.kind) else {
        return None;
    };
    let [by] = order.as_slice() else {
        return None;
    };
    if by.options.asc != Some(false) || by.options.nulls_first == Some(false) {
        return None;
    }
    // The ordering score: a call of the search's function on columns,
    // written out or named by its alias.
    let score = ordered_expr(query, &by.expr);
    let Expr::Function(f) = score else {
        return None;
    };
    let udf = function_name(score)?;
    if !udf.starts_with("deeplake_") {
        return None;
    }
    let args = function_args(f)
        .into_iter()
        .map(column)
        .collect::<Option<Vec<_>>>()?;
    let mut outputs = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(opts)
                if opts.opt_exclude.is_none()
                    && opts.opt_except.is_none()
                    && opts.opt_replace.is_none()
                    && opts.opt_rename.is_none()
                    && opts.opt_ilike.is_none() =>
            {
                outputs.extend(
                    schema
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), Source::Column(f.name().clone()))),
                );
            }
            SelectItem::UnnamedExpr(e) => {
                let c = column(e)?;
                outputs.push((c.clone(), Source::Column(c)));
            }
            SelectItem::ExprWithAlias { expr, alias } if expr == score => {
                outputs.push((norm_ident(alias), Source::Score));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                outputs.push((norm_ident(alias), Source::Column(column(expr)?)));
            }
            _ => return None,
        }
    }
    Some(Direct {
        outputs,
        udf,
        args,
        limit,
        offset,
    })
}

fn internal(e: impl std::fmt::Display) -> SqlError {
    SqlError::internal(e.to_string())
}

impl Direct {
    pub fn udf(&self) -> &str {
        &self.udf
    }

    /// Reads `rows` (global live positions) of `table`, scores them with
    /// `udf` and returns the selected columns of the best, as the planned
    /// statement would.
    pub async fn run(&self, table: &Table, rows: &[u64], udf: &ScalarUDF) -> Result<RecordBatch> {
        let mut needed: Vec<&str> = self.args.iter().map(String::as_str).collect();
        for (_, s) in &self.outputs {
            if let Source::Column(c) = s {
                if !needed.contains(&c.as_str()) {
                    needed.push(c);
                }
            }
        }
        let batch = table.take(rows, Some(&needed)).await?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| internal(format!("column {name} was not read")))
        };
        let schema = batch.schema();
        let args = self
            .args
            .iter()
            .map(|a| column(a).map(ColumnarValue::Array))
            .collect::<Result<Vec<_>>>()?;
        let arg_fields = self
            .args
            .iter()
            .map(|a| schema.field_with_name(a).map(|f| Arc::new(f.clone())))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(internal)?;
        let score_field = Arc::new(Field::new(&self.udf, DataType::Float32, true));
        let scores = udf
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: batch.num_rows(),
                return_field: score_field,
                config_options: Arc::new(ConfigOptions::default()),
            })?
            .into_array(batch.num_rows())?;
        let options = SortOptions {
            descending: true,
            nulls_first: true,
        };
        let order = sort_to_indices(
            &scores,
            Some(options),
            Some(self.limit.saturating_add(self.offset)),
        )
        .map_err(internal)?;
        let start = self.offset.min(order.len());
        let order = order.slice(start, order.len() - start);
        let mut fields = Vec::with_capacity(self.outputs.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.outputs.len());
        for (name, source) in &self.outputs {
            let (field, values) = match source {
                Source::Score => (Field::new(name, DataType::Float32, true), scores.clone()),
                Source::Column(c) => (
                    schema
                        .field_with_name(c)
                        .map_err(internal)?
                        .clone()
                        .with_name(name),
                    column(c)?,
                ),
            };
            fields.push(field);
            columns.push(take(&values, &order, None).map_err(internal)?);
        }
        let out: SchemaRef = Arc::new(Schema::new(fields));
        let opts = RecordBatchOptions::new().with_row_count(Some(order.len()));
        RecordBatch::try_new_with_options(out, columns, &opts).map_err(internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::{DFParser, Statement as DFStatement};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn shape(sql: &str) -> Option<Direct> {
        let mut parsed = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}).ok()?;
        let Some(DFStatement::Statement(stmt)) = parsed.pop_front() else {
            return None;
        };
        let schema = Schema::new(vec![
            Field::new("idx", DataType::Int64, true),
            Field::new("emb", DataType::Float32, true),
        ]);
        direct_shape(&stmt, "docs", &schema)
    }

    #[test]
    fn simple_top_k_statements_are_answered_directly() {
        let d = shape("SELECT idx, deeplake_cosine_1(emb) AS s FROM docs d WHERE idx > 3 ORDER BY s DESC LIMIT 5 OFFSET 2").unwrap();
        assert_eq!(
            (d.udf.as_str(), d.args.as_slice(), d.limit, d.offset),
            ("deeplake_cosine_1", &["emb".to_string()][..], 5, 2)
        );
        assert_eq!(
            d.outputs,
            [
                ("idx".to_string(), Source::Column("idx".into())),
                ("s".to_string(), Source::Score)
            ]
        );
        let d =
            shape("SELECT *, d.idx AS id FROM docs d ORDER BY deeplake_bm25_1(d.emb) DESC LIMIT 3")
                .unwrap();
        let names: Vec<&str> = d.outputs.iter().map(|o| o.0.as_str()).collect();
        assert_eq!(names, ["idx", "emb", "id"]);
    }

    #[test]
    fn anything_else_is_planned() {
        for sql in [
            "SELECT idx + 1, deeplake_cosine_1(emb) AS s FROM docs ORDER BY s DESC LIMIT 5",
            "SELECT idx, deeplake_cosine_1(emb) FROM docs ORDER BY deeplake_cosine_1(emb) DESC LIMIT 5",
            "SELECT idx, deeplake_cosine_1(emb) AS s FROM docs ORDER BY s DESC NULLS LAST LIMIT 5",
            "SELECT idx, deeplake_cosine_1(emb) AS s FROM docs ORDER BY s DESC, idx LIMIT 5",
            "SELECT idx, deeplake_cosine_1(emb) AS s FROM docs ORDER BY s LIMIT 5",
            "SELECT idx, deeplake_cosine_1(emb) AS s FROM docs ORDER BY s DESC",
            "SELECT idx, abs(idx) AS s FROM docs ORDER BY s DESC LIMIT 5",
            "SELECT other, deeplake_cosine_1(emb) AS s FROM docs ORDER BY s DESC LIMIT 5",
            "SELECT x.idx, deeplake_cosine_1(emb) AS s FROM docs d ORDER BY s DESC LIMIT 5",
        ] {
            assert!(shape(sql).is_none(), "{sql}");
        }
    }
}
