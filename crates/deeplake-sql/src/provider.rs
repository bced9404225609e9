//! A storage table as a DataFusion table: partitioned scans over its
//! fragments, `INSERT` as one append commit, `DELETE` through the storage
//! layer's delete-by-predicate.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{exec_err, DFSchema, DataFusionError, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use deeplake_storage::{StorageError, Table, TableWriter, WriteKind, WriteOptions};
use deeplake_types::SpecType;
use futures::{StreamExt, TryStreamExt};

use crate::error::SqlError;
use crate::scan_filter::{pushable, ScanFilter};

/// Pieces read ahead per partition.
const READ_AHEAD: usize = 2;
/// Rows per piece of a parallel scan: small enough to balance two cores,
/// large enough that per-batch overheads vanish.
const PIECE_ROWS: usize = 32_768;
/// Tables below this many rows scan as one partition, so small results keep
/// their row order.
const PARALLEL_MIN_ROWS: u64 = 50_000;

pub fn storage_err(e: StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The column a position scan adds after the table's own: each row's
/// global live index, by which `take` reads the row back later.
pub const ROW_POSITION: &str = "_deeplake_row";

pub struct StorageTable {
    table: Table,
    /// Whether the schema ends with [`ROW_POSITION`].
    positions: bool,
    /// Only these rows (global live positions, ascending) are scanned: the
    /// candidates an index picked for this statement.
    rows: Option<Arc<Vec<u64>>>,
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
        StorageTable {
            table,
            positions: false,
            rows: None,
        }
    }

    /// The table with [`ROW_POSITION`] as an extra last column.
    pub fn with_positions(table: Table) -> StorageTable {
        StorageTable {
            table,
            positions: true,
            rows: None,
        }
    }

    /// The table seen through only `rows` (ascending global positions).
    pub fn restricted(mut self, rows: Arc<Vec<u64>>) -> StorageTable {
        self.rows = Some(rows);
        self
    }
}

/// Rows per `take` of a restricted scan.
const TAKE_ROWS: usize = 4096;

/// The projected columns of `rows`, read at their own bytes, a batch per
/// [`TAKE_ROWS`].
fn restricted_scan(
    table: Table,
    schema: SchemaRef,
    positions: bool,
    rows: Arc<Vec<u64>>,
) -> SendableRecordBatchStream {
    let chunks = rows.len().div_ceil(TAKE_ROWS);
    let out = schema.clone();
    let stream = futures::stream::iter(0..chunks).then(move |c| {
        let (table, schema, rows) = (table.clone(), schema.clone(), rows.clone());
        async move {
            let part = &rows[c * TAKE_ROWS..((c + 1) * TAKE_ROWS).min(rows.len())];
            let cols: Vec<&str> = schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .filter(|n| !positions || *n != ROW_POSITION)
                .collect();
            let taken = match cols.is_empty() {
                true => None,
                false => Some(table.take(part, Some(&cols)).await.map_err(storage_err)?),
            };
            let columns = schema
                .fields()
                .iter()
                .map(|f| match (&taken, positions && f.name() == ROW_POSITION) {
                    (_, true) => Ok(Arc::new(UInt64Array::from(part.to_vec())) as ArrayRef),
                    (Some(b), false) => b.column_by_name(f.name()).cloned().ok_or_else(|| {
                        DataFusionError::Internal(format!("column {} was not read", f.name()))
                    }),
                    (None, false) => Err(DataFusionError::Internal("nothing was read".into())),
                })
                .collect::<Result<Vec<_>>>()?;
            let opts = RecordBatchOptions::new().with_row_count(Some(part.len()));
            Ok(RecordBatch::try_new_with_options(schema, columns, &opts)?)
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(out, stream))
}

/// The one partition of a restricted scan.
struct Restricted {
    table: Table,
    schema: SchemaRef,
    positions: bool,
    rows: Arc<Vec<u64>>,
}

impl fmt::Debug for Restricted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Restricted({}, {} rows)",
            self.table.name(),
            self.rows.len()
        )
    }
}

