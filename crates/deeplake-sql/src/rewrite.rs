//! Statement rewriting before DataFusion plans it.
//!
//! PostgreSQL spellings that DataFusion has no meaning for become function
//! calls here: `<#>` (by the types of its operands), `::float4[]` casts,
//! `@>` on text, `->`/`->>` on JSON. `$n` parameters are bound as literals,
//! so DataFusion types them from context like any literal, and a vector
//! parameter is whatever the cast or the operator around it asks for.

use std::ops::ControlFlow;

use arrow_schema::{DataType, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    self, visit_expressions_mut, ArrayElemTypeDef, BinaryOperator, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, LimitClause, ObjectName,
    Statement, TableFactor, UnaryOperator, Value, Visit, Visitor,
};
use deeplake_types::Value as Param;

use crate::functions::hybrid::{Fusion, DEFAULT_FUSION};
use crate::functions::vector::{parse_array_text, ArrayText};

/// A table the statement names, with its alias and schema (when it is a
/// table of the workspace).
pub struct ScopeTable {
    pub name: String,
    pub alias: Option<String>,
    pub schema: SchemaRef,
}

/// A search whose scores need whole-table statistics, or a constant
/// query vector bound once, prepared before planning.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    /// `col <#> constant vector`: the vector is bound to the function
    /// rather than left in the plan as a literal, which DataFusion would
    /// fold into a list constant and format into every expression name.
    Vector { udf: String, vector: Vec<f32> },
    Bm25 {
        udf: String,
        table: String,
        column: String,
        query: String,
    },
    Hybrid {
        udf: String,
        table: String,
        vector_column: String,
        text_column: String,
        vector: Vec<f32>,
        query: String,
        w_vec: f64,
        w_text: f64,
        fusion: Fusion,
        depth: usize,
    },
}

/// Candidates taken from each side of a hybrid search when the query has no LIMIT.
pub const HYBRID_DEPTH_DEFAULT: usize = 100;

pub(crate) fn norm_ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

pub(crate) fn object_name(n: &ObjectName) -> Vec<String> {
    n.0.iter()
        .filter_map(|p| p.as_ident().map(norm_ident))
        .collect()
}

