//! The buffered table writer, every write's way from rows to a commit:
//! ingest (embedded and uploaded), SQL `INSERT` and the Python API all
//! end here.
//!
//! Contract:
//! - Rows arrive in batches of any size. Every `flush_every` rows the
//!   buffer takes them in and progress is reported; every `commit_every`
//!   rows the buffer becomes a data file, so memory stays bounded by one
//!   commit interval whatever the write's size.
//! - [`WriteKind::Append`] commits each data file as it is written, so a
//!   crash loses at most one commit interval. [`WriteKind::AppendOnce`]
//!   (one SQL statement) and [`WriteKind::Overwrite`] write their files as
//!   they go but commit once, at the end, so readers see all of the write
//!   or none of it.
//! - Every commit passes the index upkeep's check ([`crate::upkeep`]);
//!   after the last one, the table's indexes are caught up (best effort;
//!   a statement's few rows are left to exact search, see
//!   [`STATEMENT_CATCH_UP_ROWS`]).
//! - A writer dropped before `finish` commits nothing more: the files it
//!   wrote stay unreferenced.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::error::{Result, StorageError};
use crate::manifest::Fragment;
use crate::{trimmed, upkeep, Table};

/// Cadence of buffered writes; defaults from the spec's "Performance Tuning".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    pub flush_every: usize,
    pub commit_every: usize,
    /// After an ingest that committed several fragments as files of their
    /// own (on object storage, where files cannot grow), rewrite those
    /// fragments into ones of about this many bytes (0: leave them): a
    /// large ingest otherwise leaves one small file per 2000 rows, and cold
    /// scans pay per file. On local disk commits are appended to shared
    /// files and need no rewrite.
    pub compact_to_bytes: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            flush_every: 200,
            commit_every: 2000,
            compact_to_bytes: 64 << 20,
        }
    }
}

impl WriteOptions {
    /// Zero sizes are refused: a zero flush size would never advance.
    pub fn validate(&self) -> Result<()> {
        if self.flush_every == 0 || self.commit_every == 0 {
            return Err(StorageError::BadInput(
                "flush_every and commit_every must be positive.".into(),
            ));
        }
        Ok(())
    }
}

/// How a writer's files become versions (see the module's note).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A commit every `commit_every` rows.
    Append,
    /// One append commit at the end.
    AppendOnce,
    /// One commit at the end whose rows replace the table's.
    Overwrite,
}

/// Rows a statement's write ([`WriteKind::AppendOnce`]) must leave
/// uncovered before its catch-up builds a segment: a segment per one-row
/// INSERT would cost an index file and a commit per statement, and merges
/// soon after, while a few hundred rows are scanned exactly in well under
/// a millisecond. An ingest always catches up.
pub const STATEMENT_CATCH_UP_ROWS: u64 = 256;

/// A caller's error, stopping a write from its progress callback.
pub type Stop = Box<dyn std::error::Error + Send + Sync>;

/// Progress callback: `(rows_written, total)`, total `-1` when unknown. An
/// error it returns stops the write (a Python callback that raised, say)
/// and comes back as [`StorageError::Stopped`].
pub type Progress<'a> = Box<dyn FnMut(u64, i64) -> Result<(), Stop> + Send + 'a>;

/// Asked before each slice: true stops the write before its next commit.
pub type Cancelled = Arc<dyn Fn() -> bool + Send + Sync>;

/// The flush/commit cadence every writer keeps: rows are taken in
/// `flush_every` slices with progress after each, and a commit falls due
/// every `commit_every` buffered rows. A remote writer keeps it too.
pub struct Cadence<'p> {
    pub opts: WriteOptions,
    buffer: Vec<RecordBatch>,
    /// Where the last buffered slice starts in the batch being taken in:
    /// the next slice of that batch extends it, so a commit of one input
    /// batch is one slice of it, written without a copy.
    tail_start: Option<usize>,
    buffered: usize,
    pub rows_written: u64,
    pub total: i64,
    progress: Option<Progress<'p>>,
    /// Checked before each slice: a cancelled write stops before its next
    /// commit, never inside one.
    pub cancel: Option<Cancelled>,
}

impl<'p> Cadence<'p> {
    pub fn new(opts: WriteOptions, total: i64, progress: Option<Progress<'p>>) -> Result<Self> {
        opts.validate()?;
        Ok(Cadence {
            opts,
            buffer: vec![],
            tail_start: None,
            buffered: 0,
            rows_written: 0,
            total,
            progress,
            cancel: None,
        })
    }

