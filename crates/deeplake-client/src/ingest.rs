//! Column ingest: checking and typing caller data into one Arrow batch
//! before anything is written, so bad input leaves nothing behind.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema};
use deeplake_types::{
    build_array, cell, coerce_array, infer_type, resolve_size, Column, SpecType, Value,
};

use crate::error::{ClientError, Result};

/// What to do when the table already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The spec's behaviour: an existing table is a `TableError`.
    #[default]
    Create,
    /// Add rows; the data must fit the table's schema.
    Append,
    /// Replace the contents atomically as a new version.
    Overwrite,
}

impl std::str::FromStr for Mode {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "create" => Ok(Mode::Create),
            "append" => Ok(Mode::Append),
            "overwrite" => Ok(Mode::Overwrite),
            other => Err(ClientError::ingest(format!(
                "Unknown mode '{other}': use 'create', 'append' or 'overwrite'."
            ))),
        }
    }
}

/// Parses the user's schema hints, keeping FILE columns apart.
pub fn parse_schema(schema: &[(String, String)]) -> Result<HashMap<String, SpecType>> {
    let mut out = HashMap::new();
    for (col, ty) in schema {
        let parsed: SpecType = ty
            .parse()
            .map_err(|e| ClientError::ingest(format!("Invalid schema for column '{col}': {e}")))?;
        out.insert(col.clone(), parsed);
    }
    Ok(out)
}

/// What a write's rows are typed against.
#[derive(Debug, Clone, Copy)]
pub enum Against<'a> {
    /// Nothing: the rows' own (or hinted) types make the schema.
    Nothing,
    /// The table appended to: its columns and types.
    Table(&'a Schema),
    /// The first batch of the same write, which later batches must match.
    FirstBatch(&'a Schema),
}

impl<'a> Against<'a> {
    /// What a write's later batches are checked against: the table's
    /// columns when it appends to one, else the write's first batch.
    pub fn write(appending: bool, schema: &'a Schema) -> Against<'a> {
        match appending {
            true => Against::Table(schema),
            false => Against::FirstBatch(schema),
        }
    }

    fn schema(self) -> Option<&'a Schema> {
        match self {
            Against::Nothing => None,
            Against::Table(s) | Against::FirstBatch(s) => Some(s),
        }
    }

    /// What the rows were checked against, as messages name it.
    fn place(self) -> &'static str {
        match self {
            Against::FirstBatch(_) => "the first batch",
            _ => "the table",
        }
    }

    /// A mismatch worded for what the rows were checked against.
    fn mismatch(self, table: &str, why: &str) -> ClientError {
        match self {
            Against::FirstBatch(_) => {
                ClientError::ingest(format!("A batch does not match the first batch: {why}"))
            }
            _ => ClientError::table(format!("Cannot append to table '{table}': {why}")),
        }
    }
}

/// A typed batch back as Arrow columns, to type against another schema.
pub fn batch_columns(batch: &RecordBatch) -> Vec<(String, Column)> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, a)| (f.name().clone(), Column::Arrow(a.clone())))
        .collect()
}

