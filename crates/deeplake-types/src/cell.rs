//! Reading one stored cell back as a loose [`Value`].

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::Array;
use arrow_schema::DataType;

use crate::error::TypeError;
use crate::spec_type::SpecType;
use crate::value::Value;

fn floats(a: &dyn Array) -> Vec<f64> {
    a.as_primitive::<Float32Type>()
        .values()
        .iter()
        .map(|x| f64::from(*x))
        .collect()
}

/// The value at `row` of a column stored as `ty`.
pub fn cell(array: &dyn Array, ty: SpecType, row: usize) -> Result<Value, TypeError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match (ty, array.data_type()) {
        (SpecType::Json, DataType::Utf8) => {
            let s = array.as_string::<i32>().value(row);
            Value::Json(serde_json::from_str(s).map_err(|e| TypeError::BadValue {
                column: String::new(),
                row,
                reason: format!("stored JSON does not parse: {e}"),
            })?)
        }
        (_, DataType::Utf8) => Value::Str(array.as_string::<i32>().value(row).to_string()),
        (_, DataType::Int32) => Value::Int(i64::from(array.as_primitive::<Int32Type>().value(row))),
        (_, DataType::Int64) => Value::Int(array.as_primitive::<Int64Type>().value(row)),
        (_, DataType::Float32) => {
            Value::Float(f64::from(array.as_primitive::<Float32Type>().value(row)))
        }
        (_, DataType::Float64) => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        (_, DataType::Boolean) => Value::Bool(array.as_boolean().value(row)),
        (_, DataType::LargeBinary) => Value::Bytes(array.as_binary::<i64>().value(row).to_vec()),
        (_, DataType::FixedSizeList(_, _)) => {
            Value::Floats(floats(array.as_fixed_size_list().value(row).as_ref()))
        }
        (SpecType::Embedding2D(_), DataType::List(_)) => {
            let rows = array.as_list::<i32>().value(row);
            let rows = rows.as_fixed_size_list();
            Value::FloatRows(
                (0..rows.len())
                    .map(|i| floats(rows.value(i).as_ref()))
                    .collect(),
            )
        }
        (_, DataType::List(_)) => Value::Floats(floats(array.as_list::<i32>().value(row).as_ref())),
        (_, other) => return Err(TypeError::UnsupportedArrow(other.to_string())),
    })
}
