//! Hugging Face datasets as a format: `{"_huggingface": name}` resolved from
//! local caches first, then the hub; features mapped to the spec's types
//! (Image → IMAGE, ClassLabel → CLASS_LABEL with its class names kept as
//! column metadata, sequences of floats → EMBEDDING, values → scalars,
//! anything else → JSON).

mod hub;
mod locate;

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use deeplake_types::{Column, SpecType, Value};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub use locate::HfEnv;
use locate::Shards;

use crate::error::{IngestError, Result};
use crate::format::{Batch, Format};

/// Field metadata key holding a CLASS_LABEL column's class names (JSON list).
pub const CLASS_NAMES_KEY: &str = "deeplake.class_names";
/// Rows per batch read from a shard.
const BATCH_ROWS: usize = 1024;

/// How one column is turned into ours.
#[derive(Debug, Clone, PartialEq)]
enum Conv {
    Image,
    ClassLabel(Vec<String>),
    Embedding,
    Plain,
    Json,
}

impl Conv {
    fn hint(&self) -> Option<&'static str> {
        match self {
            Conv::Image => Some("IMAGE"),
            Conv::ClassLabel(_) => Some("CLASS_LABEL"),
            Conv::Embedding => Some("EMBEDDING"),
            Conv::Json => Some("JSON"),
            Conv::Plain => None,
        }
    }
}

#[derive(Debug)]
pub struct HuggingFace {
    name: String,
    shards: Shards,
    columns: Vec<(String, Conv)>,
    rows: Option<u64>,
}

impl HuggingFace {
    /// Finds the dataset's files for `split` (default `train`) and reads its
    /// features; downloads from the hub only when no local copy exists and
    /// the environment is not offline.
    pub fn open(
        name: &str,
        split: Option<&str>,
        config: Option<&str>,
        env: &HfEnv,
    ) -> Result<HuggingFace> {
        let split = split.unwrap_or("train");
        if name.trim().is_empty() {
            return Err(IngestError::Invalid(
                "_huggingface value must not be empty.".into(),
            ));
        }
        let mut looked = vec![];
        let mut found = None;
        let as_dir = Path::new(name);
        if as_dir.is_dir() {
            looked.push(format!("the folder {name}"));
            found = locate::saved(as_dir, split).or_else(|| {
                Some(locate::parquet_in(as_dir, split, config)).filter(|s| !s.is_empty())
            });
        }
        if found.is_none() {
            looked.push(format!("the hub cache {}", env.repo_dir(name).display()));
            found = locate::hub_snapshot(env, name)
                .map(|snap| locate::parquet_in(&snap, split, config))
                .filter(|s| !s.is_empty());
        }
        if found.is_none() {
            looked.push(format!(
                "the datasets cache {}",
                env.datasets_cache.join(name.replace('/', "___")).display()
            ));
            found = locate::builder_cache(env, name, split, config);
        }
        if found.is_none() {
            if env.offline {
                looked.push("the hub (not tried: HF_HUB_OFFLINE is set)".into());
            } else {
                match hub::download(env, name, split, config) {
                    Ok(s) => found = Some(s),
                    Err(why) => looked.push(format!("the hub ({why})")),
                }
            }
        }
        let shards = found
            .filter(|s| !s.is_empty())
            .ok_or_else(|| hub::not_found(name, split, &looked))?;
        let (schema, features, rows) = inspect(&shards)?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), conversion(f, features.get(f.name()))))
            .collect();
        Ok(HuggingFace {
            name: name.to_string(),
            shards,
            columns,
            rows,
        })
    }
}

fn shard_files(shards: &Shards) -> &[PathBuf] {
    match shards {
        Shards::Parquet(v) | Shards::Arrow(v) => v,
    }
}

type Reader = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

