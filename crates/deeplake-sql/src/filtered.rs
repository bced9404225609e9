//! WHERE clauses a lookup index (`inverted_index`, `exact_text`,
//! `unique`) can narrow: `col = v`, `col IN (...)`, `col BETWEEN a AND b`,
//! `col < v` (and `<=`, `>`, `>=`, either side), `col IS NULL`,
//! `col @> 'kw'` and `contains(col, 'kw')`, combined with AND and OR.
//!
//! Narrowing keeps the statement's meaning: the engine reads only the rows
//! the indexes return (a superset of those that pass) and DataFusion then
//! applies the whole WHERE to them exactly. A conjunct no index answers
//! constrains nothing; an OR narrows only when every side does. The table
//! must be the statement's only relation, so that a subquery over the
//! same table is never narrowed by the outer WHERE.

use std::ops::Bound;

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, SetExpr, Statement};
use deeplake_index::values::{Literal, ValueQuery};

use crate::indexed::only_table;
use crate::rewrite::{
    column_ref, const_number, const_text, function_args, function_name, relations,
};

/// What the WHERE asks of indexed columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Narrow {
    Leaf {
        column: String,
        query: ValueQuery,
    },
    /// Rows every part allows.
    All(Vec<Narrow>),
    /// Rows any part allows.
    Any(Vec<Narrow>),
}

/// A WHERE over one table, as far as indexes could narrow it.
#[derive(Debug, Clone)]
pub struct FilterSearch {
    pub table: String,
    pub narrow: Narrow,
}

fn literal(e: &Expr) -> Option<Literal> {
    match const_text(e) {
        Some(t) => Some(Literal::Text(t)),
        None => const_number(e).map(Literal::Number),
    }
}

