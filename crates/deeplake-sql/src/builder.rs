//! The fluent query builder's SQL: `select`, `where` (ANDed), `order_by`,
//! `limit`, `offset`.
//!
//! Placeholder numbering in `where(cond, params...)`: a condition may
//! number its own parameters from `$1` (local numbering) and the builder
//! shifts them past the parameters of earlier conditions; or it may use
//! the overall numbers (`$2` for the second parameter of the whole query),
//! which are kept. A condition whose placeholders all fall in
//! `offset+1 ..= offset+k` (k = its own parameter count, offset = the
//! earlier conditions' count) counts as global; otherwise they must fall in
//! `1..=k` and are shifted by `offset`. A condition with no parameters of
//! its own keeps its numbers (it refers to earlier parameters).

use deeplake_types::Value;

use crate::error::{Result, SqlError};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Select {
    table: String,
    columns: Vec<String>,
    conditions: Vec<String>,
    params: Vec<Value>,
    order: Vec<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

/// Byte ranges and numbers of the `$n` placeholders outside quotes.
fn placeholders(sql: &str) -> Vec<(usize, usize, usize)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if let Ok(n) = sql[start + 1..i].parse::<usize>() {
                    out.push((start, i, n));
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// A double-quoted SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Select {
    pub fn new(table: &str) -> Select {
        Select {
            table: table.to_string(),
            ..Select::default()
        }
    }

    /// Sets the result columns (any SQL expressions); none means `*`.
    pub fn select<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Select {
        self.columns = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        self
    }

    /// Adds a condition, ANDed with the others, with its own parameters.
    pub fn where_(mut self, condition: &str, params: Vec<Value>) -> Result<Select> {
        let offset = self.params.len();
        let k = params.len();
        let marks = placeholders(condition);
        let global = k > 0 && marks.iter().all(|m| m.2 > offset && m.2 <= offset + k);
        let cond = if k == 0 || global || offset == 0 {
            if k > 0 && !marks.iter().all(|m| m.2 >= 1 && m.2 <= offset + k) {
                return Err(SqlError::bad_input(format!(
                    "where(\"{condition}\") uses a placeholder beyond its {k} parameter(s)"
                )));
            }
            condition.to_string()
        } else {
            if let Some(m) = marks.iter().find(|m| m.2 < 1 || m.2 > k) {
                return Err(SqlError::bad_input(format!(
                    "where(\"{condition}\") uses ${} but passes {k} parameter(s)",
                    m.2
                )));
            }
            let mut out = String::with_capacity(condition.len() + 4);
            let mut last = 0;
            for (start, end, n) in marks {
                out.push_str(&condition[last..start]);
                out.push_str(&format!("${}", n + offset));
                last = end;
            }
            out.push_str(&condition[last..]);
            out
        };
        self.conditions.push(cond);
        self.params.extend(params);
        Ok(self)
    }

    /// Adds an ORDER BY key (`"start_time DESC"`); several keys sort in order.
    pub fn order_by(mut self, clause: &str) -> Select {
        self.order.push(clause.to_string());
        self
    }

    pub fn limit(mut self, n: u64) -> Select {
        self.limit = Some(n);
        self
    }

    pub fn offset(mut self, n: u64) -> Select {
        self.offset = Some(n);
        self
    }

    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// The statement this builder stands for.
    pub fn sql(&self) -> String {
        let cols = if self.columns.is_empty() {
            "*".to_string()
        } else {
            self.columns.join(", ")
        };
        let mut sql = format!("SELECT {cols} FROM {}", quote_ident(&self.table));
        if !self.conditions.is_empty() {
            let conds: Vec<String> = self.conditions.iter().map(|c| format!("({c})")).collect();
            sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        if !self.order.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", self.order.join(", ")));
        }
        if let Some(n) = self.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        if let Some(n) = self.offset {
            sql.push_str(&format!(" OFFSET {n}"));
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_global_numbering() {
        let s = Select::new("videos")
            .select(["id", "text"])
            .where_("file_id = $1", vec![Value::Str("abc".into())])
            .unwrap()
            .where_(
                "start_time > $1 AND end_time < $2",
                vec![Value::Int(60), Value::Int(90)],
            )
            .unwrap()
            .where_("text <> '$1' AND id <> $4", vec![Value::Str("x".into())])
            .unwrap()
            .where_("start_time > 0", vec![])
            .unwrap()
            .order_by("start_time")
            .limit(10)
            .offset(5);
        assert_eq!(
            s.sql(),
            "SELECT id, text FROM \"videos\" WHERE (file_id = $1) AND (start_time > $2 AND end_time < $3) AND (text <> '$1' AND id <> $4) AND (start_time > 0) ORDER BY start_time LIMIT 10 OFFSET 5"
        );
        assert_eq!(s.params().len(), 4);
        assert!(Select::new("t")
            .where_("a = $1", vec![Value::Int(1)])
            .unwrap()
            .where_("b = $3", vec![Value::Int(2)])
            .is_err());
    }
}
