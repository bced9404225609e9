//! `deeplake quickstart`: ingests the shipped WordNet sample into the
//! embedded workspace, then reads and searches it; then ingests the
//! project's own documents as files and searches their chunks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array};
use arrow_schema::{DataType, Field};
use deeplake_client::{Chunking, Client, Column, FileOptions, IngestOptions, Value};

use deeplake_cli::wordnet::{self, WordNet};

use crate::ui;

pub const TABLE: &str = "wordnet_sample";
/// The table of the project's own documents, ingested as files.
pub const DOCS: &str = "project_docs";

/// The sample shipped in the repository, found from the binary's source tree
/// or the current directory.
pub fn default_sample_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
    if here.is_dir() {
        here
    } else {
        PathBuf::from("data/sample")
    }
}

fn load(dir: &Path) -> Result<WordNet, String> {
    wordnet::load(
        &dir.join("wordnet-sample.jsonl"),
        &dir.join("wordnet-sample-minilm-f16.npy"),
    )
}

pub fn run(client: &Client, sample: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let WordNet {
        synsets,
        embeddings: emb,
    } = load(sample)?;
    println!(
        "Workspace: org '{}', workspace '{}', root {}",
        client.org_id(),
        client.workspace_id(),
        client.root_path()
    );
    if client.list_tables()?.iter().any(|t| t == TABLE) {
        println!("Dropping the previous '{TABLE}' table");
        client.drop_table(TABLE, true)?;
    }

    let embedding = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        emb.cols as i32,
        Arc::new(Float32Array::from(emb.data.clone())),
        None,
    )?;
    let data = vec![
        (
            "id".to_string(),
            Column::Values(synsets.iter().map(|s| Value::Str(s.id.clone())).collect()),
        ),
        (
            "pos".to_string(),
            Column::Values(synsets.iter().map(|s| Value::Str(s.pos.clone())).collect()),
        ),
        (
            "lemmas".to_string(),
            Column::Values(
                synsets
                    .iter()
                    .map(|s| Value::Json(serde_json::json!(s.lemmas)))
                    .collect(),
            ),
        ),
        (
            "definition".to_string(),
            Column::Values(
                synsets
                    .iter()
                    .map(|s| Value::Str(s.definition.clone()))
                    .collect(),
            ),
        ),
        (
            "embedding".to_string(),
            Column::Arrow(Arc::new(embedding) as ArrayRef),
        ),
    ];
    let bar = ui::progress(Some(synsets.len() as u64), "ingest");
    let mut on_progress = |done: u64, _total: i64| {
        bar.set_position(done);
        Ok(())
    };
    let started = Instant::now();
    let result = client.ingest(
        TABLE,
        data,
        IngestOptions {
            on_progress: Some(&mut on_progress),
            ..Default::default()
        },
    )?;
    bar.finish_and_clear();
    println!(
        "Ingested {} rows into '{}' in {:.1} ms\n  dataset_path: {}",
        result.row_count,
        result.table_name,
        started.elapsed().as_secs_f64() * 1000.0,
        result.dataset_path
    );

    let ds = client.open_table(TABLE)?;
    let schema_rows = ds
        .spec_types()?
        .into_iter()
        .map(|(n, t)| vec![n, t.name(), t.sql_name()])
        .collect();
    println!(
        "\nTable '{TABLE}' (version {}, {} rows)\n{}",
        ds.version(),
        ds.len(),
        ui::table(&["column", "type", "SQL type"], schema_rows)
    );

    println!(
        "\nSemantic neighbours (SQL: embedding <#> $1::float4[], exact cosine over the all-MiniLM-L6-v2 embeddings):"
    );
    for word in ["dog", "piano", "river"] {
        let Some(q) = synsets
            .iter()
            .position(|s| s.lemmas.first().is_some_and(|l| l == word))
        else {
            continue;
        };
        let query: Vec<f64> = emb.data[q * emb.cols..(q + 1) * emb.cols]
            .iter()
            .map(|x| f64::from(*x))
            .collect();
        let rows = client.query(
            &format!(
                "SELECT lemmas, definition, embedding <#> $1::float4[] AS cosine FROM {TABLE} ORDER BY cosine DESC LIMIT 6"
            ),
            &[Value::Floats(query)],
        )?;
        println!(
            "\nquery: the gloss of '{word}'\n{}",
            results_table(&rows, &["cosine", "lemmas", "definition"])
        );
    }

    let keywords = "music instrument";
    let rows = client.query(
        &format!(
            "SELECT lemmas, definition, definition <#> $1 AS bm25 FROM {TABLE} ORDER BY bm25 DESC LIMIT 5"
        ),
        &[Value::from(keywords)],
    )?;
    println!(
        "\nKeyword search (SQL: definition <#> '{keywords}', Okapi BM25 over the table):\n{}",
        results_table(&rows, &["bm25", "lemmas", "definition"])
    );

    let rows = client.query(
        &format!("SELECT count(*) AS n FROM {TABLE} WHERE definition LIKE '%music%'"),
        &[],
    )?;
    println!(
        "\nFilter (SQL: WHERE definition LIKE '%music%'): {} rows",
        rows.first()
            .and_then(|r| r.get("n"))
            .cloned()
            .unwrap_or(Value::Null)
    );

    let started = Instant::now();
    let row = ds.get(ds.len() / 2)?;
    println!(
        "\nRandom access: row {} read in {:.0} µs: lemmas {}",
        ds.len() / 2,
        started.elapsed().as_secs_f64() * 1e6,
        row.get("lemmas").cloned().unwrap_or(Value::Null)
    );
    files(client, sample)
}