/// Checks and types all columns into one batch.
///
/// Against a schema (an append, or a later batch of one write), columns
/// take its types, missing columns become nulls, and unknown columns are
/// refused, each worded for what the rows were checked against.
pub fn prepare(
    data: Vec<(String, Column)>,
    hints: &HashMap<String, SpecType>,
    against: Against<'_>,
    table: &str,
) -> Result<RecordBatch> {
    let existing = against.schema();
    if data.is_empty() {
        return Err(ClientError::ingest("data must not be empty."));
    }
    for col in hints.keys() {
        if !data.iter().any(|(name, _)| name == col) {
            return Err(ClientError::ingest(format!(
                "Schema declares '{col}' but column not in data."
            )));
        }
    }
    let rows = data[0].1.len();
    let mut seen = std::collections::HashSet::new();
    for (name, col) in &data {
        if name.is_empty() {
            return Err(ClientError::ingest("Column names must not be empty."));
        }
        if !seen.insert(name.as_str()) {
            return Err(ClientError::ingest(format!(
                "Column '{name}' is given more than once."
            )));
        }
        if col.len() != rows {
            return Err(ClientError::ingest(format!(
                "All columns must have the same length: '{}' has {rows} rows but '{name}' has {}.",
                data[0].0,
                col.len()
            )));
        }
    }
    if rows == 0 {
        return Err(ClientError::ingest("data must contain at least one row."));
    }
    let mut typed: HashMap<String, (Field, ArrayRef)> = HashMap::new();
    let mut order = Vec::with_capacity(data.len());
    for (name, col) in data {
        let table_type = match existing {
            Some(schema) => {
                let field = schema.field_with_name(&name).map_err(|_| {
                    let cols: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    against.mismatch(
                        table,
                        &format!(
                            "column '{name}' is not in {} (its columns: {}).",
                            against.place(),
                            cols.join(", ")
                        ),
                    )
                })?;
                Some(SpecType::of_field(field).map_err(|e| ClientError::table(e.to_string()))?)
            }
            None => None,
        };
        if let (Some(t), Some(h)) = (table_type, hints.get(&name)) {
            // A hint without a size ("EMBEDDING") fits any size.
            let fits = match (t, *h) {
                (SpecType::Embedding(_), SpecType::Embedding(None))
                | (SpecType::Embedding2D(_), SpecType::Embedding2D(None)) => true,
                (t, h) => t == h,
            };
            if !fits {
                return Err(against.mismatch(
                    table,
                    &format!(
                        "column '{name}' is {t} in {}, the schema says {h}.",
                        against.place()
                    ),
                ));
            }
        }
        let (ty, array) = type_column(&name, col, table_type.or_else(|| hints.get(&name).copied()))
            .map_err(|e| match existing {
                Some(_) => against.mismatch(table, e.message()),
                None => e,
            })?;
        if let Some(t) = table_type {
            if t != ty {
                return Err(against.mismatch(
                    table,
                    &format!(
                        "column '{name}' is {t} in {}, the data is {ty}.",
                        against.place()
                    ),
                ));
            }
        }
        order.push(name.clone());
        typed.insert(name.clone(), (ty.field(&name)?, array));
    }
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = match existing {
        Some(schema) => schema
            .fields()
            .iter()
            .map(|f| match typed.remove(f.name()) {
                Some((_, a)) => (f.as_ref().clone(), a),
                None => (f.as_ref().clone(), new_null_array(f.data_type(), rows)),
            })
            .unzip(),
        None => order.iter().filter_map(|n| typed.remove(n)).unzip(),
    };
    let schema = Arc::new(Schema::new(fields));
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema, arrays, &options)
        .map_err(|e| ClientError::ingest(format!("Failed to ingest data: {e}")))
}

/// A VIDEO column given as file paths holds each file's bytes, as the
/// reference stores it (whole, not cut into segments: that is what a FILE
/// column does). Bytes pass through; nulls stay null.
fn video_bytes(name: &str, col: Column) -> Result<Column> {
    let values = match col {
        Column::Values(v) => v,
        Column::Arrow(a) if a.data_type() == &DataType::Utf8 => (0..a.len())
            .map(|row| cell(a.as_ref(), SpecType::Text, row))
            .collect::<Result<Vec<_>, _>>()?,
        arrow => return Ok(arrow),
    };
    values
        .into_iter()
        .map(|v| match v {
            Value::Str(path) => Ok(Value::Bytes(deeplake_ingest::read_file(Path::new(&path))?)),
            v @ (Value::Bytes(_) | Value::Null) => Ok(v),
            other => Err(ClientError::ingest(format!(
                "VIDEO column '{name}': expected file path or bytes, got {}.",
                other.kind()
            ))),
        })
        .collect::<Result<Vec<_>>>()
        .map(Column::Values)
}

fn type_column(name: &str, col: Column, target: Option<SpecType>) -> Result<(SpecType, ArrayRef)> {
    if target == Some(SpecType::File) {
        return Err(ClientError::ingest(format!(
            "Column '{name}' is declared FILE; file ingestion is handled by the file pipeline, not column ingest."
        )));
    }
    let col = match target {
        Some(SpecType::Video) => video_bytes(name, col)?,
        _ => col,
    };
    match col {
        Column::Values(values) => {
            let ty = match target {
                Some(t) => resolve_size(t, &values),
                None => infer_type(name, &values)?,
            };
            let array = build_array(name, ty, &values)?;
            Ok((ty, array))
        }
        Column::Arrow(array) => {
            let ty = match target {
                Some(t) => t,
                None => SpecType::from_arrow(array.data_type())
                    .map_err(|e| ClientError::ingest(format!("Column '{name}': {e}")))?,
            };
            Ok(coerce_array(name, ty, &array)?)
        }
    }
}
