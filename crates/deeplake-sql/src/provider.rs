//! A storage table as a DataFusion table: partitioned scans over its
//! fragments, `INSERT` as one append commit, `DELETE` through the storage
//! layer's delete-by-predicate.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{exec_err, DFSchema, DataFusionError, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use deeplake_storage::{StorageError, Table};
use deeplake_types::SpecType;
use futures::{StreamExt, TryStreamExt};

/// Fragments read ahead per partition.
const READ_AHEAD: usize = 4;
/// Tables below this many rows scan as one partition, so small results keep
/// their row order.
const PARALLEL_MIN_ROWS: u64 = 50_000;

pub fn storage_err(e: StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

pub struct StorageTable {
    table: Table,
}

impl fmt::Debug for StorageTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StorageTable({} v{})",
            self.table.name(),
            self.table.version()
        )
    }
}

impl StorageTable {
    pub fn new(table: Table) -> StorageTable {
        StorageTable { table }
    }
}

/// Reads a list of fragments, in order, as one partition.
struct Fragments {
    table: Table,
    schema: SchemaRef,
    fragments: Vec<usize>,
}

impl fmt::Debug for Fragments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fragments({:?})", self.fragments)
    }
}

impl PartitionStream for Fragments {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let table = self.table.clone();
        let schema = self.schema.clone();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let stream = futures::stream::iter(self.fragments.clone())
            .map(move |i| {
                let table = table.clone();
                let schema = schema.clone();
                let names = names.clone();
                async move {
                    if names.is_empty() {
                        let rows = table.manifest().fragments[i].live_rows() as usize;
                        let opts = RecordBatchOptions::new().with_row_count(Some(rows));
                        return Ok(RecordBatch::try_new_with_options(schema, vec![], &opts)?);
                    }
                    let cols: Vec<&str> = names.iter().map(String::as_str).collect();
                    table
                        .read_fragment(i, Some(&cols))
                        .await
                        .map_err(storage_err)
                }
            })
            .buffered(READ_AHEAD);
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

#[async_trait]
impl TableProvider for StorageTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.table.schema();
        let projected = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema.clone(),
        };
        let frags = &self.table.manifest().fragments;
        let mut ids: Vec<usize> = (0..frags.len())
            .filter(|i| frags[*i].live_rows() > 0)
            .collect();
        if let Some(limit) = limit {
            // Only the leading fragments that hold the first `limit` rows.
            let mut rows = 0u64;
            let keep = ids
                .iter()
                .position(|i| {
                    rows += frags[*i].live_rows();
                    rows >= limit as u64
                })
                .map_or(ids.len(), |p| p + 1);
            ids.truncate(keep);
        }
        let parts = if limit.is_some() || self.table.len() < PARALLEL_MIN_ROWS {
            1
        } else {
            state
                .config()
                .target_partitions()
                .clamp(1, ids.len().max(1))
        };
        // Contiguous runs of fragments with about equal row counts.
        let total: u64 = ids.iter().map(|i| frags[*i].live_rows()).sum();
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); parts];
        let mut seen = 0u64;
        for i in ids {
            let g = ((seen * parts as u64) / total.max(1)) as usize;
            groups[g.min(parts - 1)].push(i);
            seen += frags[i].live_rows();
        }
        let partitions: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|fragments| {
                Arc::new(Fragments {
                    table: self.table.clone(),
                    schema: projected.clone(),
                    fragments,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            projected, partitions, None, None, false, limit,
        )?))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return exec_err!("only INSERT INTO ... is supported (got {insert_op})");
        }
        let sink = Arc::new(Sink {
            table: self.table.clone(),
            schema: self.table.schema(),
        });
        Ok(Arc::new(DataSinkExec::new(input, sink, None)))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.table.schema();
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let predicates = filters
            .iter()
            .map(|f| state.create_physical_expr(f.clone(), &df_schema))
            .collect::<Result<Vec<_>>>()?;
        let failure: Mutex<Option<DataFusionError>> = Mutex::new(None);
        let mut table = self.table.clone();
        let deleted = table
            .delete_where(|batch| {
                let mut keep: Option<BooleanArray> = None;
                for p in &predicates {
                    let r = p
                        .evaluate(batch)
                        .and_then(|v| v.into_array(batch.num_rows()))
                        .and_then(|a| match a.data_type() {
                            DataType::Boolean => Ok(a.as_boolean().clone()),
                            other => exec_err!("DELETE condition must be boolean, got {other}"),
                        });
                    let r = match r {
                        Ok(r) => r,
                        Err(e) => {
                            let msg = e.to_string();
                            if let Ok(mut slot) = failure.lock() {
                                *slot = Some(e);
                            }
                            return Err(StorageError::Arrow(ArrowError::ComputeError(msg)));
                        }
                    };
                    keep = Some(match keep {
                        None => r,
                        Some(k) => datafusion::arrow::compute::and(&k, &r)?,
                    });
                }
                // NULL conditions delete nothing, as in SQL.
                let all = keep.unwrap_or_else(|| BooleanArray::from(vec![true; batch.num_rows()]));
                Ok(all.iter().map(|v| Some(v == Some(true))).collect())
            })
            .await;
        let deleted = match deleted {
            Ok(n) => n,
            Err(e) => {
                if let Some(f) = failure.lock().ok().and_then(|mut s| s.take()) {
                    return Err(f);
                }
                return Err(storage_err(e));
            }
        };
        count_plan(deleted)
    }
}

/// The one-row `count` result every DML statement returns.
fn count_plan(n: u64) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(UInt64Array::from(vec![n]))])?;
    Ok(MemorySourceConfig::try_new_exec(
        &[vec![batch]],
        schema,
        None,
    )?)
}

/// Writes inserted rows as one fragment and commits them in one append.
struct Sink {
    table: Table,
    schema: SchemaRef,
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sink({})", self.table.name())
    }
}

impl DisplayAs for Sink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeeplakeSink({})", self.table.name())
    }
}

/// Casts `column` to the stored type of `field`, checking JSON text.
fn to_stored(column: &ArrayRef, field: &Field) -> Result<ArrayRef> {
    let out = arrow_cast::cast(column, field.data_type())?;
    if SpecType::of_field(field).ok() == Some(SpecType::Json) {
        for text in out.as_string::<i32>().iter().flatten() {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                return exec_err!(
                    "invalid input syntax for type json in column '{}': {e}",
                    field.name()
                );
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl DataSink for Sink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let batches: Vec<RecordBatch> = data.try_collect().await?;
        let schema = self.table.schema();
        let mut rows = 0u64;
        let mut converted = Vec::with_capacity(batches.len());
        for b in &batches {
            if b.num_rows() == 0 {
                continue;
            }
            let cols = schema
                .fields()
                .iter()
                .zip(b.columns())
                .map(|(f, c)| to_stored(c, f))
                .collect::<Result<Vec<_>>>()?;
            rows += b.num_rows() as u64;
            converted.push(RecordBatch::try_new(schema.clone(), cols)?);
        }
        if converted.is_empty() {
            return Ok(0);
        }
        let batch = datafusion::arrow::compute::concat_batches(&schema, &converted)?;
        let mut table = self.table.clone();
        table.append(&batch).await.map_err(storage_err)?;
        Ok(rows)
    }
}