/// Tables named anywhere in the statement: `(name parts, alias)`.
pub fn relations(stmt: &Statement) -> Vec<(Vec<String>, Option<String>)> {
    struct V(Vec<(Vec<String>, Option<String>)>);
    impl Visitor for V {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, alias, .. } = t {
                self.0.push((
                    object_name(name),
                    alias.as_ref().map(|a| norm_ident(&a.name)),
                ));
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V(Vec::new());
    let _ = stmt.visit(&mut v);
    if let Statement::Insert(ins) = stmt {
        if let ast::TableObject::TableName(n) = &ins.table {
            v.0.push((object_name(n), None));
        }
    }
    v.0
}

/// Whether the statement calls the function `name` anywhere (in an
/// expression, or as a table function in FROM).
pub fn calls(stmt: &Statement, name: &str) -> bool {
    let named = |n: &ObjectName| object_name(n).last().is_some_and(|last| last == name);
    let in_expr = ast::visit_expressions(stmt, |e| match e {
        Expr::Function(f) if named(&f.name) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    in_expr.is_break()
        || ast::visit_relations(stmt, |r| match named(r) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        })
        .is_break()
}

/// The highest `$n` in the statement (0 when it has none).
pub fn max_placeholder(stmt: &mut Statement) -> Result<usize, String> {
    let mut max = 0usize;
    let mut bad = None;
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                match p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n > 0 => max = max.max(n),
                    _ => bad = Some(p.clone()),
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    match bad {
        Some(p) => Err(format!("unsupported placeholder '{p}': use $1, $2, ...")),
        None => Ok(max),
    }
}

fn value(v: Value) -> Expr {
    Expr::value(v)
}

fn number(x: f64) -> Expr {
    let lit = value(Value::Number(format!("{:?}", x.abs()), false));
    if x.is_sign_negative() && x != 0.0 {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: Box::new(lit),
        }
    } else {
        lit
    }
}

/// A function call expression `name(args...)`.
pub fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn floats_text(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("{{{}}}", parts.join(","))
}

/// A parameter as a SQL literal.
fn param_expr(i: usize, p: &Param) -> Result<Expr, String> {
    let non_finite = || format!("parameter ${i} is not a finite number");
    Ok(match p {
        Param::Null => value(Value::Null),
        Param::Bool(b) => value(Value::Boolean(*b)),
        Param::Int(n) => {
            let lit = value(Value::Number(n.unsigned_abs().to_string(), false));
            if *n < 0 {
                Expr::UnaryOp {
                    op: UnaryOperator::Minus,
                    expr: Box::new(lit),
                }
            } else {
                lit
            }
        }
        Param::Float(x) if !x.is_finite() => return Err(non_finite()),
        Param::Float(x) => number(*x),
        Param::Str(s) => value(Value::SingleQuotedString(s.clone())),
        Param::Bytes(b) => value(Value::HexStringLiteral(
            b.iter().map(|x| format!("{x:02x}")).collect(),
        )),
        Param::Floats(v) if v.iter().any(|x| !x.is_finite()) => return Err(non_finite()),
        Param::Floats(v) => call(
            "deeplake_vector",
            vec![value(Value::SingleQuotedString(floats_text(v)))],
        ),
        Param::FloatRows(rows) if rows.iter().flatten().any(|x| !x.is_finite()) => {
            return Err(non_finite())
        }
        Param::FloatRows(rows) => {
            let inner: Vec<String> = rows.iter().map(|r| floats_text(r)).collect();
            call(
                "deeplake_vector2d",
                vec![value(Value::SingleQuotedString(format!(
                    "{{{}}}",
                    inner.join(",")
                )))],
            )
        }
        Param::Json(j) => value(Value::SingleQuotedString(j.to_string())),
    })
}

/// Replaces `$n` with the n-th parameter. The count must match exactly.
pub fn bind_params(stmt: &mut Statement, params: &[Param]) -> Result<(), String> {
    let needed = max_placeholder(stmt)?;
    if needed != params.len() {
        return Err(format!(
            "the query has {needed} parameter placeholder(s) but {} parameter(s) were given",
            params.len()
        ));
    }
    if needed == 0 {
        return Ok(());
    }
    let exprs = params
        .iter()
        .enumerate()
        .map(|(i, p)| param_expr(i + 1, p))
        .collect::<Result<Vec<_>, _>>()?;
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    *e = exprs[n - 1].clone();
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

/// Array nesting of a cast target whose elements are numbers, if it is one.
fn float_array_dims(t: &ast::DataType) -> Option<usize> {
    use ast::DataType as T;
    match t {
        T::Array(ArrayElemTypeDef::SquareBracket(inner, _))
        | T::Array(ArrayElemTypeDef::AngleBracket(inner))
        | T::Array(ArrayElemTypeDef::Parenthesis(inner)) => match inner.as_ref() {
            T::Array(_) => float_array_dims(inner).map(|d| d + 1),
            T::Real
            | T::Float4
            | T::Float(_)
            | T::Float8
            | T::Float32
            | T::Float64
            | T::Double(_)
            | T::DoublePrecision
            | T::Numeric(_)
            | T::Decimal(_)
            | T::Int(_)
            | T::Integer(_)
            | T::BigInt(_)
            | T::SmallInt(_)
            | T::Int4(_)
            | T::Int8(_) => Some(1),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn is_hybrid_type(t: &ast::DataType) -> bool {
    matches!(t, ast::DataType::Custom(n, _) if object_name(n).last().is_some_and(|s| s == "deeplake_hybrid_record"))
}

pub(crate) fn function_args(f: &Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

pub(crate) fn function_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Function(f) => object_name(&f.name).last().cloned(),
        _ => None,
    }
}

/// A constant number in the AST (`0.7`, `-1`, `(0.3)`, `'0.5'::float`).
pub(crate) fn const_number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            Value::SingleQuotedString(s) => s.trim().parse().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => const_number(expr).map(|x| -x),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. } => const_number(expr),
        _ => None,
    }
}

pub(crate) fn const_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::DoubleQuotedString(s)
            | Value::DollarQuotedString(ast::DollarQuotedString { value: s, .. }) => {
                Some(s.clone())
            }
            _ => None,
        },
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => const_text(e),
        _ => None,
    }
}

