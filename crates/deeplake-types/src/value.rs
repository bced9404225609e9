//! Loose values as a caller hands them over (Python objects, JSON, Rust
//! literals), inference of a column's spec type from them, and their
//! conversion into the column's Arrow array.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, LargeBinaryBuilder, ListBuilder, StringBuilder,
};
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field};

use crate::error::TypeError;
use crate::spec_type::SpecType;

/// One cell of column data before it is typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// A flat list of numbers: an embedding, box or point.
    Floats(Vec<f64>),
    /// A list of equal-length number lists: a multi-vector.
    FloatRows(Vec<Vec<f64>>),
    /// Any other structured value (dicts, lists of strings): stored as JSON.
    Json(serde_json::Value),
}

impl Value {
    /// A short name of the value's kind, used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Floats(_) => "list[float]",
            Value::FloatRows(_) => "list[list[float]]",
            Value::Json(_) => "json",
        }
    }
}

/// Values as a person reads them: JSON as JSON, blobs by size, long
/// vectors shortened.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn floats(f: &mut std::fmt::Formatter<'_>, v: &[f64]) -> std::fmt::Result {
            const SHOWN: usize = 6;
            let head: Vec<String> = v.iter().take(SHOWN).map(|x| format!("{x:.4}")).collect();
            let more = if v.len() > SHOWN {
                format!(", … ({} values)", v.len())
            } else {
                String::new()
            };
            write!(f, "[{}{more}]", head.join(", "))
        }
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::Floats(v) => floats(f, v),
            Value::FloatRows(rows) => {
                f.write_str("[")?;
                for (i, r) in rows.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    floats(f, r)?;
                }
                f.write_str("]")
            }
            Value::Json(j) => write!(f, "{j}"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl From<Vec<f64>> for Value {
    fn from(v: Vec<f64>) -> Self {
        Value::Floats(v)
    }
}
impl From<Vec<f32>> for Value {
    fn from(v: Vec<f32>) -> Self {
        Value::Floats(v.into_iter().map(f64::from).collect())
    }
}
impl From<Vec<Vec<f64>>> for Value {
    fn from(v: Vec<Vec<f64>>) -> Self {
        Value::FloatRows(v)
    }
}

/// True when a string looks like and parses as a JSON object or array.
fn is_json_text(s: &str) -> bool {
    let t = s.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde_json::Value>(s).is_ok()
}

/// Infers a column's spec type from its values (the spec's "Type inference"
/// rules, with ints and floats in one column widening to FLOAT64).
pub fn infer_type(column: &str, values: &[Value]) -> Result<SpecType, TypeError> {
    let mut inferred: Option<SpecType> = None;
    let mut first_kind = "";
    let mut all_json_text = true;
    for v in values {
        let ty = match v {
            Value::Null => continue,
            Value::Bool(_) => SpecType::Bool,
            Value::Int(_) => SpecType::Int64,
            Value::Float(_) => SpecType::Float64,
            Value::Str(s) => {
                all_json_text &= is_json_text(s);
                SpecType::Text
            }
            Value::Bytes(_) => SpecType::Binary,
            Value::Floats(f) => SpecType::Embedding(Some(f.len())),
            Value::FloatRows(r) => SpecType::Embedding2D(r.first().map(Vec::len)),
            Value::Json(_) => SpecType::Json,
        };
        inferred = Some(match (inferred, ty) {
            (None, t) => {
                first_kind = v.kind();
                t
            }
            (Some(a), b) if a == b => a,
            (Some(SpecType::Int64), SpecType::Float64)
            | (Some(SpecType::Float64), SpecType::Int64) => SpecType::Float64,
            (Some(SpecType::Embedding(Some(a))), SpecType::Embedding(Some(b))) => {
                return Err(TypeError::VaryingSize {
                    column: column.to_string(),
                    first: a,
                    other: b,
                })
            }
            (Some(SpecType::Embedding2D(a)), SpecType::Embedding2D(b)) => {
                return Err(TypeError::VaryingSize {
                    column: column.to_string(),
                    first: a.unwrap_or(0),
                    other: b.unwrap_or(0),
                })
            }
            (Some(_), _) => {
                return Err(TypeError::MixedTypes {
                    column: column.to_string(),
                    first: first_kind.to_string(),
                    other: v.kind().to_string(),
                })
            }
        });
    }
    match inferred {
        None => Err(TypeError::CannotInfer(column.to_string())),
        Some(SpecType::Text) if all_json_text => Ok(SpecType::Json),
        Some(SpecType::Embedding2D(None)) => Err(TypeError::CannotInfer(column.to_string())),
        Some(SpecType::Embedding(Some(0))) => Err(TypeError::BadValue {
            column: column.to_string(),
            row: 0,
            reason: "an embedding must not be empty".into(),
        }),
        Some(t) => Ok(t),
    }
}

/// Fills in the size of an unsized embedding type from the first non-null value.
pub fn resolve_size(ty: SpecType, values: &[Value]) -> SpecType {
    let first = values.iter().find(|v| !matches!(v, Value::Null));
    match (ty, first) {
        (SpecType::Embedding(None), Some(Value::Floats(f))) => SpecType::Embedding(Some(f.len())),
        (SpecType::Embedding2D(None), Some(Value::FloatRows(r))) => {
            SpecType::Embedding2D(r.first().map(Vec::len))
        }
        (t, _) => t,
    }
}

struct Ctx<'a> {
    column: &'a str,
    ty: SpecType,
}

