//! Query results as rows of loose values: what `query()` returns.

use std::ops::Index;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field};
use deeplake_types::{SpecType, Value};

use crate::engine::QueryOutput;
use crate::error::{Result, SqlError};

/// One result row: values in column order, looked up by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { columns, values }
    }
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
    pub fn values(&self) -> &[Value] {
        &self.values
    }
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
    /// The value of column `name` (the first, if a name repeats).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| &self.values[i])
    }
    /// `(column, value)` pairs in column order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns.iter().map(String::as_str).zip(&self.values)
    }
}

impl Index<&str> for Row {
    type Output = Value;
    /// A missing column reads as NULL; use [`Row::get`] to tell the two apart.
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

/// A result cell that does not convert: the engine produced a type it
/// cannot read back, so the fault is ours.
fn err(e: impl std::fmt::Display) -> SqlError {
    SqlError::internal(e.to_string())
}

fn floats(a: &ArrayRef) -> Result<Vec<f64>> {
    let a = arrow_cast::cast(a, &DataType::Float64).map_err(err)?;
    Ok(a.as_primitive::<Float64Type>()
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric()
}

fn list_item(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

fn list_value(a: &dyn Array, row: usize) -> ArrayRef {
    match a.data_type() {
        DataType::List(_) => a.as_list::<i32>().value(row),
        DataType::LargeList(_) => a.as_list::<i64>().value(row),
        _ => a.as_fixed_size_list().value(row),
    }
}

/// A cell as JSON (for lists of non-numbers and nested structures).
fn json_cell(a: &ArrayRef, row: usize) -> Result<serde_json::Value> {
    Ok(match value_at(a, None, row)? {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => b.into(),
        Value::Int(i) => i.into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Str(s) => s.into(),
        Value::Bytes(b) => b.into(),
        Value::Floats(v) => v.into(),
        Value::FloatRows(v) => v.into(),
        Value::Json(j) => j,
    })
}

/// The value at `row`; `field` carries the spec type of stored columns.
fn value_at(a: &ArrayRef, field: Option<&Field>, row: usize) -> Result<Value> {
    if a.is_null(row) {
        return Ok(Value::Null);
    }
    let spec = field.and_then(|f| SpecType::of_field(f).ok());
    let dt = a.data_type();
    Ok(match dt {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(a.as_boolean().value(row)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = match dt {
                DataType::Utf8 => a.as_string::<i32>().value(row),
                DataType::LargeUtf8 => a.as_string::<i64>().value(row),
                _ => a.as_string_view().value(row),
            }
            .to_string();
            if spec == Some(SpecType::Json) {
                match serde_json::from_str(&s) {
                    Ok(j) => Value::Json(j),
                    Err(_) => Value::Str(s),
                }
            } else {
                Value::Str(s)
            }
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => {
            let b = arrow_cast::cast(&a.slice(row, 1), &DataType::LargeBinary).map_err(err)?;
            Value::Bytes(b.as_binary::<i64>().value(0).to_vec())
        }
        DataType::Float32 => Value::Float(f64::from(a.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => Value::Float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Value::Int(a.as_primitive::<Int64Type>().value(row)),
        DataType::Int32 => Value::Int(i64::from(a.as_primitive::<Int32Type>().value(row))),
        DataType::Float16 => {
            let v = arrow_cast::cast(&a.slice(row, 1), &DataType::Float64).map_err(err)?;
            Value::Float(v.as_primitive::<Float64Type>().value(0))
        }
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
            let v = arrow_cast::cast(&a.slice(row, 1), &DataType::Float64).map_err(err)?;
            Value::Float(v.as_primitive::<Float64Type>().value(0))
        }
        d if d.is_integer() => {
            let s = a.slice(row, 1);
            match arrow_cast::cast(&s, &DataType::Int64) {
                Ok(v) if !v.is_null(0) => Value::Int(v.as_primitive::<Int64Type>().value(0)),
                _ => {
                    let v = arrow_cast::cast(&s, &DataType::Float64).map_err(err)?;
                    Value::Float(v.as_primitive::<Float64Type>().value(0))
                }
            }
        }
        d if list_item(d).is_some() => {
            let inner = list_value(a.as_ref(), row);
            let item = list_item(d).cloned().unwrap_or(DataType::Null);
            if is_numeric(&item) {
                Value::Floats(floats(&inner)?)
            } else if list_item(&item).is_some_and(is_numeric) {
                let mut rows = Vec::with_capacity(inner.len());
                for i in 0..inner.len() {
                    rows.push(floats(&list_value(inner.as_ref(), i))?);
                }
                Value::FloatRows(rows)
            } else {
                let items = (0..inner.len())
                    .map(|i| json_cell(&inner, i))
                    .collect::<Result<Vec<_>>>()?;
                Value::Json(serde_json::Value::Array(items))
            }
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut obj = serde_json::Map::new();
            for (f, c) in fields.iter().zip(s.columns()) {
                obj.insert(f.name().clone(), json_cell(c, row)?);
            }
            Value::Json(serde_json::Value::Object(obj))
        }
        _ => {
            let f = arrow_cast::display::ArrayFormatter::try_new(a.as_ref(), &Default::default())
                .map_err(err)?;
            Value::Str(f.value(row).to_string())
        }
    })
}

/// The output's rows, in order.
pub fn rows(out: &QueryOutput) -> Result<Vec<Row>> {
    let columns: Arc<[String]> = out.column_names().into();
    let mut rows = Vec::with_capacity(out.num_rows());
    for b in &out.batches {
        for r in 0..b.num_rows() {
            let values = b
                .columns()
                .iter()
                .zip(out.schema.fields())
                .map(|(c, f)| value_at(c, Some(f), r))
                .collect::<Result<Vec<_>>>()?;
            rows.push(Row {
                columns: columns.clone(),
                values,
            });
        }
    }
    Ok(rows)
}
