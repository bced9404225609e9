//! Ingest from sources other than plain columns: FILE columns (through the
//! file pipeline) and format objects (the format protocol). Both stream:
//! batches are written as they are produced, with the same flush/commit
//! cadence and clean-up on failure as column ingest.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Schema, SchemaRef};
use deeplake_ingest::{FileBatch, FileInput, Format, HfEnv, HuggingFace};
use deeplake_types::{Column, SpecType, Value};

use crate::client::{Client, IngestOptions, IngestResult};
use crate::error::{ClientError, Result};
use crate::ingest::{parse_schema, prepare, Against};

impl Client {
    /// Ingests the files named by FILE columns; other columns are carried
    /// onto every row made from the files of their input row.
    pub(crate) fn ingest_files(
        &self,
        table: &str,
        data: Vec<(String, Column)>,
        mut hints: HashMap<String, SpecType>,
        mut opts: IngestOptions<'_>,
    ) -> Result<IngestResult> {
        let mut file_cols: Vec<&String> = hints
            .iter()
            .filter(|(_, t)| **t == SpecType::File)
            .map(|(c, _)| c)
            .collect();
        file_cols.sort();
        for col in &file_cols {
            if !data.iter().any(|(name, _)| name == *col) {
                return Err(ClientError::ingest(format!(
                    "Schema declares '{col}' as FILE but column not in data."
                )));
            }
        }
        if let Some((first, col)) = data.first() {
            if let Some((name, other)) = data.iter().find(|(_, c)| c.len() != col.len()) {
                return Err(ClientError::ingest(format!(
                    "All columns must have the same length: '{first}' has {} rows but '{name}' has {}.",
                    col.len(),
                    other.len()
                )));
            }
        }
        let file_cols: Vec<String> = file_cols.into_iter().cloned().collect();
        let mut inputs = vec![];
        let mut carried = vec![];
        for (name, col) in data {
            if file_cols.contains(&name) {
                inputs.extend(paths(&name, col)?);
            } else {
                carried.push((name, col));
            }
        }
        // Files of one input row stay together, in column order.
        inputs.sort_by_key(|i| i.source);
        hints.retain(|_, t| *t != SpecType::File);
        let carried = match carried.is_empty() {
            true => None,
            false => Some(prepare(carried, &hints, Against::Nothing, table)?),
        };
        let mut files = opts.files.clone();
        files.tools = files.tools.with_cancel(opts.cancel.clone());
        let plan = deeplake_ingest::plan(inputs, files)?;
        let mut fields = plan.schema().fields().to_vec();
        if let Some(c) = &carried {
            for f in c.schema().fields() {
                if fields.iter().any(|x| x.name() == f.name()) {
                    return Err(ClientError::ingest(format!(
                        "Column '{}' clashes with a column that file ingestion creates.",
                        f.name()
                    )));
                }
                fields.push(f.clone());
            }
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let progress = opts.on_progress.take();
        let total = plan.expected_rows() as i64;
        let mut ingesting = self.start_ingest(
            table,
            opts.mode,
            &schema,
            opts.write,
            total,
            progress,
            &opts.cancel,
        )?;
        let pushed = plan.run(|fb: FileBatch| -> Result<()> {
            ingesting.set_total(fb.total as i64);
            let batch = with_carried(fb, carried.as_ref(), &schema)?;
            ingesting.push_batch(&self.rt, batch)
        });
        self.conclude(ingesting, pushed, 0)
    }

    /// Ingests a Hugging Face dataset's `split` (default `train`), found as
    /// `env` says (local caches first, then the hub).
    pub fn ingest_huggingface(
        &self,
        table: &str,
        name: &str,
        split: Option<&str>,
        config: Option<&str>,
        env: &HfEnv,
        opts: IngestOptions<'_>,
    ) -> Result<IngestResult> {
        Self::check_table_name(table)?;
        let mut source = HuggingFace::open(name, split, config, env)?;
        self.ingest_format(table, &mut source, opts)
    }

    /// Ingests the batches a format yields. Its schema hints type the
    /// columns, the options' schema overriding them; every batch after the
    /// first is typed to the first's columns.
    pub fn ingest_format(
        &self,
        table: &str,
        format: &mut dyn Format,
        opts: IngestOptions<'_>,
    ) -> Result<IngestResult> {
        Self::check_table_name(table)?;
        self.then_indexed(table, opts, |c, opts| c.write_format(table, format, opts))
    }

    fn write_format(
        &self,
        table: &str,
        format: &mut dyn Format,
        mut opts: IngestOptions<'_>,
    ) -> Result<IngestResult> {
        opts.write.validate()?;
        let mut pairs = format.schema();
        for (col, ty) in &opts.schema {
            pairs.retain(|(c, _)| c != col);
            pairs.push((col.clone(), ty.clone()));
        }
        let hints = parse_schema(&pairs)?;
        if let Some((col, _)) = hints.iter().find(|(_, t)| **t == SpecType::File) {
            return Err(ClientError::ingest(format!(
                "Column '{col}' is declared FILE, which a format cannot use: yield the file's contents instead."
            )));
        }
        let metadata = format.metadata();
        let rows_hint = format.rows_hint().map_or(-1, |n| n as i64);
        let mut batches = format.normalize()?;
        let first = batches
            .next()
            .ok_or_else(|| ClientError::ingest("The format yielded no data."))??;
        let present = |batch: &[(String, Column)]| -> HashMap<String, SpecType> {
            hints
                .iter()
                .filter(|(c, _)| batch.iter().any(|(n, _)| n == *c))
                .map(|(c, t)| (c.clone(), *t))
                .collect()
        };
        let first_hints = present(&first);
        let first = with_metadata(
            prepare(first, &first_hints, Against::Nothing, table)?,
            metadata,
        )?;
        let progress = opts.on_progress.take();
        let mut ingesting = self.start_ingest(
            table,
            opts.mode,
            &first.schema(),
            opts.write,
            rows_hint,
            progress,
            &opts.cancel,
        )?;
        let pushed = (|| {
            ingesting.push_batch(&self.rt, first)?;
            for batch in batches.by_ref() {
                let batch = batch?;
                let hints = present(&batch);
                ingesting.push_columns(&self.rt, batch, &hints)?;
            }
            Ok(())
        })();
        drop(batches);
        self.conclude(ingesting, pushed, format.skipped())
    }
}

/// Adds a format's per-column field metadata to a typed batch.
fn with_metadata(
    batch: RecordBatch,
    extra: Vec<(String, HashMap<String, String>)>,
) -> Result<RecordBatch> {
    if extra.is_empty() {
        return Ok(batch);
    }
    let fields: Vec<arrow_schema::Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let mut meta = f.metadata().clone();
            for (_, m) in extra.iter().filter(|(c, _)| c == f.name()) {
                meta.extend(m.clone());
            }
            f.as_ref().clone().with_metadata(meta)
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec())
        .map_err(|e| ClientError::ingest(format!("Failed to ingest data: {e}")))
}

