//! The crate documentation's first session (`src/lib.rs` shows this file).

use deeplake_client::{Client, ClientError, Column, IngestOptions, Mode, Value};

#[test]
fn a_first_session() -> Result<(), ClientError> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    // No token: org "local". An api_url of file://PATH roots the workspace at
    // PATH; without one the root is $DEEPLAKE_ROOT or ~/.local/share/deeplake.
    let client = Client::new(None, Some("my-workspace"), Some(&url))?;

    let columns = |texts: &[&str], first_label: i64| -> Vec<(String, Column)> {
        let n = texts.len() as i64;
        vec![
            (
                "text".into(),
                Column::Values(texts.iter().map(|t| Value::from(*t)).collect()),
            ),
            (
                "embedding".into(),
                Column::Values(
                    (0..n)
                        .map(|i| Value::Floats(vec![0.1 * i as f64, 0.2, 0.3]))
                        .collect(),
                ),
            ),
            (
                "label".into(),
                Column::Values((first_label..first_label + n).map(Value::Int).collect()),
            ),
        ]
    };
    let result = client.ingest(
        "embeddings",
        columns(&["doc1", "doc2"], 0),
        IngestOptions::default(),
    )?;
    assert_eq!(result.row_count, 2);

    // Ingesting into an existing table needs an explicit mode.
    let append = IngestOptions {
        mode: Mode::Append,
        ..Default::default()
    };
    client.ingest("embeddings", columns(&["doc3"], 2), append)?;

    let ds = client.open_table("embeddings")?;
    assert_eq!(ds.len(), 3);
    let row = ds.get(2)?; // (column, Value) pairs
    assert_eq!(row.get("text"), Some(&Value::from("doc3")));
    for batch in ds.batches(100, false, Some(&["embedding"]))? {
        let batch = batch?; // an Arrow RecordBatch
        assert_eq!(batch.num_rows(), 3);
    }
    let first = ds.checkout(ds.version() - 1)?; // time travel
    assert_eq!(first.len(), 2);
    Ok(())
}
