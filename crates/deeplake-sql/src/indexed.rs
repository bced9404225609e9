//! Statements an index can answer: `SELECT ... FROM t [WHERE ...] ORDER BY
//! col <#> vector DESC LIMIT k` (or `text_col <#> 'query'`), over one
//! table, with `col` carrying a vector (or BM25) index. Such a statement keeps its meaning; the engine only
//! narrows the table it reads to the index's candidates, which DataFusion
//! then scores exactly, filters and sorts as it would the whole table.
//! A WHERE clause is first run alone for the positions of the rows it
//! passes: few of them are simply all read (exact), many are handed to the
//! index, which then returns only rows among them and probes on until it
//! has k, so a selective filter never starves the result.

use arrow_schema::DataType;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, OrderByKind, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor,
};

use crate::catalog::SCHEMA;
use crate::functions::vector::{parse_array_text, ArrayText};
use crate::positions::{plain_query, plain_select};
use crate::provider::ROW_POSITION;
use crate::rewrite::{
    column_ref, const_text, const_vector, function_args, function_name, is_hybrid_type, norm_ident,
    object_name, result_depth, ScopeTable,
};

/// What a search looks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    /// Cosine against this vector.
    Vector(Vec<f32>),
    /// MaxSim against these query vectors (a 2-D column).
    Matrix(Vec<Vec<f32>>),
    /// BM25 of this query text.
    Text(String),
    /// Both, fused: the vector side on the search's column, the text side
    /// on `text_column`.
    Hybrid {
        vector: Vec<f32>,
        text: String,
        text_column: String,
    },
}

/// A top-k search over one table.
#[derive(Debug, Clone)]
pub struct TopKSearch {
    pub table: String,
    pub column: String,
    pub wanted: Wanted,
    /// LIMIT plus OFFSET.
    pub depth: usize,
    /// The statement reduced to selecting the row positions its WHERE
    /// passes; None without a WHERE.
    pub filter: Option<Statement>,
}

/// The table a plain single-table query reads, with its alias.
pub(crate) fn single_table(query: &Query) -> Option<(String, Option<String>)> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if !plain_select(select) {
        return None;
    }
    only_table(select)
}

/// The table `FROM` names when it names one table (or `public.table`) and
/// nothing else, with its alias.
pub(crate) fn only_table(select: &Select) -> Option<(String, Option<String>)> {
    let [from] = select.from.as_slice() else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        version: None,
        sample: None,
        ..
    } = &from.relation
    else {
        return None;
    };
    let table = match object_name(name).as_slice() {
        [n] => n.clone(),
        [s, n] if s == SCHEMA => n.clone(),
        _ => return None,
    };
    Some((table, alias.as_ref().map(|a| norm_ident(&a.name))))
}

/// The expression `ORDER BY` names: itself, or the select item it aliases.
pub(crate) fn ordered_expr<'a>(query: &'a Query, by: &'a Expr) -> &'a Expr {
    let (Expr::Identifier(id), SetExpr::Select(select)) = (by, query.body.as_ref()) else {
        return by;
    };
    let name = norm_ident(id);
    select
        .projection
        .iter()
        .find_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } if norm_ident(alias) == name => Some(expr),
            _ => None,
        })
        .unwrap_or(by)
}

/// A constant list of vectors: array text `{{...},{...}}`, `ARRAY[ARRAY[...]]`
/// or a bound 2-D parameter.
fn const_matrix(e: &Expr) -> Option<Vec<Vec<f32>>> {
    match e {
        Expr::Array(a) => a.elem.iter().map(const_vector).collect(),
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => const_matrix(e),
        Expr::Function(f) if function_name(e).as_deref() == Some("deeplake_vector2d") => {
            function_args(f).first().and_then(|a| const_matrix(a))
        }
        _ => match parse_array_text(&const_text(e)?) {
            Ok(ArrayText::Nested(rows)) => Some(rows),
            _ => None,
        },
    }
}

/// Whether a column of `data_type` holds a list of vectors per row.
fn is_matrix(data_type: &DataType) -> bool {
    matches!(data_type, DataType::List(item) if matches!(item.data_type(), DataType::List(_) | DataType::FixedSizeList(_, _)))
}

/// `(emb, text)::deeplake_hybrid_record <#> deeplake_hybrid_record(vector,
/// 'query', ...)` over two of the table's columns: the vector column and
/// what is wanted.
fn hybrid(
    left: &Expr,
    right: &Expr,
    is_column: impl Fn(&Expr) -> Option<String>,
) -> Option<(String, Wanted)> {
    let Expr::Cast {
        expr, data_type, ..
    } = left
    else {
        return None;
    };
    let (Expr::Tuple(items), true) = (expr.as_ref(), is_hybrid_type(data_type)) else {
        return None;
    };
    let [emb, text] = items.as_slice() else {
        return None;
    };
    let Expr::Function(f) = right else {
        return None;
    };
    if function_name(right).as_deref() != Some("deeplake_hybrid_record") {
        return None;
    }
    let args = function_args(f);
    let wanted = Wanted::Hybrid {
        vector: const_vector(args.first()?)?,
        text: const_text(args.get(1)?)?,
        text_column: is_column(text)?,
    };
    Some((is_column(emb)?, wanted))
}

