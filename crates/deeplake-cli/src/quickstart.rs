//! `deeplake quickstart`: ingests the shipped WordNet sample into the
//! embedded workspace, then reads and searches it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array};
use arrow_schema::{DataType, Field};
use deeplake_client::{Client, Column, IngestOptions, Value};

use crate::{npy, search, ui};

pub const TABLE: &str = "wordnet_sample";

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

struct Synset {
    id: String,
    pos: String,
    lemmas: Vec<String>,
    definition: String,
}

fn load(dir: &Path) -> Result<(Vec<Synset>, npy::Matrix), String> {
    let path = dir.join("wordnet-sample.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let lemmas = v
            .get("lemmas")
            .and_then(|l| l.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Synset {
            id: s("id"),
            pos: s("pos"),
            lemmas,
            definition: s("definition"),
        });
    }
    let emb = npy::read(&dir.join("wordnet-sample-minilm-f16.npy"))?;
    if emb.rows != out.len() {
        return Err(format!("{} synsets but {} embeddings", out.len(), emb.rows));
    }
    Ok((out, emb))
}

pub fn run(client: &Client, sample: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (synsets, emb) = load(sample)?;
    println!(
        "Workspace: org '{}', workspace '{}', root {}",
        client.org_id(),
        client.workspace_id(),
        client.root_path().display()
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
    let mut on_progress = |done: u64, _total: i64| bar.set_position(done);
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
        "\nSemantic neighbours (exact cosine over the all-MiniLM-L6-v2 embeddings of the glosses):"
    );
    for word in ["dog", "piano", "river"] {
        let Some(q) = synsets
            .iter()
            .position(|s| s.lemmas.first().is_some_and(|l| l == word))
        else {
            continue;
        };
        let query = &emb.data[q * emb.cols..(q + 1) * emb.cols];
        let hits = search::top_k_cosine(&ds, "embedding", query, 6)?;
        let rows: Vec<u64> = hits.iter().map(|(r, _)| *r).collect();
        let found = ds.take(&rows, Some(&["lemmas", "definition"]))?;
        let lemmas = found
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .ok_or("lemmas column")?;
        let defs = found
            .column(1)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .ok_or("definition column")?;
        let table_rows = hits
            .iter()
            .enumerate()
            .map(|(i, (row, score))| {
                vec![
                    row.to_string(),
                    format!("{score:.3}"),
                    ui::clip(lemmas.value(i), 30),
                    ui::clip(defs.value(i), 70),
                ]
            })
            .collect();
        println!(
            "\nquery: the gloss of '{word}'\n{}",
            ui::table(&["row", "cosine", "lemmas", "definition"], table_rows)
        );
    }

    println!("\nKeyword filter: glosses containing 'music'");
    let mut matches = Vec::new();
    let mut base = 0u64;
    for batch in ds.batches(1024, false, Some(&["definition"]))? {
        let batch = batch?;
        let defs = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .ok_or("definition column")?;
        for i in 0..defs.len() {
            if defs.value(i).contains("music") {
                matches.push(vec![
                    (base + i as u64).to_string(),
                    ui::clip(defs.value(i), 90),
                ]);
            }
        }
        base += batch.num_rows() as u64;
    }
    println!(
        "{} matches\n{}",
        matches.len(),
        ui::table(
            &["row", "definition"],
            matches.into_iter().take(5).collect()
        )
    );

    let started = Instant::now();
    let row = ds.get(ds.len() / 2)?;
    println!(
        "\nRandom access: row {} read in {:.0} µs: lemmas {}",
        ds.len() / 2,
        started.elapsed().as_secs_f64() * 1e6,
        row.get("lemmas").cloned().unwrap_or(Value::Null)
    );
    Ok(())
}