impl Ctx<'_> {
    fn wrong(&self, row: usize, v: &Value) -> TypeError {
        TypeError::WrongType {
            column: self.column.to_string(),
            row,
            expected: self.ty.name(),
            got: v.kind().to_string(),
        }
    }

    fn bad(&self, row: usize, reason: impl Into<String>) -> TypeError {
        TypeError::BadValue {
            column: self.column.to_string(),
            row,
            reason: reason.into(),
        }
    }

    /// Checks a vector element: finite and representable as float32.
    fn float32(&self, row: usize, x: f64) -> Result<f32, TypeError> {
        if !x.is_finite() || x.abs() > f64::from(f32::MAX) {
            return Err(self.bad(row, format!("{} values must be finite, got {x:e}", self.ty)));
        }
        Ok(x as f32)
    }

    fn dim(&self, got: usize, want: usize) -> Result<(), TypeError> {
        if got != want {
            return Err(TypeError::VaryingSize {
                column: self.column.to_string(),
                first: want,
                other: got,
            });
        }
        Ok(())
    }
}

/// Converts values into the Arrow array that stores `ty`, checking each value.
pub fn build_array(column: &str, ty: SpecType, values: &[Value]) -> Result<ArrayRef, TypeError> {
    let ty = resolve_size(ty, values);
    let cx = Ctx { column, ty };
    let n = values.len();
    let array: ArrayRef = match ty {
        SpecType::Text => {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Str(s) => b.append_value(s),
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Json => {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Str(s) => {
                        if serde_json::from_str::<serde_json::Value>(s).is_err() {
                            return Err(cx.bad(i, "not valid JSON text"));
                        }
                        b.append_value(s)
                    }
                    other => b.append_value(json_of(&cx, i, other)?.to_string()),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Int32 | SpecType::ClassLabel => {
            let mut b = Int32Builder::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Int(x) => b.append_value(
                        i32::try_from(*x)
                            .map_err(|_| cx.bad(i, format!("{x} does not fit in 32 bits")))?,
                    ),
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Int64 => {
            let mut b = Int64Builder::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Int(x) => b.append_value(*x),
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Float32 => {
            let mut b = Float32Builder::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Int(x) => b.append_value(*x as f32),
                    Value::Float(x) if x.is_finite() && x.abs() > f64::from(f32::MAX) => {
                        return Err(cx.bad(i, format!("{x:e} does not fit in FLOAT32")))
                    }
                    Value::Float(x) => b.append_value(*x as f32),
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Float64 => {
            let mut b = Float64Builder::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Int(x) => b.append_value(*x as f64),
                    Value::Float(x) => b.append_value(*x),
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Bool => {
            let mut b = BooleanBuilder::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Bool(x) => b.append_value(*x),
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        t if t.is_blob() => {
            let total: usize = values
                .iter()
                .map(|v| if let Value::Bytes(b) = v { b.len() } else { 0 })
                .sum();
            let mut b = LargeBinaryBuilder::with_capacity(n, total);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append_null(),
                    Value::Bytes(x) => b.append_value(x),
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Embedding(Some(dim)) => {
            let mut b = FixedSizeListBuilder::with_capacity(
                Float32Builder::with_capacity(n * dim),
                dim as i32,
                n,
            )
            .with_field(Field::new("item", DataType::Float32, false));
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => {
                        b.values().append_value_n(0.0, dim);
                        b.append(false);
                    }
                    Value::Floats(f) => {
                        cx.dim(f.len(), dim)?;
                        for x in f {
                            b.values().append_value(cx.float32(i, *x)?);
                        }
                        b.append(true);
                    }
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::Embedding2D(Some(dim)) => {
            let inner = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32)
                .with_field(Field::new("item", DataType::Float32, false));
            let mut b = ListBuilder::with_capacity(inner, n).with_field(Field::new(
                "item",
                DataType::FixedSizeList(
                    Arc::new(Field::new("item", DataType::Float32, false)),
                    dim as i32,
                ),
                false,
            ));
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append(false),
                    Value::FloatRows(rows) => {
                        for r in rows {
                            cx.dim(r.len(), dim)?;
                            for x in r {
                                b.values().values().append_value(cx.float32(i, *x)?);
                            }
                            b.values().append(true);
                        }
                        b.append(true);
                    }
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        SpecType::BoundingBox | SpecType::Point => {
            let mut b = ListBuilder::with_capacity(Float32Builder::new(), n)
                .with_field(Field::new("item", DataType::Float32, false));
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::Null => b.append(false),
                    Value::Floats(f) => {
                        for x in f {
                            b.values().append_value(cx.float32(i, *x)?);
                        }
                        b.append(true);
                    }
                    _ => return Err(cx.wrong(i, v)),
                }
            }
            Arc::new(b.finish())
        }
        other => {
            // Unsized embeddings only reach here when every value is null.
            return Err(match other {
                SpecType::File => TypeError::NotStorable(other.name()),
                _ => TypeError::CannotInfer(column.to_string()),
            });
        }
    };
    Ok(array)
}

fn json_of(cx: &Ctx<'_>, row: usize, v: &Value) -> Result<serde_json::Value, TypeError> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .ok_or_else(|| cx.bad(row, "JSON numbers must be finite"))?,
        Value::Str(s) => J::String(s.clone()),
        Value::Json(j) => j.clone(),
        Value::Floats(f) => J::Array(
            f.iter()
                .map(|x| json_of(cx, row, &Value::Float(*x)))
                .collect::<Result<_, _>>()?,
        ),
        Value::FloatRows(r) => J::Array(
            r.iter()
                .map(|x| json_of(cx, row, &Value::Floats(x.clone())))
                .collect::<Result<_, _>>()?,
        ),
        Value::Bytes(_) => return Err(cx.wrong(row, v)),
    })
}