fn open_shard(shards: &Shards, path: &Path) -> Result<(SchemaRef, Reader, Option<u64>)> {
    let fail = |e: &dyn std::fmt::Display| {
        IngestError::file(path, format!("unreadable dataset shard: {e}"))
    };
    let file = File::open(path).map_err(|e| fail(&e))?;
    Ok(match shards {
        Shards::Parquet(_) => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?;
            let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
            let schema = builder.schema().clone();
            let reader = builder
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| fail(&e))?;
            (schema, Box::new(reader), Some(rows))
        }
        Shards::Arrow(_) => {
            let reader = arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None)
                .map_err(|e| fail(&e))?;
            (reader.schema(), Box::new(reader), None)
        }
    })
}

/// The first shard's schema, the features (from the schema's `huggingface`
/// metadata, else `dataset_info.json` beside it), and the row count when
/// the files record it.
fn inspect(
    shards: &Shards,
) -> Result<(
    SchemaRef,
    serde_json::Map<String, serde_json::Value>,
    Option<u64>,
)> {
    let files = shard_files(shards);
    for f in files {
        if !f.is_file() {
            return Err(IngestError::NotFound(f.clone()));
        }
    }
    let first = &files[0];
    let (schema, _, _) = open_shard(shards, first)?;
    let from_meta = schema
        .metadata()
        .get("huggingface")
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .and_then(|m| m["info"]["features"].as_object().cloned());
    let features = from_meta
        .or_else(|| {
            let info = std::fs::read(first.parent()?.join("dataset_info.json")).ok()?;
            serde_json::from_slice::<serde_json::Value>(&info).ok()?["features"]
                .as_object()
                .cloned()
        })
        .unwrap_or_default();
    let rows = match shards {
        Shards::Parquet(_) => files
            .iter()
            .map(|f| open_shard(shards, f).map(|(_, _, n)| n.unwrap_or(0)))
            .sum::<Result<u64>>()
            .ok(),
        Shards::Arrow(_) => None,
    };
    Ok((schema, features, rows))
}

fn conversion(field: &Field, feature: Option<&serde_json::Value>) -> Conv {
    let plain_ok = SpecType::from_arrow(field.data_type()).is_ok();
    let Some(f) = feature else {
        return if plain_ok { Conv::Plain } else { Conv::Json };
    };
    match f["_type"].as_str() {
        Some("Image") if matches!(field.data_type(), DataType::Struct(_)) => Conv::Image,
        Some("ClassLabel") => Conv::ClassLabel(
            f["names"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Some("List") | Some("Sequence") | Some("LargeList")
            if f["feature"]["_type"] == "Value"
                && f["feature"]["dtype"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("float")) =>
        {
            Conv::Embedding
        }
        Some("Value") if plain_ok => Conv::Plain,
        _ => Conv::Json,
    }
}

/// An Image column's bytes; an image stored only as a path (as
/// `to_parquet` leaves local images) is read from that path, relative to
/// the shard's folder unless absolute.
fn image_values(array: &ArrayRef, base: &Path) -> std::result::Result<Vec<Value>, String> {
    let s = array
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or("an Image column that is not a struct")?;
    let bytes = s
        .column_by_name("bytes")
        .ok_or("an Image column without bytes")?;
    let bytes = arrow_cast::cast(bytes, &DataType::LargeBinary).map_err(|e| e.to_string())?;
    let bytes = bytes.as_binary::<i64>();
    let paths = match s.column_by_name("path") {
        Some(p) => Some(arrow_cast::cast(p, &DataType::Utf8).map_err(|e| e.to_string())?),
        None => None,
    };
    let paths = paths.as_ref().map(|p| p.as_string::<i32>());
    (0..s.len())
        .map(|i| {
            if s.is_null(i) {
                return Ok(Value::Null);
            }
            if bytes.is_valid(i) {
                return Ok(Value::Bytes(bytes.value(i).to_vec()));
            }
            match paths
                .filter(|p| p.is_valid(i))
                .map(|p| base.join(p.value(i)))
            {
                Some(path) => std::fs::read(&path)
                    .map(Value::Bytes)
                    .map_err(|e| format!("image {}: {e}", path.display())),
                None => Ok(Value::Null),
            }
        })
        .collect()
}

fn convert(
    name: &str,
    conv: &Conv,
    array: &ArrayRef,
    base: &Path,
) -> std::result::Result<Column, String> {
    Ok(match conv {
        Conv::Image => Column::Values(image_values(array, base)?),
        Conv::ClassLabel(_) | Conv::Plain => Column::Arrow(array.clone()),
        Conv::Embedding => Column::Arrow(
            arrow_cast::cast(
                array,
                &DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            )
            .map_err(|e| e.to_string())?,
        ),
        Conv::Json => Column::Values(json_values(name, array)?),
    })
}

/// Any Arrow column as JSON values, through arrow-json's row writer.
fn json_values(name: &str, array: &ArrayRef) -> std::result::Result<Vec<Value>, String> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        name,
        array.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![array.clone()]).map_err(|e| e.to_string())?;
    let mut writer = arrow_json::LineDelimitedWriter::new(Vec::new());
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    let out = writer.into_inner();
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let obj: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            Ok(match obj.get(name) {
                None | Some(serde_json::Value::Null) => Value::Null,
                Some(v) => Value::Json(v.clone()),
            })
        })
        .collect()
}

