//! Values between Python and the engine.
//!
//! In: lists of native values become loose `Value`s (typed later by the same
//! inference the Rust API uses); numpy arrays and pyarrow arrays become Arrow
//! arrays directly, a C-contiguous float32 matrix without a copy.
//! Out: query rows become native Python objects.

use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{make_array, ArrayRef, BooleanArray, FixedSizeListArray, PrimitiveArray};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_pyarrow::FromPyArrow;
use arrow_schema::{DataType, Field};
use deeplake_client::{Column, Value};
use pyo3::buffer::{Element, PyBuffer};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};

use crate::errors;

/// One column of a `data` dict or of a format's batch.
pub fn column(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Column> {
    if obj.hasattr("__arrow_c_array__")? || is_pyarrow(obj)? {
        let data = arrow_data::ArrayData::from_pyarrow_bound(obj)?;
        return Ok(Column::Arrow(make_array(data)));
    }
    if obj.hasattr("__array_interface__")? {
        if let Some(array) = numpy_column(obj)? {
            return Ok(Column::Arrow(array));
        }
        // Strings, objects and other dtypes: element by element.
        let list = obj.call_method0("tolist")?;
        return values(name, &list).map(Column::Values);
    }
    values(name, obj).map(Column::Values)
}

fn is_pyarrow(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let module = obj.get_type().module()?;
    Ok(module.to_str()?.starts_with("pyarrow"))
}

/// Values of a list, tuple or any other iterable.
pub fn values(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(errors::ingest(format!(
            "Column '{name}' must be a list of values, got {}.",
            type_name(obj)
        )));
    }
    let iter = obj.try_iter().map_err(|_| {
        errors::ingest(format!(
            "Column '{name}' must be a list of values, got {}.",
            type_name(obj)
        ))
    })?;
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in iter.enumerate() {
        out.push(
            value(&item?).map_err(|e| {
                errors::ingest(format!("Column '{name}', row {i}: {}", message(&e)))
            })?,
        );
    }
    Ok(out)
}

fn message(e: &PyErr) -> String {
    Python::attach(|py| e.value(py).to_string())
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// One Python value.
pub fn value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(Value::Int)
            .map_err(|_| PyTypeError::new_err(format!("integer {obj} does not fit in 64 bits")));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Value::Float(obj.extract()?));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_string()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    if obj.is_instance_of::<PyMemoryView>() {
        return Ok(Value::Bytes(obj.call_method0("tobytes")?.extract()?));
    }
    if obj.is_instance_of::<PyDict>() {
        return Ok(Value::Json(json(obj)?));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return sequence(obj);
    }
    if obj.hasattr("__array_interface__")? {
        // A numpy scalar or array inside a list: through its Python form.
        return value(&obj.call_method0("tolist")?);
    }
    if let Ok(p) = obj.extract::<std::path::PathBuf>() {
        return Ok(Value::Str(p.display().to_string()));
    }
    Err(PyTypeError::new_err(format!(
        "unsupported value of type {}",
        type_name(obj)
    )))
}

/// A list: numbers are an embedding, lists of numbers a multi-vector,
/// anything else JSON.
fn sequence(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let items: Vec<Bound<'_, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
    let number = |o: &Bound<'_, PyAny>| {
        !o.is_instance_of::<PyBool>()
            && (o.is_instance_of::<PyFloat>() || o.is_instance_of::<PyInt>())
    };
    if !items.is_empty() && items.iter().all(number) {
        return Ok(Value::Floats(
            items.iter().map(|o| o.extract()).collect::<PyResult<_>>()?,
        ));
    }
    let rows: Option<Vec<Vec<f64>>> = items
        .iter()
        .map(|row| {
            let row = row.cast::<PyList>().ok()?;
            if row.is_empty() || !row.iter().all(|o| number(&o)) {
                return None;
            }
            row.iter().map(|o| o.extract().ok()).collect()
        })
        .collect();
    match rows {
        Some(rows) if !rows.is_empty() => Ok(Value::FloatRows(rows)),
        _ => Ok(Value::Json(json(obj)?)),
    }
}