impl PartitionStream for Restricted {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        restricted_scan(
            self.table.clone(),
            self.schema.clone(),
            self.positions,
            self.rows.clone(),
        )
    }
}

/// A slice of one fragment's live rows.
#[derive(Debug, Clone, Copy)]
struct Piece {
    fragment: usize,
    offset: usize,
    rows: usize,
}

/// Pieces still to read, shared by a scan's partitions: each partition
/// takes the next piece when it is ready for one, so the cores stay busy
/// whatever the fragment sizes.
type Queue = Arc<Mutex<std::collections::VecDeque<Piece>>>;

/// Fragments decoded by one partition and still needed by others, with
/// the count of their pieces not yet taken; an entry leaves with its last
/// piece.
type Decoded = Arc<Mutex<HashMap<usize, (RecordBatch, usize)>>>;

/// What every partition of one scan shares.
struct Scan {
    table: Table,
    /// The projected output.
    schema: SchemaRef,
    /// Whether the schema holds [`ROW_POSITION`].
    positions: bool,
    filter: Option<ScanFilter>,
    /// Fragments of the columns read first: the filter's, or without a
    /// filter every projected one.
    decoded: Decoded,
    /// Fragments of a filtered scan's other columns. Pieces that read them
    /// through `take` or skip them never claim their share, so an entry
    /// may stay until the scan ends.
    rest: Decoded,
}

/// One partition of a scan.
struct Partition {
    scan: Arc<Scan>,
    queue: Queue,
}

impl fmt::Debug for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Partition({})", self.scan.table.name())
    }
}

/// Takes the decoded fragment of `piece` if another piece decoded it.
fn take_decoded(decoded: &Decoded, piece: &Piece) -> Option<RecordBatch> {
    let mut map = decoded.lock().ok()?;
    let (batch, left) = map.get_mut(&piece.fragment)?;
    let batch = batch.clone();
    *left -= 1;
    if *left == 0 {
        map.remove(&piece.fragment);
    }
    Some(batch)
}

/// A filtered piece reads its other columns row by row when at most one
/// row in this many passes.
const TAKE_FRACTION: usize = 8;

/// The positions (from `first`) of the rows `mask` passes.
fn passing(mask: &BooleanArray, first: u64) -> impl Iterator<Item = u64> + '_ {
    mask.values().set_indices().map(move |i| first + i as u64)
}

