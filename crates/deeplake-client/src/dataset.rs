//! Direct, SQL-free access to a table for training: rows, column slices and
//! batch iteration, reading only the projected columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use deeplake_sql::{rows, Engine, QueryOutput, Row};
use deeplake_storage::Table;
use deeplake_types::{cell, SpecType, Value};

use crate::error::{ClientError, Result};
use crate::runtime::{block, Io};

/// An open table at one version (`refresh()` moves it to the newest).
/// Cloning is cheap: the clone shares caches and stays at this version.
#[derive(Clone)]
pub struct Dataset {
    table: Table,
    rt: Arc<Io>,
    sql: Arc<Engine>,
}

fn table_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::table(e.to_string())
}

impl Dataset {
    pub(crate) fn new(table: Table, rt: Arc<Io>, sql: Arc<Engine>) -> Dataset {
        Dataset { table, rt, sql }
    }

    pub fn name(&self) -> &str {
        self.table.name()
    }
    pub fn len(&self) -> u64 {
        self.table.len()
    }
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
    pub fn schema(&self) -> SchemaRef {
        self.table.schema()
    }
    pub fn version(&self) -> u64 {
        self.table.version()
    }
    /// The storage handle, for engines that read the table directly.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Spec types of the columns, in order.
    pub fn spec_types(&self) -> Result<Vec<(String, SpecType)>> {
        self.schema()
            .fields()
            .iter()
            .map(|f| {
                Ok((
                    f.name().clone(),
                    SpecType::of_field(f).map_err(table_error)?,
                ))
            })
            .collect()
    }

    /// Sees commits made since opening; returns whether the version changed.
    pub fn refresh(&mut self) -> Result<bool> {
        Ok(block(&self.rt, self.table.refresh())?)
    }

    /// Rewrites runs of small fragments (one per commit during ingest) and
    /// fragments with deleted rows into fragments of `target_rows` rows, as a
    /// new version; returns how many fragments were replaced. Scans of a
    /// compacted table read fewer, larger files. The new fragments are
    /// then indexed as after any write (best effort: rows no index covers
    /// are searched exactly until a later catch-up).
    pub fn compact(&mut self, target_rows: usize) -> Result<usize> {
        let table = &mut self.table;
        Ok(block(&self.rt, async move {
            let replaced = table.compact(target_rows).await?;
            if replaced > 0 {
                deeplake_storage::upkeep::catch_up(table, 1).await;
            }
            Ok::<_, deeplake_storage::StorageError>(replaced)
        })?)
    }

    /// Every committed version, oldest first.
    pub fn versions(&self) -> Result<Vec<u64>> {
        Ok(block(&self.rt, self.table.versions())?)
    }

    /// The same table as of another committed version.
    pub fn checkout(&self, version: u64) -> Result<Dataset> {
        let t = block(&self.rt, self.table.checkout(version))?;
        Ok(Dataset::new(t, self.rt.clone(), self.sql.clone()))
    }

    /// Runs a read-only SQL statement in which this table is read at this
    /// dataset's version (other tables at their newest), so a query agrees
    /// with `len`, `take` and `batches` until `refresh()`.
    pub fn query_arrow(&self, sql: &str, params: &[Value]) -> Result<QueryOutput> {
        let engine = self.sql.clone();
        let pinned = [self.table.clone()];
        Ok(block(&self.rt, async move {
            engine.execute_pinned(sql, params, &pinned).await
        })?)
    }

    /// The positions of the rows a whole-row selection (`SELECT * FROM
    /// <this table> WHERE ... ORDER BY ... LIMIT ...`) returns at this
    /// version, for [`Dataset::take`]; `None` when the statement computes
    /// more than a choice of rows.
    pub fn row_positions(&self, sql: &str, params: &[Value]) -> Result<Option<Vec<u64>>> {
        let engine = self.sql.clone();
        let table = self.table.clone();
        Ok(block(&self.rt, async move {
            engine.row_positions(sql, params, &table).await
        })?)
    }

