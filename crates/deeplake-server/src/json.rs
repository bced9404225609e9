//! Values across the REST API: query parameters from JSON, result cells to
//! JSON as the reference's clients read them (bytea as base64 text, JSON
//! as JSON, `float4[]` as arrays of numbers).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use deeplake_types::Value;
use serde_json::Value as Json;

use crate::error::{Result, ServerError};

/// A `$n` parameter: strings, numbers, booleans and null as themselves; an
/// array of numbers is a vector, an array of such arrays a multi-vector;
/// any other array or object is JSON.
pub fn param(v: &Json) -> Result<Value> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().ok_or_else(|| {
                ServerError::bad_request(format!("parameter {n} is not a representable number"))
            })?),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => match numbers(items) {
            Some(v) => Value::Floats(v),
            None => match items
                .iter()
                .map(|i| i.as_array().and_then(|a| numbers(a)))
                .collect::<Option<Vec<_>>>()
            {
                Some(rows) if !rows.is_empty() => Value::FloatRows(rows),
                _ => Value::Json(v.clone()),
            },
        },
        Json::Object(_) => Value::Json(v.clone()),
    })
}

fn numbers(items: &[Json]) -> Option<Vec<f64>> {
    if items.is_empty() {
        return None;
    }
    items.iter().map(Json::as_f64).collect()
}

/// A result cell as JSON. Non-finite floats have no JSON form and read as
/// null, as they do through PostgreSQL's JSON functions.
pub fn cell(v: Value) -> Json {
    let float = |f: f64| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number);
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(b),
        Value::Int(i) => Json::from(i),
        Value::Float(f) => float(f),
        Value::Str(s) => Json::String(s),
        Value::Bytes(b) => Json::String(STANDARD.encode(b)),
        Value::Floats(v) => Json::Array(v.into_iter().map(float).collect()),
        Value::FloatRows(rows) => Json::Array(
            rows.into_iter()
                .map(|r| Json::Array(r.into_iter().map(float).collect()))
                .collect(),
        ),
        Value::Json(j) => j,
    }
}
