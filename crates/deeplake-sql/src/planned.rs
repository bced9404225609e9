//! Top-k searches found in DataFusion's optimized logical plan rather
//! than in the statement's text: DataFusion has already inlined CTEs and
//! subqueries and pushed each `LIMIT` into its sort, so a search is the
//! same few nodes wherever it sits (a CTE, a subquery in `FROM`, one side
//! of a join): a sort with a fetch whose key is a per-statement scoring
//! function (cosine against a bound vector, BM25 of a bound query) of a
//! column of one table scan, with or without the projection between them.
//!
//! What a match may narrow: only a table the plan scans once and without
//! filters, so the rows an index picks for the search are the only rows
//! any part of the statement reads from it.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr};

use crate::indexed::{TopKSearch, Wanted};
use crate::rewrite::Search;

/// The top-k searches of `plan` over tables it scans exactly once.
pub(crate) fn plan_searches(plan: &LogicalPlan, searches: &[Search]) -> Vec<TopKSearch> {
    let mut found = Vec::new();
    let mut scans: Vec<String> = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            scans.push(scan.table_name.table().to_string());
        }
        if let Some(s) = search_at(node, searches) {
            found.push(s);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found.retain(|s| scans.iter().filter(|t| **t == s.table).count() == 1);
    found
}

/// The search a `Sort` node with a fetch runs, when it is one.
fn search_at(node: &LogicalPlan, searches: &[Search]) -> Option<TopKSearch> {
    let LogicalPlan::Sort(sort) = node else {
        return None;
    };
    let depth = sort.fetch?;
    let key = descending_key(sort.expr.first()?)?;
    let (function, input) = match sort.input.as_ref() {
        LogicalPlan::Projection(p) => {
            let scored = match key {
                Expr::Column(c) => p.expr.iter().find_map(|e| match e {
                    Expr::Alias(a) if a.name == c.name => Some(a.expr.as_ref()),
                    _ => None,
                })?,
                other => other,
            };
            (scored, p.input.as_ref())
        }
        _ => (key, sort.input.as_ref()),
    };
    let LogicalPlan::TableScan(scan) = input else {
        return None;
    };
    if !scan.filters.is_empty() || scan.fetch.is_some() {
        return None;
    }
    let Expr::ScalarFunction(call) = function else {
        return None;
    };
    let [Expr::Column(column)] = call.args.as_slice() else {
        return None;
    };
    let name = call.func.name();
    let wanted = searches.iter().find_map(|s| match s {
        Search::Vector { udf, vector } if udf == name => Some(Wanted::Vector(vector.clone())),
        Search::Bm25 { udf, query, .. } if udf == name => Some(Wanted::Text(query.clone())),
        _ => None,
    })?;
    Some(TopKSearch {
        table: scan.table_name.table().to_string(),
        column: column.name.clone(),
        wanted,
        depth,
        filter: None,
    })
}

/// The expression of a `DESC` sort key (higher scores first).
fn descending_key(key: &SortExpr) -> Option<&Expr> {
    (!key.asc).then_some(&key.expr)
}