/// The predicates of `e` on the table's columns (`is_column` names them).
fn narrow(e: &Expr, is_column: &dyn Fn(&Expr) -> Option<String>) -> Option<Narrow> {
    let leaf = |c: &Expr, query: Option<ValueQuery>| {
        Some(Narrow::Leaf {
            column: is_column(c)?,
            query: query?,
        })
    };
    let range = |lo: Bound<Literal>, hi: Bound<Literal>| Some(ValueQuery::Range(lo, hi));
    match e {
        Expr::Nested(inner) => narrow(inner, is_column),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And => match (narrow(left, is_column), narrow(right, is_column)) {
                (Some(a), Some(b)) => Some(Narrow::All(vec![a, b])),
                (a, b) => a.or(b),
            },
            BinaryOperator::Or => Some(Narrow::Any(vec![
                narrow(left, is_column)?,
                narrow(right, is_column)?,
            ])),
            BinaryOperator::AtArrow => leaf(left, const_text(right).map(ValueQuery::Contains)),
            _ => {
                // The column on the left: `v < col` reads as `col > v`.
                let (c, v, op) = match is_column(left) {
                    Some(_) => (left, right, op.clone()),
                    None => (right, left, flipped(op)?),
                };
                let v = literal(v)?;
                let query = match op {
                    BinaryOperator::Eq => Some(ValueQuery::AnyOf(vec![v])),
                    BinaryOperator::Lt | BinaryOperator::LtEq => {
                        range(Bound::Unbounded, Bound::Included(v))
                    }
                    BinaryOperator::Gt | BinaryOperator::GtEq => {
                        range(Bound::Included(v), Bound::Unbounded)
                    }
                    _ => None,
                };
                leaf(c, query)
            }
        },
        Expr::InList {
            expr,
            list,
            negated: false,
        } => leaf(
            expr,
            list.iter()
                .map(literal)
                .collect::<Option<Vec<_>>>()
                .map(ValueQuery::AnyOf),
        ),
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } => leaf(
            expr,
            range(
                Bound::Included(literal(low)?),
                Bound::Included(literal(high)?),
            ),
        ),
        Expr::IsNull(c) => leaf(c, Some(ValueQuery::IsNull)),
        Expr::Function(f) if function_name(e).as_deref() == Some("contains") => {
            match function_args(f).as_slice() {
                [c, kw] => leaf(c, const_text(kw).map(ValueQuery::Contains)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The operator with its sides swapped.
fn flipped(op: &BinaryOperator) -> Option<BinaryOperator> {
    Some(match op {
        BinaryOperator::Eq => BinaryOperator::Eq,
        BinaryOperator::Lt => BinaryOperator::Gt,
        BinaryOperator::LtEq => BinaryOperator::GtEq,
        BinaryOperator::Gt => BinaryOperator::Lt,
        BinaryOperator::GtEq => BinaryOperator::LtEq,
        _ => return None,
    })
}

/// The WHERE of `stmt` when it reads one table only and indexes could
/// narrow it; `has_column` says whether the table has a column.
pub fn filter_search(
    stmt: &Statement,
    has_column: impl Fn(&str, &str) -> bool,
) -> Option<FilterSearch> {
    let Statement::Query(query) = stmt else {
        return None;
    };
    if query.with.is_some() || relations(stmt).len() != 1 {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let (table, alias) = only_table(select)?;
    let is_column = |e: &Expr| {
        let (qual, column) = column_ref(e)?;
        let names_table = match &qual {
            None => true,
            Some(q) => alias.as_ref() == Some(q) || (alias.is_none() && *q == table),
        };
        (names_table && has_column(&table, &column)).then_some(column)
    };
    let narrow = narrow(select.selection.as_ref()?, &is_column)?;
    Some(FilterSearch { table, narrow })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::{DFParser, Statement as DFStatement};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn search(sql: &str) -> Option<Narrow> {
        let mut parsed = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}).ok()?;
        let Some(DFStatement::Statement(stmt)) = parsed.pop_front() else {
            return None;
        };
        filter_search(&stmt, |t, c| t == "docs" && ["label", "body"].contains(&c)).map(|f| f.narrow)
    }

    fn leaf(column: &str, query: ValueQuery) -> Narrow {
        Narrow::Leaf {
            column: column.into(),
            query,
        }
    }

    #[test]
    fn predicates_on_columns_are_recognized() {
        let n = |x: f64| Literal::Number(x);
        assert_eq!(
            search("SELECT * FROM docs WHERE label = 3"),
            Some(leaf("label", ValueQuery::AnyOf(vec![n(3.0)])))
        );
        assert_eq!(
            search("SELECT count(*) FROM public.docs d WHERE 5 < d.label AND body LIKE 'x%'"),
            Some(leaf(
                "label",
                ValueQuery::Range(Bound::Included(n(5.0)), Bound::Unbounded)
            ))
        );
        assert_eq!(
            search("SELECT * FROM docs WHERE label IN (1, -2) OR body @> 'cat'"),
            Some(Narrow::Any(vec![
                leaf("label", ValueQuery::AnyOf(vec![n(1.0), n(-2.0)])),
                leaf("body", ValueQuery::Contains("cat".into())),
            ]))
        );
        assert_eq!(
            search("SELECT * FROM docs WHERE contains(body, 'dog') AND label BETWEEN 1 AND 2"),
            Some(Narrow::All(vec![
                leaf("body", ValueQuery::Contains("dog".into())),
                leaf(
                    "label",
                    ValueQuery::Range(Bound::Included(n(1.0)), Bound::Included(n(2.0)))
                ),
            ]))
        );
    }

    #[test]
    fn what_cannot_narrow_is_not_narrowed() {
        for sql in [
            "SELECT * FROM docs",
            "SELECT * FROM docs WHERE label <> 3",
            "SELECT * FROM docs WHERE label NOT IN (1)",
            "SELECT * FROM docs WHERE label = 3 OR body LIKE 'x%'",
            "SELECT * FROM docs WHERE other = 3",
            "SELECT * FROM docs WHERE label = (SELECT max(label) FROM docs)",
            "SELECT * FROM docs d, docs e WHERE d.label = 3",
            "SELECT * FROM docs x WHERE docs.label = 3",
        ] {
            assert_eq!(search(sql), None, "{sql}");
        }
    }
}