/// Ingests the project's own documentation as files (FILE schema: chunked
/// text, the file name carried onto every chunk) and searches it.
fn files(client: &Client, sample: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = sample.join("../..");
    let mut paths: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    if let Ok(docs) = std::fs::read_dir(root.join("docs")) {
        let mut more: Vec<PathBuf> = docs.flatten().map(|e| e.path()).collect();
        more.sort();
        paths.extend(more);
    }
    paths.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "md"));
    if paths.is_empty() {
        println!("\n(no project documents beside the sample: file ingest skipped)");
        return Ok(());
    }
    client.drop_table(DOCS, true)?;
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let data = vec![
        (
            "path".to_string(),
            Column::Values(
                paths
                    .iter()
                    .map(|p| Value::Str(p.display().to_string()))
                    .collect(),
            ),
        ),
        (
            "source".to_string(),
            Column::Values(paths.iter().map(|p| Value::Str(name(p))).collect()),
        ),
    ];
    let opts = IngestOptions {
        schema: vec![("path".into(), "FILE".into())],
        files: FileOptions {
            chunking: Chunking::new(500, 100)?,
            ..FileOptions::default()
        },
        ..Default::default()
    };
    let started = Instant::now();
    let r = client.ingest(DOCS, data, opts)?;
    println!(
        "\nFiles: ingested {} documents of this project as {} text chunks into '{DOCS}' in {:.1} ms",
        paths.len(),
        r.row_count,
        started.elapsed().as_secs_f64() * 1e3
    );
    let keywords = "keyframe segment thumbnails";
    let rows = client.query(
        &format!(
            "SELECT source, chunk_index, text, text <#> $1 AS bm25 FROM {DOCS} ORDER BY bm25 DESC LIMIT 3"
        ),
        &[Value::from(keywords)],
    )?;
    println!(
        "Keyword search over the chunks (text <#> '{keywords}'):\n{}",
        results_table(&rows, &["bm25", "source", "chunk_index", "text"])
    );
    Ok(())
}

/// Result rows as a printed table of the given columns (floats to 3 places).
fn results_table(rows: &[deeplake_client::Row], columns: &[&str]) -> String {
    let body = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| match r.get(c) {
                    Some(Value::Float(f)) => format!("{f:.3}"),
                    Some(v) => ui::clip(&v.to_string(), 60),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    ui::table(columns, body)
}