/// What `{"_huggingface": name, "split": .., "config": ..}` data asks for.
pub(crate) struct HfRequest {
    pub name: String,
    pub split: Option<String>,
    pub config: Option<String>,
}

/// The Hugging Face request in `data`, or `None` when the data is columns.
pub(crate) fn huggingface_request(data: &[(String, Column)]) -> Result<Option<HfRequest>> {
    let Some((_, col)) = data.iter().find(|(n, _)| n == "_huggingface") else {
        return Ok(None);
    };
    let one = |key: &str, col: &Column| -> Result<String> {
        match col {
            Column::Values(v) => match v.as_slice() {
                [Value::Str(s)] => Ok(s.clone()),
                [other] => Err(ClientError::ingest(format!(
                    "{key} value must be a string, got {}.",
                    other.kind()
                ))),
                _ => Err(ClientError::ingest(format!(
                    "{key} value must be a string, got list."
                ))),
            },
            Column::Arrow(a) => Err(ClientError::ingest(format!(
                "{key} value must be a string, got {}.",
                a.data_type()
            ))),
        }
    };
    let name = one("_huggingface", col)?;
    let mut split = None;
    let mut config = None;
    for (key, col) in data.iter().filter(|(n, _)| n != "_huggingface") {
        match key.as_str() {
            "split" | "_split" => split = Some(one(key, col)?),
            "config" | "_config" | "name" => config = Some(one(key, col)?),
            other => {
                return Err(ClientError::ingest(format!(
                    "Unexpected key '{other}' next to _huggingface: only 'split' and 'config' are allowed."
                )))
            }
        }
    }
    Ok(Some(HfRequest {
        name,
        split,
        config,
    }))
}

/// The paths of a FILE column with the input row of each; nulls are skipped.
fn paths(name: &str, col: Column) -> Result<Vec<FileInput>> {
    let not_paths = |kind: &str| {
        ClientError::ingest(format!(
            "FILE column '{name}' must hold file paths (text), got {kind}."
        ))
    };
    let values: Vec<Option<String>> = match col {
        Column::Values(values) => values
            .into_iter()
            .map(|v| match v {
                Value::Str(s) => Ok(Some(s)),
                Value::Null => Ok(None),
                other => Err(not_paths(other.kind())),
            })
            .collect::<Result<_>>()?,
        Column::Arrow(array) => {
            if !matches!(
                array.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                return Err(not_paths(&array.data_type().to_string()));
            }
            let strings = arrow_cast::cast(&array, &DataType::Utf8)
                .map_err(|e| ClientError::ingest(e.to_string()))?;
            let strings = strings
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| not_paths("text that cannot be read"))?;
            strings.iter().map(|s| s.map(str::to_string)).collect()
        }
    };
    Ok(values
        .into_iter()
        .enumerate()
        .filter_map(|(source, p)| {
            p.map(|p| FileInput {
                source,
                path: p.into(),
            })
        })
        .collect())
}

/// A file batch with the carried columns of its input row appended.
fn with_carried(
    fb: FileBatch,
    carried: Option<&RecordBatch>,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let Some(carried) = carried else {
        return Ok(fb.batch);
    };
    let rows = fb.batch.num_rows();
    let picks = UInt32Array::from(vec![fb.source as u32; rows]);
    let mut columns = fb.batch.columns().to_vec();
    for col in carried.columns() {
        columns.push(
            arrow_select::take::take(col.as_ref(), &picks, None)
                .map_err(|e| ClientError::ingest(format!("Failed to ingest data: {e}")))?,
        );
    }
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| ClientError::ingest(format!("Failed to ingest data: {e}")))
}
