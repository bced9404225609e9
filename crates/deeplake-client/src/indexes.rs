//! `create_index` and `drop_index`, as the reference's client has them:
//! SQL statements (so they work the same embedded and against a server),
//! named `idx_<table>_<column>`, with the existing index of a column
//! checked first: the same type again is a no-op, another type an error
//! that says how to change it.

use deeplake_index::kind::IndexKind;

use crate::client::Client;
use crate::error::{ClientError, ErrorKind, Result};

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The canonical name of an index type spelling.
pub fn canonical_index_type(index_type: &str) -> Result<&'static str> {
    IndexKind::parse(index_type)
        .map(IndexKind::name)
        .map_err(|e| ClientError::table(e.to_string()).with_kind(ErrorKind::BadInput))
}

impl Client {
    /// The (name, type) of the index on `column` of `table`, if any.
    pub fn column_index(&self, table: &str, column: &str) -> Result<Option<(String, String)>> {
        let info = self.describe_table(table)?;
        let col = info
            .columns
            .iter()
            .find(|c| c.name == column)
            .ok_or_else(|| {
                ClientError::table(format!(
                    "Column '{column}' does not exist in table '{table}'"
                ))
                .with_kind(ErrorKind::NotFound)
            })?;
        Ok(col.index.clone())
    }

    /// Creates a `deeplake_index` on `column`: `index_type` (or the
    /// column type's default) and, for a `float4[]` column of an empty
    /// table, the vectors' `dimension`.
    pub fn create_index(
        &self,
        table: &str,
        column: &str,
        index_type: Option<&str>,
        dimension: Option<usize>,
    ) -> Result<()> {
        let canonical = index_type.map(canonical_index_type).transpose()?;
        if dimension == Some(0) {
            return Err(
                ClientError::table("dimension must be a positive integer, got 0.")
                    .with_kind(ErrorKind::BadInput),
            );
        }
        if let Some((name, existing)) = self.column_index(table, column)? {
            return match canonical {
                Some(want) if want != existing => Err(ClientError::table(format!(
                    "Column '{column}' of table '{table}' already has a '{existing}' index ({name}), \
                     which does not match the requested '{want}'. Resolution: \
                     client.drop_index('{table}', '{column}') first."
                ))
                .with_kind(ErrorKind::Conflict)),
                _ => Ok(()),
            };
        }
        let mut options = vec![];
        if let Some(t) = canonical {
            options.push(format!("index_type = '{t}'"));
        }
        if let Some(d) = dimension {
            options.push(format!("dimension = {d}"));
        }
        let mut sql = format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} USING deeplake_index ({})",
            quote(&format!("idx_{table}_{column}")),
            quote(table),
            quote(column)
        );
        if !options.is_empty() {
            sql += &format!(" WITH ({})", options.join(", "));
        }
        self.query(&sql, &[]).map(|_| ())
    }

    /// Drops the index on `column` of `table`.
    pub fn drop_index(&self, table: &str, column: &str, if_exists: bool) -> Result<()> {
        let name = match self.column_index(table, column)? {
            Some((name, _)) => name,
            None if if_exists => return Ok(()),
            None => format!("idx_{table}_{column}"),
        };
        let clause = if if_exists { "IF EXISTS " } else { "" };
        self.query(&format!("DROP INDEX {clause}{}", quote(&name)), &[])
            .map(|_| ())
    }
}
