//! Coercion of caller-supplied Arrow arrays (numpy, pyarrow, Rust) into the
//! exact storage form of a spec type, with the same checks as loose values.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, ListArray, StringArray};
use arrow_cast::{cast_with_options, CastOptions};
use arrow_schema::{DataType, Field};

use crate::error::TypeError;
use crate::spec_type::SpecType;

const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow_cast::display::FormatOptions::new(),
};

fn item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Float32, false))
}

fn bad(column: &str, reason: impl Into<String>) -> TypeError {
    TypeError::BadValue {
        column: column.to_string(),
        row: 0,
        reason: reason.into(),
    }
}

fn cast_to(column: &str, array: &ArrayRef, to: &DataType) -> Result<ArrayRef, TypeError> {
    cast_with_options(array, to, &STRICT).map_err(|e| TypeError::WrongType {
        column: column.to_string(),
        row: 0,
        expected: to.to_string(),
        got: format!("{} ({e})", array.data_type()),
    })
}

/// The float32 values under a vector array, checked to be finite.
fn finite_values(column: &str, ty: SpecType, values: &ArrayRef) -> Result<Float32Array, TypeError> {
    let v = cast_to(column, values, &DataType::Float32)?;
    let v = v.as_primitive::<Float32Type>().clone();
    // The exponent bits of a float are all set exactly when it is not
    // finite, and no finite float has a larger masked value: a max over the
    // masked bits vectorizes, where a search for the first bad value does
    // not. The position is looked for only when there is one.
    const EXPONENT: u32 = 0x7f80_0000;
    let worst = v
        .values()
        .iter()
        .map(|x| x.to_bits() & EXPONENT)
        .fold(0, u32::max);
    if worst != EXPONENT {
        return Ok(v);
    }
    if let Some(pos) = v.values().iter().position(|x| !x.is_finite()) {
        return Err(bad(
            column,
            format!(
                "{ty} values must be finite, got {} at element {pos}",
                v.value(pos)
            ),
        ));
    }
    Ok(v)
}

/// Reshapes a list-of-floats array whose rows all have `dim` elements into a
/// fixed-size list.
fn fixed(
    column: &str,
    ty: SpecType,
    array: &ArrayRef,
) -> Result<(FixedSizeListArray, usize), TypeError> {
    match array.data_type() {
        DataType::FixedSizeList(_, n) => {
            let a = array.as_fixed_size_list();
            let values = finite_values(column, ty, a.values())?;
            let out = FixedSizeListArray::try_new(item(), *n, Arc::new(values), a.nulls().cloned())
                .map_err(|e| bad(column, e.to_string()))?;
            Ok((out, *n as usize))
        }
        DataType::List(_) | DataType::LargeList(_) => {
            let a = cast_to(
                column,
                array,
                &DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            )?;
            let a = a.as_list::<i32>();
            let lens: Vec<usize> = (0..a.len())
                .filter(|&i| a.is_valid(i))
                .map(|i| a.value_length(i) as usize)
                .collect();
            let dim = match ty {
                SpecType::Embedding(Some(n)) | SpecType::Embedding2D(Some(n)) => n,
                _ => *lens
                    .first()
                    .ok_or_else(|| TypeError::CannotInfer(column.to_string()))?,
            };
            if let Some(&other) = lens.iter().find(|&&l| l != dim) {
                return Err(TypeError::VaryingSize {
                    column: column.to_string(),
                    first: dim,
                    other,
                });
            }
            let mut flat = Vec::with_capacity(a.len() * dim);
            for i in 0..a.len() {
                if a.is_valid(i) {
                    let row = a.value(i);
                    let row = row.as_primitive::<Float32Type>();
                    flat.extend(row.iter().map(|x| x.unwrap_or(f32::NAN)));
                } else {
                    flat.extend(std::iter::repeat_n(0.0, dim));
                }
            }
            let values: ArrayRef = Arc::new(Float32Array::from(flat));
            let values = finite_values(column, ty, &values)?;
            let out = FixedSizeListArray::try_new(
                item(),
                dim as i32,
                Arc::new(values),
                a.nulls().cloned(),
            )
            .map_err(|e| bad(column, e.to_string()))?;
            Ok((out, dim))
        }
        other => Err(TypeError::WrongType {
            column: column.to_string(),
            row: 0,
            expected: ty.name(),
            got: other.to_string(),
        }),
    }
}

/// Coerces an Arrow array to the storage form of `ty`, returning the array and
/// the type with any embedding size filled in.
pub fn coerce_array(
    column: &str,
    ty: SpecType,
    array: &ArrayRef,
) -> Result<(SpecType, ArrayRef), TypeError> {
    match ty {
        SpecType::Embedding(want) => {
            let (a, dim) = fixed(column, ty, array)?;
            if let Some(n) = want {
                if n != dim {
                    return Err(TypeError::VaryingSize {
                        column: column.to_string(),
                        first: n,
                        other: dim,
                    });
                }
            }
            Ok((SpecType::Embedding(Some(dim)), Arc::new(a)))
        }
        SpecType::Embedding2D(want) => {
            let list = cast_to(
                column,
                array,
                &DataType::List(Arc::new(Field::new("item", array_item_type(array), true))),
            )?;
            let list = list.as_list::<i32>();
            let inner: ArrayRef = list.values().clone();
            let (rows, dim) = fixed(column, SpecType::Embedding2D(want), &inner)?;
            let field = Arc::new(Field::new("item", rows.data_type().clone(), false));
            let out = ListArray::try_new(
                field,
                list.offsets().clone(),
                Arc::new(rows),
                list.nulls().cloned(),
            )
            .map_err(|e| bad(column, e.to_string()))?;
            Ok((SpecType::Embedding2D(Some(dim)), Arc::new(out)))
        }
        SpecType::BoundingBox | SpecType::Point => {
            let list = cast_to(
                column,
                array,
                &DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            )?;
            let list = list.as_list::<i32>();
            let values = finite_values(column, ty, list.values())?;
            let out = ListArray::try_new(
                item(),
                list.offsets().clone(),
                Arc::new(values),
                list.nulls().cloned(),
            )
            .map_err(|e| bad(column, e.to_string()))?;
            Ok((ty, Arc::new(out)))
        }
        SpecType::Json => {
            let a = cast_to(column, array, &DataType::Utf8)?;
            let strings: &StringArray = a.as_string::<i32>();
            for (row, s) in strings.iter().enumerate() {
                if let Some(s) = s {
                    if serde_json::from_str::<serde_json::Value>(s).is_err() {
                        return Err(TypeError::BadValue {
                            column: column.to_string(),
                            row,
                            reason: "not valid JSON text".into(),
                        });
                    }
                }
            }
            Ok((ty, a))
        }
        SpecType::Float32
        | SpecType::Float64
        | SpecType::Int32
        | SpecType::Int64
        | SpecType::ClassLabel
            if array.data_type() == &DataType::Boolean =>
        {
            Err(TypeError::WrongType {
                column: column.to_string(),
                row: 0,
                expected: ty.name(),
                got: "bool".into(),
            })
        }
        _ => {
            let target = ty.arrow_type()?;
            if array.data_type().is_nested() || (ty.is_blob() && !is_binaryish(array.data_type())) {
                return Err(TypeError::WrongType {
                    column: column.to_string(),
                    row: 0,
                    expected: ty.name(),
                    got: array.data_type().to_string(),
                });
            }
            Ok((ty, cast_to(column, array, &target)?))
        }
    }
}

fn is_binaryish(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

fn array_item_type(array: &ArrayRef) -> DataType {
    match array.data_type() {
        DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
        _ => DataType::Null,
    }
}
