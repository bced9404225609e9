//! WordNet synsets with their all-MiniLM-L6-v2 embeddings: the sample in
//! `data/sample/` and the full 117,659 glosses in the shared data folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array, StringArray};
use arrow_schema::{DataType, Field};
use deeplake_client::Column;

use crate::npy;

pub struct Synset {
    pub id: String,
    pub pos: String,
    pub lemmas: Vec<String>,
    pub definition: String,
    pub examples: Vec<String>,
}

/// Synsets and their embeddings (row i embeds synset i's definition).
pub struct WordNet {
    pub synsets: Vec<Synset>,
    pub embeddings: npy::Matrix,
}

/// The prepared full set: `$DEEPLAKE_SHARED_DATA/wordnet-minilm`, else the
/// `shared/data` folder beside the repository.
pub fn full_dir() -> PathBuf {
    let root = std::env::var_os("DEEPLAKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    root.join("wordnet-minilm")
}

fn strings(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|l| l.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a synsets JSONL file and its embedding matrix.
pub fn load(jsonl: &Path, embeddings: &Path) -> Result<WordNet, String> {
    let text = std::fs::read_to_string(jsonl).map_err(|e| format!("{}: {e}", jsonl.display()))?;
    let mut synsets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: {e}", jsonl.display(), i + 1))?;
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string()
        };
        synsets.push(Synset {
            id: s("id"),
            pos: s("pos"),
            lemmas: strings(&v, "lemmas"),
            definition: s("definition"),
            examples: strings(&v, "examples"),
        });
    }
    let embeddings = npy::read(embeddings)?;
    if embeddings.rows != synsets.len() {
        return Err(format!(
            "{} synsets but {} embeddings",
            synsets.len(),
            embeddings.rows
        ));
    }
    Ok(WordNet {
        synsets,
        embeddings,
    })
}

/// The full prepared set (see [`full_dir`]).
pub fn load_full() -> Result<WordNet, String> {
    let dir = full_dir();
    load(
        &dir.join("synsets.jsonl"),
        &dir.join("definition_emb_f16.npy"),
    )
}

impl WordNet {
    /// Columns `idx` (row number), `id`, `text` (the definition) and
    /// `embedding` (float32[384]) as Arrow arrays, ready to ingest.
    pub fn columns(&self) -> Result<Vec<(String, Column)>, String> {
        let n = self.synsets.len();
        let dim = self.embeddings.cols;
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let emb = FixedSizeListArray::try_new(
            item,
            dim as i32,
            Arc::new(Float32Array::from(self.embeddings.data.clone())),
            None,
        )
        .map_err(|e| e.to_string())?;
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("idx", Arc::new(Int64Array::from_iter_values(0..n as i64))),
            (
                "id",
                Arc::new(StringArray::from_iter_values(
                    self.synsets.iter().map(|s| s.id.as_str()),
                )),
            ),
            (
                "text",
                Arc::new(StringArray::from_iter_values(
                    self.synsets.iter().map(|s| s.definition.as_str()),
                )),
            ),
            ("embedding", Arc::new(emb)),
        ];
        Ok(cols
            .into_iter()
            .map(|(n, a)| (n.to_string(), Column::Arrow(a)))
            .collect())
    }

    /// Embedding of row `i`.
    pub fn embedding(&self, i: usize) -> &[f32] {
        let d = self.embeddings.cols;
        &self.embeddings.data[i * d..(i + 1) * d]
    }
}