/// The piece's rows of the projected columns that pass the scan's filter;
/// [`ROW_POSITION`], when projected, is computed from the fragment's first
/// live row.
async fn read_piece(scan: Arc<Scan>, piece: Piece) -> Result<RecordBatch> {
    let cols: Vec<&str> = scan
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !scan.positions || *n != ROW_POSITION)
        .collect();
    let start = || {
        scan.table
            .fragment_start(piece.fragment)
            .map(|s| s + piece.offset as u64)
            .ok_or_else(|| {
                DataFusionError::Internal(format!("fragment {} has no start", piece.fragment))
            })
    };
    // The columns read, and (with a filter) which of the piece's rows they
    // hold.
    let (parts, mask): (Vec<RecordBatch>, Option<BooleanArray>) = match &scan.filter {
        None if cols.is_empty() => (vec![], None),
        None => {
            let batch = read_columns(&scan.table, &cols, &scan.decoded, piece).await?;
            (vec![batch], None)
        }
        Some(filter) => {
            let tested = read_columns(&scan.table, &filter.columns(), &scan.decoded, piece).await?;
            let mask = filter.evaluate(&tested)?;
            let count = mask.true_count();
            if count == 0 {
                return Ok(RecordBatch::new_empty(scan.schema.clone()));
            }
            let mut parts = vec![];
            // Of the filter's columns, only those shown are kept.
            let schema = tested.schema();
            let shown: Vec<usize> = (0..tested.num_columns())
                .filter(|i| cols.contains(&schema.field(*i).name().as_str()))
                .collect();
            if !shown.is_empty() {
                parts.push(filter_record_batch(&tested.project(&shown)?, &mask)?);
            }
            let rest: Vec<&str> = cols.iter().copied().filter(|c| !filter.reads(c)).collect();
            if !rest.is_empty() {
                parts.push(if count * TAKE_FRACTION <= mask.len() {
                    let rows: Vec<u64> = passing(&mask, start()?).collect();
                    let taken = scan.table.take(&rows, Some(&rest)).await;
                    taken.map_err(storage_err)?
                } else {
                    let all = read_columns(&scan.table, &rest, &scan.rest, piece).await?;
                    filter_record_batch(&all, &mask)?
                });
            }
            (parts, Some(mask))
        }
    };
    let rows = match (&mask, parts.first()) {
        (Some(m), _) => m.true_count(),
        (None, Some(b)) => b.num_rows(),
        (None, None) => piece.rows,
    };
    let ids: Option<ArrayRef> = match scan.positions {
        false => None,
        true => {
            let first = start()?;
            Some(Arc::new(match &mask {
                Some(m) => UInt64Array::from_iter_values(passing(m, first)),
                None => UInt64Array::from_iter_values(first..first + rows as u64),
            }))
        }
    };
    let columns = scan
        .schema
        .fields()
        .iter()
        .map(|f| match &ids {
            Some(ids) if f.name() == ROW_POSITION => Ok(ids.clone()),
            _ => parts
                .iter()
                .find_map(|b| b.column_by_name(f.name()).cloned())
                .ok_or_else(|| {
                    DataFusionError::Internal(format!("column {} was not read", f.name()))
                }),
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        scan.schema.clone(),
        columns,
        &opts,
    )?)
}

/// The piece's rows of columns `cols`, decoding its fragment unless another
/// piece of the same fragment already did.
async fn read_columns(
    table: &Table,
    cols: &[&str],
    decoded: &Decoded,
    piece: Piece,
) -> Result<RecordBatch> {
    let batch = match take_decoded(decoded, &piece) {
        Some(b) => b,
        None => {
            let b = table
                .read_fragment(piece.fragment, Some(cols))
                .await
                .map_err(storage_err)?;
            let pieces = b.num_rows().div_ceil(piece.rows.max(1));
            if pieces > 1 {
                if let Ok(mut map) = decoded.lock() {
                    map.entry(piece.fragment).or_insert((b.clone(), pieces - 1));
                }
            }
            b
        }
    };
    let len = piece
        .rows
        .min(batch.num_rows().saturating_sub(piece.offset));
    Ok(batch.slice(piece.offset, len))
}

impl PartitionStream for Partition {
    fn schema(&self) -> &SchemaRef {
        &self.scan.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let scan = self.scan.clone();
        let queue = self.queue.clone();
        let next = move || queue.lock().ok().and_then(|mut q| q.pop_front());
        let stream = futures::stream::iter(std::iter::from_fn(next))
            .map(move |piece| read_piece(scan.clone(), piece))
            .buffered(READ_AHEAD)
            .try_filter(|b| futures::future::ready(b.num_rows() > 0));
        Box::pin(RecordBatchStreamAdapter::new(
            self.scan.schema.clone(),
            stream,
        ))
    }
}