    /// Buffers the next slice of `batch` from `*at`: `None` when the batch
    /// is used up, else whether a commit is due now.
    pub fn next_slice(&mut self, batch: &RecordBatch, at: &mut usize) -> Result<Option<bool>> {
        if *at >= batch.num_rows() {
            return Ok(None);
        }
        if self.cancel.as_ref().is_some_and(|c| c()) {
            return Err(StorageError::Cancelled);
        }
        let n = self.opts.flush_every.min(batch.num_rows() - *at);
        match (self.tail_start, self.buffer.last_mut()) {
            (Some(start), Some(last)) if *at > 0 => *last = batch.slice(start, *at + n - start),
            _ => {
                self.buffer.push(batch.slice(*at, n));
                self.tail_start = Some(*at);
            }
        }
        self.buffered += n;
        self.rows_written += n as u64;
        *at += n;
        if let Some(p) = self.progress.as_mut() {
            p(self.rows_written, self.total).map_err(StorageError::Stopped)?;
        }
        Ok(Some(self.buffered >= self.opts.commit_every))
    }

    /// The buffered slices, leaving the buffer empty.
    pub fn take(&mut self) -> Vec<RecordBatch> {
        self.buffered = 0;
        self.tail_start = None;
        std::mem::take(&mut self.buffer)
    }
}

pub struct TableWriter<'p> {
    table: Table,
    /// Schema of the rows written (an overwrite may change the table's).
    schema: SchemaRef,
    kind: WriteKind,
    pub cadence: Cadence<'p>,
    written: Vec<Fragment>,
    /// Fragments this writer committed as files of their own, and the
    /// in-memory size of everything it wrote.
    committed: Vec<String>,
    bytes_written: usize,
}

impl<'p> TableWriter<'p> {
    pub fn new(
        table: Table,
        schema: SchemaRef,
        opts: WriteOptions,
        kind: WriteKind,
        total: i64,
        progress: Option<Progress<'p>>,
    ) -> Result<Self> {
        Ok(TableWriter {
            table,
            schema,
            kind,
            cadence: Cadence::new(opts, total, progress)?,
            written: vec![],
            committed: vec![],
            bytes_written: 0,
        })
    }

    /// Updates the total reported to progress, as estimates become exact.
    pub fn set_total(&mut self, total: i64) {
        self.cadence.total = total;
    }

    /// Takes rows in, flushing and committing on the way.
    pub async fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut at = 0;
        while let Some(due) = self.cadence.next_slice(batch, &mut at)? {
            if due {
                self.write_buffer().await?;
                if self.kind == WriteKind::Append {
                    self.commit().await?;
                }
            }
        }
        Ok(())
    }

    async fn write_buffer(&mut self) -> Result<()> {
        let buffer = self.cadence.take();
        if buffer.is_empty() {
            return Ok(());
        }
        // Concatenating several slices yields fresh, exactly-sized buffers;
        // a lone slice still points into its caller's buffers and is
        // trimmed to its rows, or the whole parent would be written.
        let batch = match buffer.as_slice() {
            [one] => trimmed(one)?,
            many => arrow_select::concat::concat_batches(&self.schema, many)?,
        };
        self.bytes_written += own_bytes(&batch);
        self.written.push(self.table.write_fragment(&batch).await?);
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        let fragments = std::mem::take(&mut self.written);
        self.committed.extend(
            fragments
                .iter()
                .filter(|f| f.span.is_none())
                .map(|f| f.id.clone()),
        );
        match self.kind {
            WriteKind::Overwrite => {
                self.table
                    .commit_overwrite(self.schema.clone(), fragments)
                    .await
            }
            _ if fragments.is_empty() => Ok(()),
            _ => self.table.commit_append(fragments).await,
        }
    }

    /// Writes and commits whatever is left, merges the writer's own files
    /// when compaction is on and catches the indexes up; returns the rows
    /// written.
    pub async fn finish(mut self) -> Result<u64> {
        self.write_buffer().await?;
        self.commit().await?;
        let (opts, rows) = (self.cadence.opts, self.cadence.rows_written);
        let mine: std::collections::HashSet<String> = self.committed.drain(..).collect();
        if opts.compact_to_bytes > 0 && mine.len() > 1 {
            let target = compaction_rows(&opts, self.bytes_written, rows);
            // The rows are committed either way; a failed compaction only
            // leaves the smaller files, so it must not fail the ingest.
            let compacted = self
                .table
                .compact_where(target, |f| mine.contains(&f.id))
                .await;
            if let Err(e) = compacted {
                tracing::warn!(
                    table = self.table.name(),
                    version = self.table.version(),
                    error = %e,
                    "compacting an ingest's fragments failed: they stay as written"
                );
            }
        }
        let min_rows = match self.kind {
            WriteKind::AppendOnce => STATEMENT_CATCH_UP_ROWS,
            _ => 1,
        };
        upkeep::catch_up(&mut self.table, min_rows).await;
        Ok(rows)
    }
}

/// Rows per merged fragment, for rows of `bytes / rows` bytes each.
fn compaction_rows(opts: &WriteOptions, bytes: usize, rows: u64) -> usize {
    let per_row = (bytes / rows.max(1) as usize).max(1);
    (opts.compact_to_bytes / per_row).max(opts.commit_every)
}

/// The in-memory size of a batch's own rows: a trimmed batch shares its
/// caller's larger allocations, which its memory size would count whole.
fn own_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
        .sum()
}
