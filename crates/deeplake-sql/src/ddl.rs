//! `CREATE INDEX ... USING deeplake_index` and `DROP INDEX` as statements:
//! what they ask for, checked and worded as PostgreSQL users expect, and
//! the `indexdef` text `pg_indexes` shows for an index.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CreateIndex, Expr, IndexType, ObjectName, Value,
};
use deeplake_index::build::IndexRequest;
use deeplake_index::kind::{IndexKind, ACCESS_METHOD, HYBRID_OPS};
use deeplake_storage::IndexMeta;

use crate::catalog::SCHEMA;
use crate::error::{Result, SqlError};
use crate::rewrite::{column_ref, is_hybrid_type, norm_ident, object_name};

fn err(msg: impl Into<String>) -> SqlError {
    SqlError::bad_input(msg)
}

/// A form of `CREATE INDEX` PostgreSQL has and this engine does not.
fn unsupported(msg: impl Into<String>) -> SqlError {
    SqlError::unsupported(msg)
}

/// A table or index name: `name` or `public.name`.
pub fn plain_name(n: &ObjectName, what: &str) -> Result<String> {
    match object_name(n).as_slice() {
        [name] => Ok(name.clone()),
        [s, name] if s == SCHEMA => Ok(name.clone()),
        _ => Err(err(format!("{what} \"{n}\" is not in schema {SCHEMA}"))),
    }
}

/// A `WITH (key = value)` value as text.
fn option_value(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.clone()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::Identifier(i) => Some(i.value.clone()),
        _ => None,
    }
}

/// The (vector, text) columns of `((emb, text)::deeplake_hybrid_record)`.
fn hybrid_columns(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Nested(inner) => hybrid_columns(inner),
        Expr::Cast {
            expr, data_type, ..
        } if is_hybrid_type(data_type) => match expr.as_ref() {
            Expr::Tuple(items) => match items.as_slice() {
                [a, b] => match (column_ref(a)?, column_ref(b)?) {
                    ((None, a), (None, b)) => Some(vec![a, b]),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// What `CREATE INDEX` asks for: (table, request, IF NOT EXISTS).
pub fn create_index(ci: &CreateIndex) -> Result<(String, IndexRequest, bool)> {
    let table = plain_name(&ci.table_name, "table")?;
    match &ci.using {
        Some(IndexType::Custom(m)) if m.value.eq_ignore_ascii_case(ACCESS_METHOD) => {}
        Some(other) => {
            return Err(unsupported(format!(
                "access method \"{other}\" is not supported: indexes here are USING {ACCESS_METHOD}"
            )))
        }
        None => {
            return Err(err(format!(
                "CREATE INDEX needs USING {ACCESS_METHOD} (the only index access method)"
            )))
        }
    }
    if ci.unique {
        return Err(unsupported(
            "CREATE UNIQUE INDEX is not supported: use WITH (index_type = 'unique')",
        ));
    }
    if ci.predicate.is_some() || !ci.include.is_empty() || ci.nulls_distinct.is_some() {
        return Err(unsupported(
            "partial indexes, INCLUDE and NULLS [NOT] DISTINCT are not supported",
        ));
    }
    let [col] = ci.columns.as_slice() else {
        return Err(err(format!(
            "a {ACCESS_METHOD} index covers one column, got {}",
            ci.columns.len()
        )));
    };
    let hybrid = hybrid_columns(&col.column.expr);
    match (&col.operator_class, &hybrid) {
        (Some(class), Some(_)) if class.to_string().eq_ignore_ascii_case(HYBRID_OPS) => {}
        (None, Some(_)) => {}
        (Some(class), _) => {
            return Err(unsupported(format!(
                "operator class \"{class}\" is not supported (the one there is: {HYBRID_OPS}, on ((vectors, texts)::deeplake_hybrid_record))"
            )))
        }
        (None, None) => {}
    }
    let columns = match hybrid {
        Some(pair) => pair,
        None => match column_ref(&col.column.expr) {
            Some((None, column)) => vec![column],
            _ => {
                return Err(err(format!(
                    "index column must be a column name, got {}",
                    col.column.expr
                )))
            }
        },
    };
    let mut kind = None;
    let mut params = BTreeMap::new();
    for option in &ci.with {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = option
        else {
            return Err(err(format!(
                "index option must be name = value, got {option}"
            )));
        };
        let (Expr::Identifier(key), Some(value)) = (left.as_ref(), option_value(right)) else {
            return Err(err(format!(
                "index option must be name = value, got {option}"
            )));
        };
        match norm_ident(key).as_str() {
            "index_type" => kind = Some(IndexKind::parse(&value).map_err(|e| err(e.to_string()))?),
            other => {
                params.insert(other.to_string(), value);
            }
        }
    }
    let name = match &ci.name {
        Some(n) => plain_name(n, "index")?,
        None => format!("idx_{table}_{}", columns.join("_")),
    };
    if columns.len() == 2 && kind.is_some_and(|k| k != IndexKind::Hybrid) {
        return Err(err(
            "a hybrid index takes no index_type: its halves are clustered_quantized and bm25",
        ));
    }
    let request = IndexRequest {
        name,
        columns,
        kind,
        params,
    };
    Ok((table, request, ci.if_not_exists))
}

/// The `CREATE INDEX` statement that makes `index` on `table`, as
/// `pg_indexes.indexdef` shows it.
pub fn index_definition(table: &str, index: &IndexMeta) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let columns: Vec<String> = index.columns.iter().map(|c| quote(c)).collect();
    let columns = match index.index_type == IndexKind::Hybrid.name() {
        true => vec![format!(
            "(({})::deeplake_hybrid_record) {HYBRID_OPS}",
            columns.join(", ")
        )],
        false => columns,
    };
    let mut with = vec![format!("index_type = '{}'", index.index_type)];
    with.extend(
        index
            .params
            .iter()
            .map(|(k, v)| format!("{k} = '{}'", v.replace('\'', "''"))),
    );
    format!(
        "CREATE INDEX {} ON {SCHEMA}.{} USING {ACCESS_METHOD} ({}) WITH ({})",
        quote(&index.name),
        quote(table),
        columns.join(", "),
        with.join(", ")
    )
}