#[async_trait]
impl TableProvider for StorageTable {
    fn schema(&self) -> SchemaRef {
        let schema = self.table.schema();
        if !self.positions {
            return schema;
        }
        let mut fields = schema.fields().to_vec();
        fields.push(Arc::new(Field::new(ROW_POSITION, DataType::UInt64, false)));
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Conditions on stored columns run inside the scan, exactly (see
    /// `scan_filter`), so only the rows that pass are read whole.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let schema = self.table.schema();
        Ok(filters
            .iter()
            .map(|f| match self.rows.is_none() && pushable(f, &schema) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let projected = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema.clone(),
        };
        if let Some(rows) = &self.rows {
            let part = Restricted {
                table: self.table.clone(),
                schema: projected.clone(),
                positions: self.positions,
                rows: rows.clone(),
            };
            return Ok(Arc::new(StreamingTableExec::try_new(
                projected,
                vec![Arc::new(part)],
                None,
                None,
                false,
                limit,
            )?));
        }
        let filter = ScanFilter::new(state, filters, &self.table.schema())?;
        let frags = &self.table.manifest().fragments;
        let mut ids: Vec<usize> = (0..frags.len())
            .filter(|i| frags[*i].live_rows() > 0)
            .collect();
        if let (Some(limit), None) = (limit, &filter) {
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
        let parallel = limit.is_none() && self.table.len() >= PARALLEL_MIN_ROWS;
        let parts = if parallel {
            state.config().target_partitions().max(1)
        } else {
            1
        };
        let piece_rows = if parallel { PIECE_ROWS } else { usize::MAX };
        let mut pieces = std::collections::VecDeque::new();
        for i in ids {
            let rows = frags[i].live_rows() as usize;
            let mut offset = 0;
            while offset < rows {
                let n = piece_rows.min(rows - offset);
                pieces.push_back(Piece {
                    fragment: i,
                    offset,
                    rows: n,
                });
                offset += n;
            }
        }
        let queue: Queue = Arc::new(Mutex::new(pieces));
        let scan = Arc::new(Scan {
            table: self.table.clone(),
            schema: projected.clone(),
            positions: self.positions,
            filter,
            decoded: Arc::default(),
            rest: Arc::default(),
        });
        let partitions: Vec<Arc<dyn PartitionStream>> = (0..parts)
            .map(|_| {
                Arc::new(Partition {
                    scan: scan.clone(),
                    queue: queue.clone(),
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
        let mut table = self.table.clone();
        let deleted = table
            .delete_where(|batch| -> std::result::Result<BooleanArray, SqlError> {
                let mut keep: Option<BooleanArray> = None;
                for p in &predicates {
                    let r = p
                        .evaluate(batch)
                        .and_then(|v| v.into_array(batch.num_rows()))
                        .and_then(|a| match a.data_type() {
                            DataType::Boolean => Ok(a.as_boolean().clone()),
                            other => exec_err!("DELETE condition must be boolean, got {other}"),
                        })?;
                    keep = Some(match keep {
                        None => r,
                        Some(k) => datafusion::arrow::compute::and(&k, &r)
                            .map_err(DataFusionError::from)?,
                    });
                }
                // NULL conditions delete nothing, as in SQL.
                let all = keep.unwrap_or_else(|| BooleanArray::from(vec![true; batch.num_rows()]));
                Ok(all.iter().map(|v| Some(v == Some(true))).collect())
            })
            .await
            .map_err(SqlError::into_datafusion)?;
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

/// Where an INSERT's rows go (see `write_all`).
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

    /// Streams the statement's rows through the table's writer: memory
    /// holds one commit interval whatever the insert's size, and the
    /// statement is one commit (checked by the index upkeep, so a repeated
    /// `unique` value fails it whole), followed by the index catch-up.
    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let schema = self.table.schema();
        let mut writer = TableWriter::new(
            self.table.clone(),
            schema.clone(),
            WriteOptions::default(),
            WriteKind::AppendOnce,
            -1,
            None,
        )
        .map_err(storage_err)?;
        while let Some(b) = data.next().await {
            let b = b?;
            if b.num_rows() == 0 {
                continue;
            }
            let cols = schema
                .fields()
                .iter()
                .zip(b.columns())
                .map(|(f, c)| to_stored(c, f))
                .collect::<Result<Vec<_>>>()?;
            let batch = RecordBatch::try_new(schema.clone(), cols)?;
            writer.push(&batch).await.map_err(storage_err)?;
        }
        writer.finish().await.map_err(storage_err)
    }
}