impl Format for HuggingFace {
    fn schema(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .filter_map(|(n, c)| c.hint().map(|h| (n.clone(), h.to_string())))
            .collect()
    }

    fn metadata(&self) -> Vec<(String, HashMap<String, String>)> {
        self.columns
            .iter()
            .filter_map(|(n, c)| match c {
                Conv::ClassLabel(names) => Some((
                    n.clone(),
                    HashMap::from([(
                        CLASS_NAMES_KEY.to_string(),
                        serde_json::Value::from(names.clone()).to_string(),
                    )]),
                )),
                _ => None,
            })
            .collect()
    }

    fn rows_hint(&self) -> Option<u64> {
        self.rows
    }

    fn normalize(&mut self) -> Result<Box<dyn Iterator<Item = Result<Batch>> + Send + '_>> {
        Ok(Box::new(Rows {
            source: self,
            next_shard: 0,
            reader: None,
        }))
    }
}

struct Rows<'a> {
    source: &'a HuggingFace,
    next_shard: usize,
    reader: Option<(PathBuf, Reader)>,
}

impl Rows<'_> {
    fn next_batch(&mut self) -> Result<Option<Batch>> {
        loop {
            if self.reader.is_none() {
                let files = shard_files(&self.source.shards);
                let Some(path) = files.get(self.next_shard) else {
                    return Ok(None);
                };
                self.next_shard += 1;
                let (_, reader, _) = open_shard(&self.source.shards, path)?;
                self.reader = Some((path.clone(), reader));
            }
            let Some((path, reader)) = self.reader.as_mut() else {
                continue;
            };
            match reader.next() {
                None => self.reader = None,
                Some(Err(e)) => {
                    return Err(IngestError::file(
                        path,
                        format!("unreadable dataset shard: {e}"),
                    ))
                }
                Some(Ok(batch)) if batch.num_rows() == 0 => {}
                Some(Ok(batch)) => {
                    let mut out = Vec::with_capacity(self.source.columns.len());
                    for (name, conv) in &self.source.columns {
                        let array = batch.column_by_name(name).ok_or_else(|| {
                            IngestError::file(
                                path,
                                format!("shard lacks column '{name}' of {}", self.source.name),
                            )
                        })?;
                        let base = path.parent().unwrap_or(Path::new("."));
                        let col = convert(name, conv, array, base).map_err(|e| {
                            IngestError::file(path, format!("column '{name}': {e}"))
                        })?;
                        out.push((name.clone(), col));
                    }
                    return Ok(Some(out));
                }
            }
        }
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        self.next_batch().transpose()
    }
}