/// A constant float vector in the AST: an array text, `ARRAY[...]`, either
/// cast to `float4[]`.
pub(crate) fn const_vector(e: &Expr) -> Option<Vec<f32>> {
    match e {
        Expr::Array(a) => a
            .elem
            .iter()
            .map(|x| const_number(x).map(|v| v as f32))
            .collect(),
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => const_vector(e),
        Expr::Function(f) if function_name(e).as_deref() == Some("deeplake_vector") => {
            function_args(f).first().and_then(|a| const_vector(a))
        }
        _ => match parse_array_text(&const_text(e)?) {
            Ok(ArrayText::Flat(v)) => Some(v),
            _ => None,
        },
    }
}

/// A column reference: (qualifier, column), normalized.
pub(crate) fn column_ref(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Identifier(i) => Some((None, norm_ident(i))),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => Some((
            Some(norm_ident(&parts[parts.len() - 2])),
            norm_ident(&parts[parts.len() - 1]),
        )),
        Expr::Nested(e) => column_ref(e),
        _ => None,
    }
}

struct Rewriter<'a> {
    scope: &'a [ScopeTable],
    depth: usize,
    searches: Vec<Search>,
    error: Option<String>,
}

impl Rewriter<'_> {
    /// The workspace table and type of a column reference, if it names one.
    fn resolve(&self, e: &Expr) -> Result<Option<(String, String, DataType)>, String> {
        let Some((qual, col)) = column_ref(e) else {
            return Ok(None);
        };
        let hits: Vec<&ScopeTable> = self
            .scope
            .iter()
            .filter(|t| match &qual {
                Some(q) => t.alias.as_ref() == Some(q) || (t.alias.is_none() && &t.name == q),
                None => true,
            })
            .filter(|t| t.schema.field_with_name(&col).is_ok())
            .collect();
        match hits.as_slice() {
            [] => Ok(None),
            [t] => {
                let dt = t.schema.field_with_name(&col).map_err(|e| e.to_string())?;
                Ok(Some((t.name.clone(), col, dt.data_type().clone())))
            }
            _ => Err(format!("column reference \"{col}\" is ambiguous")),
        }
    }

    fn next_udf(&self, kind: &str) -> String {
        format!("deeplake_{kind}_{}", self.searches.len() + 1)
    }

    fn search_op(&mut self, left: &Expr, right: &Expr) -> Result<Expr, String> {
        if let Expr::Cast {
            expr, data_type, ..
        } = left
        {
            if is_hybrid_type(data_type) {
                return self.hybrid(expr, right);
            }
        }
        // `text <#> 'query'` (either way round) is BM25 over the table's text.
        for (col, q) in [(left, right), (right, left)] {
            if let Some((table, column, dt)) = self.resolve(col)? {
                if matches!(
                    dt,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) {
                    let Some(query) = const_text(q) else {
                        return Err(
                            "the right side of text <#> must be a text constant or parameter"
                                .into(),
                        );
                    };
                    let udf = self.next_udf("bm25");
                    self.searches.push(Search::Bm25 {
                        udf: udf.clone(),
                        table,
                        column,
                        query,
                    });
                    return Ok(call(&udf, vec![col.clone()]));
                }
            }
        }
        for (col, q) in [(left, right), (right, left)] {
            if let (Some(_), Some(vector)) = (self.resolve(col)?, const_vector(q)) {
                let udf = self.next_udf("cosine");
                self.searches.push(Search::Vector {
                    udf: udf.clone(),
                    vector,
                });
                return Ok(call(&udf, vec![col.clone()]));
            }
        }
        Ok(call(
            "deeplake_similarity",
            vec![left.clone(), right.clone()],
        ))
    }

    fn hybrid(&mut self, tuple: &Expr, right: &Expr) -> Result<Expr, String> {
        let usage = "hybrid search is (embedding, text)::deeplake_hybrid_record <#> deeplake_hybrid_record(vector, 'query'[, w_vec, w_text[, 'fusion']])";
        let Expr::Tuple(items) = tuple else {
            return Err(usage.into());
        };
        let [emb, text] = items.as_slice() else {
            return Err(usage.into());
        };
        let Expr::Function(f) = right else {
            return Err(usage.into());
        };
        if function_name(right).as_deref() != Some("deeplake_hybrid_record") {
            return Err(usage.into());
        }
        let args = function_args(f);
        if !matches!(args.len(), 2 | 4 | 5) {
            return Err(usage.into());
        }
        let vector = const_vector(args[0]).ok_or(
            "the first argument of deeplake_hybrid_record must be a constant float4[] vector",
        )?;
        let query = const_text(args[1])
            .ok_or("the second argument of deeplake_hybrid_record must be a text constant")?;
        let (w_vec, w_text) = if args.len() >= 4 {
            match (const_number(args[2]), const_number(args[3])) {
                (Some(a), Some(b)) if a >= 0.0 && b >= 0.0 => (a, b),
                _ => return Err("hybrid weights must be constant numbers >= 0".into()),
            }
        } else {
            (0.5, 0.5)
        };
        let fusion = match args.get(4) {
            Some(a) => Fusion::parse(&const_text(a).ok_or("the fusion must be a text constant")?)
                .map_err(|e| e.to_string())?,
            None => DEFAULT_FUSION,
        };
        let (Some((t1, vector_column, vt)), Some((t2, text_column, tt))) =
            (self.resolve(emb)?, self.resolve(text)?)
        else {
            return Err(
                "hybrid search needs an embedding column and a text column of a table".into(),
            );
        };
        if t1 != t2 {
            return Err("hybrid search columns must come from one table".into());
        }
        if !matches!(vt, DataType::FixedSizeList(_, _) | DataType::List(_)) {
            return Err(format!(
                "hybrid search: column \"{vector_column}\" is not a float4[] embedding"
            ));
        }
        if tt != DataType::Utf8 {
            return Err(format!(
                "hybrid search: column \"{text_column}\" is not text"
            ));
        }
        let udf = self.next_udf("hybrid");
        self.searches.push(Search::Hybrid {
            udf: udf.clone(),
            table: t1,
            vector_column,
            text_column,
            vector,
            query,
            w_vec,
            w_text,
            fusion,
            depth: self.depth,
        });
        Ok(call(&udf, vec![emb.clone(), text.clone()]))
    }

    fn rewrite(&mut self, e: &mut Expr) -> Result<(), String> {
        match e {
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::Custom(o) if o == "<#>" => {
                    *e = self.search_op(left, right)?;
                }
                BinaryOperator::Custom(o) => {
                    return Err(format!("operator does not exist: {o}"));
                }
                BinaryOperator::AtArrow if const_text(right).is_some() => {
                    *e = call("contains", vec![(**left).clone(), (**right).clone()]);
                }
                BinaryOperator::Arrow => {
                    *e = call(
                        "deeplake_json_get",
                        vec![(**left).clone(), (**right).clone()],
                    );
                }
                BinaryOperator::LongArrow => {
                    *e = call(
                        "deeplake_json_get_text",
                        vec![(**left).clone(), (**right).clone()],
                    );
                }
                _ => {}
            },
            Expr::Cast {
                expr, data_type, ..
            } => {
                if let Some(dims) = float_array_dims(data_type) {
                    let f = if dims >= 2 {
                        "deeplake_vector2d"
                    } else {
                        "deeplake_vector"
                    };
                    *e = call(f, vec![(**expr).clone()]);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Rewrites the statement's PostgreSQL-only spellings; returns the searches
/// to prepare. `depth` is the candidate count for hybrid searches.
pub fn rewrite(
    stmt: &mut Statement,
    scope: &[ScopeTable],
    depth: usize,
) -> Result<Vec<Search>, String> {
    let mut r = Rewriter {
        scope,
        depth,
        searches: Vec::new(),
        error: None,
    };
    let _ = visit_expressions_mut(stmt, |e| {
        if let Err(msg) = r.rewrite(e) {
            r.error = Some(msg);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    match r.error {
        Some(e) => Err(e),
        None => Ok(r.searches),
    }
}

/// LIMIT + OFFSET of the outermost query when both are constants.
pub fn result_depth(stmt: &Statement) -> Option<usize> {
    let Statement::Query(q) = stmt else {
        return None;
    };
    let (limit, offset) = match q.limit_clause.as_ref()? {
        LimitClause::LimitOffset { limit, offset, .. } => {
            (limit.as_ref()?, offset.as_ref().map(|o| &o.value))
        }
        LimitClause::OffsetCommaLimit { offset, limit } => (limit, Some(offset)),
    };
    let limit = const_number(limit)?;
    let offset = offset.map_or(Some(0.0), const_number)?;
    (limit >= 0.0 && offset >= 0.0).then_some((limit + offset) as usize)
}