/// The search `stmt` is, when an index could answer it.
pub fn top_k_search(stmt: &Statement, scope: &[ScopeTable]) -> Option<TopKSearch> {
    let Statement::Query(query) = stmt else {
        return None;
    };
    if !plain_query(query) {
        return None;
    }
    let (table, alias) = single_table(query)?;
    let scoped = scope.iter().find(|t| t.name == table)?;
    let depth = result_depth(stmt)?;
    let Some(OrderByKind::Expressions(order)) = query.order_by.as_ref().map(|o| &o.kind) else {
        return None;
    };
    let [by] = order.as_slice() else {
        return None;
    };
    // Best first only: an ascending order wants the worst matches.
    if by.options.asc != Some(false) {
        return None;
    }
    let mut expr = ordered_expr(query, &by.expr);
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Custom(op),
        right,
    } = expr
    else {
        return None;
    };
    if op != "<#>" {
        return None;
    }
    let names_table = |q: &Option<String>| match q {
        None => true,
        Some(q) => alias.as_ref() == Some(q) || (alias.is_none() && *q == table),
    };
    let is_column = |e: &Expr| {
        let (qual, column) = column_ref(e)?;
        scoped.schema.field_with_name(&column).ok()?;
        names_table(&qual).then_some(column)
    };
    let (column, wanted) = match hybrid(left, right, is_column) {
        Some(found) => found,
        None => [(left, right), (right, left)]
            .into_iter()
            .find_map(|(c, v)| {
                let (qual, column) = column_ref(c)?;
                let field = scoped.schema.field_with_name(&column).ok()?;
                if !names_table(&qual) {
                    return None;
                }
                let wanted = match field.data_type() {
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                        Wanted::Text(const_text(v)?)
                    }
                    t if is_matrix(t) => Wanted::Matrix(const_matrix(v)?),
                    _ => Wanted::Vector(const_vector(v)?),
                };
                Some((column, wanted))
            })?,
    };
    let filter = match query.body.as_ref() {
        SetExpr::Select(s) if s.selection.is_some() => {
            let mut q = query.clone();
            q.order_by = None;
            q.limit_clause = None;
            if let SetExpr::Select(s) = q.body.as_mut() {
                s.projection = vec![SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(
                    ROW_POSITION,
                )))];
            }
            Some(Statement::Query(q))
        }
        _ => None,
    };
    Some(TopKSearch {
        table,
        column,
        wanted,
        depth,
        filter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{Field, Schema};
    use datafusion::sql::parser::{DFParser, Statement as DFStatement};
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use std::sync::Arc;

    fn search(sql: &str) -> Option<TopKSearch> {
        let mut parsed = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}).ok()?;
        let Some(DFStatement::Statement(stmt)) = parsed.pop_front() else {
            return None;
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("emb", DataType::Float32, true),
            Field::new("label", DataType::Int64, true),
            Field::new("body", DataType::Utf8, true),
        ]));
        let scope = [ScopeTable {
            name: "docs".into(),
            alias: None,
            schema,
        }];
        top_k_search(&stmt, &scope)
    }

    #[test]
    fn top_k_searches_are_recognized() {
        let s = search(
            "SELECT label, emb <#> '{1,0}' AS score FROM docs ORDER BY score DESC LIMIT 5 OFFSET 2",
        )
        .unwrap();
        assert_eq!(
            (s.column.as_str(), s.depth, &s.wanted),
            ("emb", 7, &Wanted::Vector(vec![1.0, 0.0]))
        );
        let s = search("SELECT * FROM docs ORDER BY body <#> 'cat food' DESC LIMIT 3").unwrap();
        assert_eq!(s.wanted, Wanted::Text("cat food".into()));
        let s = search("SELECT label FROM docs ORDER BY (emb, body)::deeplake_hybrid_record <#> deeplake_hybrid_record('{1,0}', 'cat', 0.3, 0.7) DESC LIMIT 4").unwrap();
        assert_eq!(
            (s.column.as_str(), &s.wanted),
            (
                "emb",
                &Wanted::Hybrid {
                    vector: vec![1.0, 0.0],
                    text: "cat".into(),
                    text_column: "body".into()
                }
            )
        );
        let s = search(
            "SELECT label, emb <#> '{1,0}' AS score FROM docs ORDER BY score DESC LIMIT 5 OFFSET 2",
        )
        .unwrap();

        assert!(s.filter.is_none());
        let s = search("SELECT * FROM public.docs d WHERE d.label = 3 ORDER BY ARRAY[1,2] <#> d.emb DESC LIMIT 3").unwrap();
        assert_eq!(
            s.filter.unwrap().to_string(),
            "SELECT _deeplake_row FROM public.docs d WHERE d.label = 3"
        );
    }

    #[test]
    fn other_statements_are_not() {
        for sql in [
            "SELECT * FROM docs ORDER BY emb <#> '{1,0}' LIMIT 5",
            "SELECT * FROM docs ORDER BY emb <#> '{1,0}' DESC",
            "SELECT * FROM docs ORDER BY emb <#> emb DESC LIMIT 5",
            "SELECT * FROM docs ORDER BY other <#> '{1,0}' DESC LIMIT 5",
            "SELECT * FROM docs ORDER BY emb <#> '{1,0}' DESC, label LIMIT 5",
            "SELECT * FROM docs, docs d2 ORDER BY docs.emb <#> '{1,0}' DESC LIMIT 5",
            "SELECT label, count(*) FROM docs GROUP BY label ORDER BY label DESC LIMIT 5",
            "SELECT * FROM docs x ORDER BY docs.emb <#> '{1,0}' DESC LIMIT 5",
        ] {
            assert!(search(sql).is_none(), "{sql}");
        }
    }
}