    /// Like [`Dataset::query_arrow`], as rows.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        Ok(rows(&self.query_arrow(sql, params)?)?)
    }

    fn column_names(&self, columns: Option<&[&str]>) -> Result<()> {
        if let Some(cols) = columns {
            let schema = self.schema();
            for c in cols {
                if schema.field_with_name(c).is_err() {
                    return Err(ClientError::table(format!(
                        "Column '{c}' does not exist in table '{}'",
                        self.name()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Reads rows by index (any order), only the given columns.
    pub fn take(&self, rows: &[u64], columns: Option<&[&str]>) -> Result<RecordBatch> {
        self.column_names(columns)?;
        Ok(block(&self.rt, self.table.take(rows, columns))?)
    }

    /// Row `i` with every column as a loose value.
    pub fn get(&self, i: u64) -> Result<Row> {
        let batch = self.take(&[i], None)?;
        let types = self.spec_types()?;
        let columns: Vec<String> = types.iter().map(|(n, _)| n.clone()).collect();
        let values = types
            .into_iter()
            .zip(batch.columns())
            .map(|((_, ty), array)| cell(array.as_ref(), ty, 0).map_err(table_error))
            .collect::<Result<Vec<_>>>()?;
        Ok(Row::new(columns.into(), values))
    }

    /// Rows `start..end` of one column.
    pub fn column(&self, name: &str, start: u64, end: u64) -> Result<ArrayRef> {
        let end = end.min(self.len());
        let rows: Vec<u64> = (start.min(end)..end).collect();
        Ok(self.take(&rows, Some(&[name]))?.column(0).clone())
    }

    /// Streams the columns in storage-sized batches with read-ahead: the
    /// fastest way through a whole column.
    pub fn scan(&self, columns: Option<&[&str]>) -> Result<Scan> {
        self.column_names(columns)?;
        Ok(Scan {
            stream: self.table.scan(columns)?,
            rt: self.rt.clone(),
        })
    }

    /// Iterates in row order in batches of `size` rows; with `drop_last` a
    /// final short batch is left out.
    pub fn batches(
        &self,
        size: usize,
        drop_last: bool,
        columns: Option<&[&str]>,
    ) -> Result<Batches> {
        if size == 0 {
            return Err(ClientError::table("batch size must be positive"));
        }
        Ok(Batches {
            scan: self.scan(columns)?,
            size,
            drop_last,
            pending: vec![],
            pending_rows: 0,
        })
    }
}

/// Iterator over a table's storage batches.
pub struct Scan {
    stream: futures::stream::BoxStream<'static, deeplake_storage::Result<RecordBatch>>,
    rt: Arc<Io>,
}

impl Iterator for Scan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        use futures::StreamExt;
        block(&self.rt, self.stream.next()).map(|r| r.map_err(ClientError::from))
    }
}

/// Iterator over fixed-size batches of a table.
pub struct Batches {
    scan: Scan,
    size: usize,
    drop_last: bool,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

impl Batches {
    fn fill(&mut self) -> Result<()> {
        while self.pending_rows < self.size {
            match self.scan.next() {
                Some(b) => {
                    let b = b?;
                    if b.num_rows() > 0 {
                        self.pending_rows += b.num_rows();
                        self.pending.push(b);
                    }
                }
                None => break,
            }
        }
        Ok(())
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            return Some(Err(e));
        }
        if self.pending_rows == 0 || (self.drop_last && self.pending_rows < self.size) {
            return None;
        }
        if self.pending[0].num_rows() >= self.size || (self.pending.len() == 1 && !self.drop_last) {
            // The head batch alone fills the request: slice it, no copy.
            let head = &self.pending[0];
            let take = self.size.min(head.num_rows());
            let out = head.slice(0, take);
            let rest = head.slice(take, head.num_rows() - take);
            self.pending_rows -= take;
            if rest.num_rows() > 0 {
                self.pending[0] = rest;
            } else {
                self.pending.remove(0);
            }
            return Some(Ok(out));
        }
        let schema = self.pending[0].schema();
        let all = match arrow_select::concat::concat_batches(&schema, &self.pending) {
            Ok(b) => b,
            Err(e) => return Some(Err(table_error(e))),
        };
        let take = self.size.min(all.num_rows());
        let out = all.slice(0, take);
        let rest = all.slice(take, all.num_rows() - take);
        self.pending_rows = rest.num_rows();
        self.pending = if self.pending_rows > 0 {
            vec![rest]
        } else {
            vec![]
        };
        Some(Ok(out))
    }
}
