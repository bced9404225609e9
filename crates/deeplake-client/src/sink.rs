//! Where an ingest's rows go: the local [`TableWriter`], or a server.
//!
//! Both keep the spec's cadence as the caller sees it: progress after every
//! `flush_every` rows, a commit every `commit_every` rows. Remotely, each
//! commit's rows are one request (the server commits them on arrival); an
//! overwrite is sent whole at the end, so readers never see it half done.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};

use crate::error::{ClientError, Result};
use crate::ingest::Mode;
use crate::remote::Remote;
use crate::workspace::TableInfo;
use crate::writer::{compaction_rows, own_bytes, Cadence, Progress, TableWriter, WriteOptions};

pub enum Sink<'p> {
    Local(TableWriter<'p>),
    Remote(RemoteWriter<'p>),
}

impl Sink<'_> {
    pub async fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Local(w) => w.push(batch).await,
            Sink::Remote(w) => w.push(batch).await,
        }
    }

    pub fn set_total(&mut self, total: i64) {
        match self {
            Sink::Local(w) => w.set_total(total),
            Sink::Remote(w) => w.cadence.total = total,
        }
    }

    /// Writes what is left; returns the rows written.
    pub async fn finish(self) -> Result<u64> {
        match self {
            Sink::Local(w) => Ok(w.finish().await?.rows),
            Sink::Remote(w) => w.finish().await,
        }
    }
}

/// An ingest's rows on their way to a server, a commit's worth a request.
pub struct RemoteWriter<'p> {
    remote: Arc<Remote>,
    table: String,
    /// The mode of the next request: the ingest's own first, then append.
    mode: Mode,
    overwrite: bool,
    cadence: Cadence<'p>,
    /// Bytes sent so far, and the server's unmerged files they became.
    bytes: usize,
    loose: Vec<String>,
}

impl<'p> RemoteWriter<'p> {
    pub fn new(
        remote: Arc<Remote>,
        table: &str,
        mode: Mode,
        opts: WriteOptions,
        total: i64,
        progress: Option<Progress<'p>>,
    ) -> Result<Self> {
        Ok(RemoteWriter {
            remote,
            table: table.to_string(),
            mode,
            overwrite: mode == Mode::Overwrite,
            cadence: Cadence::new(opts, total, progress)?,
            bytes: 0,
            loose: vec![],
        })
    }

    async fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut at = 0;
        while let Some(due) = self.cadence.next_slice(batch, &mut at)? {
            if due && !self.overwrite {
                self.send().await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<()> {
        let batches = self.cadence.take();
        if batches.is_empty() {
            return Ok(());
        }
        self.bytes += batches.iter().map(own_bytes).sum::<usize>();
        let written = self.remote.write(&self.table, self.mode, &batches).await?;
        self.loose.extend(written.loose);
        self.mode = Mode::Append;
        Ok(())
    }

    /// Sends what is left; then, when the server stored the commits as
    /// files of their own (object storage), has it merge them, as a local
    /// ingest does. The rows are committed either way, so a failed merge
    /// does not fail the ingest.
    async fn finish(mut self) -> Result<u64> {
        self.send().await?;
        let (opts, rows) = (self.cadence.opts, self.cadence.rows_written);
        if opts.compact_to_bytes > 0 && self.loose.len() > 1 {
            let target = compaction_rows(&opts, self.bytes, rows);
            let _ = self.remote.compact(&self.table, &self.loose, target).await;
        }
        Ok(rows)
    }
}

/// A table's schema as a server describes it, to type appended rows to.
pub fn schema_of(info: &TableInfo) -> Result<SchemaRef> {
    let fields = info
        .columns
        .iter()
        .map(|c| {
            let ty: deeplake_types::SpecType = c.spec_type.parse().map_err(|e| {
                ClientError::table(format!(
                    "The server describes column '{}' with an unknown type: {e}",
                    c.name
                ))
            })?;
            Ok(ty.field(&c.name)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}