/// Any JSON-shaped Python value.
fn json(obj: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    use serde_json::Value as J;
    if obj.is_none() {
        return Ok(J::Null);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(J::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(J::from(obj.extract::<i64>()?));
    }
    if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        return serde_json::Number::from_f64(f)
            .map(J::Number)
            .ok_or_else(|| PyTypeError::new_err(format!("{f} cannot be stored in JSON")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(J::String(s.to_str()?.to_string()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_str()?.to_string(),
                Err(_) => k.str()?.to_str()?.to_string(),
            };
            map.insert(key, json(&v)?);
        }
        return Ok(J::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj
            .try_iter()?
            .map(|o| json(&o?))
            .collect::<PyResult<Vec<_>>>()
            .map(J::Array);
    }
    if obj.hasattr("__array_interface__")? {
        return json(&obj.call_method0("tolist")?);
    }
    Err(PyTypeError::new_err(format!(
        "value of type {} cannot be stored in JSON",
        type_name(obj)
    )))
}

/// Keeps a Python buffer alive for as long as Arrow uses its memory.
struct Owner<T: Element> {
    _buffer: AssertUnwindSafe<PyBuffer<T>>,
}

fn shared<T: Element + arrow_buffer::ArrowNativeType>(buf: PyBuffer<T>) -> Option<Buffer> {
    let ptr = NonNull::new(buf.buf_ptr() as *mut u8)?;
    let len = buf.len_bytes();
    let owner = Arc::new(Owner {
        _buffer: AssertUnwindSafe(buf),
    });
    // Safety: the buffer is C-contiguous (checked by the caller), `len` bytes
    // long, and `owner` keeps the exporting object alive and its memory
    // pinned until Arrow drops the last reference.
    Some(unsafe { Buffer::from_custom_allocation(ptr, len, owner) })
}

/// A numpy array of a numeric dtype as an Arrow array: 1-D as a primitive
/// column, float 2-D as fixed-size lists (embeddings). `None` for dtypes
/// that go element by element.
fn numpy_column(obj: &Bound<'_, PyAny>) -> PyResult<Option<ArrayRef>> {
    let ndim: usize = obj.getattr("ndim")?.extract()?;
    let kind: String = obj.getattr("dtype")?.getattr("str")?.extract()?;
    if ndim == 2 && kind.ends_with("f8") {
        let as32 = obj.call_method1("astype", ("float32",))?;
        return numpy_column(&as32);
    }
    let obj = &obj
        .py()
        .import("numpy")?
        .call_method1("ascontiguousarray", (obj,))?;
    match (ndim, kind.as_str()) {
        (2, k) if k.ends_with("f4") => {
            let width: i32 = obj.getattr("shape")?.get_item(1)?.extract()?;
            let buf = PyBuffer::<f32>::get(obj)?;
            let Some(buffer) = shared(buf) else {
                return Ok(None);
            };
            let values = PrimitiveArray::<Float32Type>::new(ScalarBuffer::from(buffer), None);
            let field = Arc::new(Field::new("item", DataType::Float32, true));
            let list = FixedSizeListArray::try_new(field, width, Arc::new(values), None)
                .map_err(|e| errors::ingest(format!("embedding matrix: {e}")))?;
            Ok(Some(Arc::new(list)))
        }
        (1, k) if k.ends_with("f4") => Ok(Some(Arc::new(primitive::<Float32Type, f32>(obj)?))),
        (1, k) if k.ends_with("f8") => Ok(Some(Arc::new(primitive::<Float64Type, f64>(obj)?))),
        (1, k) if k.ends_with("i4") => Ok(Some(Arc::new(primitive::<Int32Type, i32>(obj)?))),
        (1, k) if k.ends_with("i8") => Ok(Some(Arc::new(primitive::<Int64Type, i64>(obj)?))),
        (1, "|b1") => {
            let flags: Vec<bool> = obj.call_method0("tolist")?.extract()?;
            Ok(Some(Arc::new(BooleanArray::from(flags))))
        }
        _ => Ok(None),
    }
}

fn primitive<A, T>(obj: &Bound<'_, PyAny>) -> PyResult<PrimitiveArray<A>>
where
    A: arrow_array::types::ArrowPrimitiveType<Native = T>,
    T: Element + arrow_buffer::ArrowNativeType,
{
    let buf = PyBuffer::<T>::get(obj)?;
    Ok(PrimitiveArray::new(
        ScalarBuffer::from(buf.to_vec(obj.py())?),
        None,
    ))
}

/// A query cell as a native Python object. JSON is handed over as its text
/// wrapped in `deeplake.managed.Json`, a `str` whose `.value` is the parsed
/// object: `json.loads(row["segments_info"])` works as the spec shows, and
/// the parsed form is one attribute away.
pub fn to_py<'py>(
    py: Python<'py>,
    v: &Value,
    json_type: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Floats(f) => PyList::new(py, f)?.into_any(),
        Value::FloatRows(rows) => PyList::new(
            py,
            rows.iter()
                .map(|r| PyList::new(py, r))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        Value::Json(j) => json_type.call1((j.to_string(),))?,
    })
}
