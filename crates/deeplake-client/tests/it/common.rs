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

/// The first column of every batch, as int64 values, in order.
pub fn first_i64s(
    batches: impl IntoIterator<Item = deeplake_client::Result<arrow_array::RecordBatch>>,
) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    batches
        .into_iter()
        .flat_map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<arrow_array::types::Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Options with `(column, type)` schema overrides.
pub fn opts_schema<'a>(schema: &[(&str, &str)]) -> deeplake_client::IngestOptions<'a> {
    deeplake_client::IngestOptions {
        schema: schema
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// One of scikit-image's sample photos, from `.venv-test` (made by
/// scripts/setup-python.sh).
pub fn skimage(name: &str) -> std::path::PathBuf {
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test/lib");
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|dirs| {
            dirs.flatten()
                .map(|d| d.path().join("site-packages/skimage/data").join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "scikit-image's {name} missing under {}: run scripts/setup-python.sh",
                lib.display()
            )
        })
}

/// `column → SQL type` of a table, from information_schema.
pub fn column_types(c: &Client, table: &str) -> std::collections::BTreeMap<String, String> {
    c.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1",
        &[Value::Str(table.into())],
    )
    .unwrap()
    .iter()
    .map(|r| match (r.get("column_name"), r.get("data_type")) {
        (Some(Value::Str(a)), Some(Value::Str(b))) => (a.clone(), b.clone()),
        other => panic!("{other:?}"),
    })
    .collect()
}
