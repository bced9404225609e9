#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use deeplake_client::{Client, Column, Value};

pub fn client_at(dir: &std::path::Path) -> Client {
    Client::new(None, Some("ws"), Some(&format!("file://{}", dir.display()))).unwrap()
}

/// An unsigned JWT with the given payload (embedded mode does not verify).
pub fn jwt(payload: serde_json::Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{head}.{body}.c2lnbmF0dXJl")
}

pub fn col(name: &str, values: Vec<Value>) -> (String, Column) {
    (name.to_string(), Column::Values(values))
}

pub fn ints(name: &str, range: std::ops::Range<i64>) -> (String, Column) {
    col(name, range.map(Value::Int).collect())
}

pub fn texts(name: &str, values: &[&str]) -> (String, Column) {
    col(
        name,
        values.iter().map(|s| Value::Str(s.to_string())).collect(),
    )
}
