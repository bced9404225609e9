//! Where an ingest's rows go: the local [`TableWriter`], or a server.
//!
//! Both keep the spec's cadence as the caller sees it: progress after every
//! `flush_every` rows, a commit every `commit_every` rows. Remotely, the
//! whole ingest is one streamed request and the server keeps the cadence
//! (an overwrite commits once, at the end, so readers never see it half
//! done); an ingest stopped on this side breaks the stream off, and the
//! server commits nothing more of it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use deeplake_types::{Column, SpecType};

use deeplake_ingest::Cancel;
use deeplake_storage::{Cadence, TableWriter, WriteOptions};

use crate::error::{ClientError, Result};
use crate::ingest::{batch_columns, prepare, Against, Mode};
use crate::remote::{Remote, Upload};
use crate::runtime::{block, Io};
use crate::workspace::TableInfo;

/// Progress callback: `(rows_written, total)`, total `-1` when unknown. An
/// error it returns stops the ingest (a Python callback that raised, say)
/// and is the ingest's error.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, i64) -> Result<()> + Send);

/// The callback as storage's writer calls it; its error comes back whole
/// (see `From<StorageError> for ClientError`).
pub(crate) fn writer_progress(p: Option<Progress<'_>>) -> Option<deeplake_storage::Progress<'_>> {
    p.map(|p| -> deeplake_storage::Progress<'_> {
        Box::new(move |done, total| p(done, total).map_err(|e| e.into()))
    })
}

/// One ingest's way into a table, whatever its source (columns, files,
/// a format): the table opened for it (created at the first batch's
/// schema when missing), every batch typed to what the table takes, and
/// its end: the result, or the error with a table this call created
/// dropped again.
pub(crate) struct Ingesting<'p> {
    pub table: String,
    /// This call creates the table (and drops it on failure).
    pub created: bool,
    /// The schema rows must have: the table's own when appending, else
    /// the first batch's.
    pub write_schema: SchemaRef,
    /// The write appends to a table that existed before it.
    pub appending: bool,
    pub sink: Sink<'p>,
}

impl Ingesting<'_> {
    /// What batches are checked against, for the wording of a mismatch.
    fn against(&self) -> Against<'_> {
        Against::write(self.appending, &self.write_schema)
    }

    /// Pushes a typed batch, typed again to the write's schema when its
    /// own differs (an append, or a table another writer created first).
    pub fn push_batch(&mut self, rt: &Io, batch: RecordBatch) -> Result<()> {
        let batch = match batch.schema() == self.write_schema {
            true => batch,
            false => prepare(
                batch_columns(&batch),
                &HashMap::new(),
                self.against(),
                &self.table,
            )?,
        };
        block(rt, self.sink.push(&batch))
    }

    /// Types raw columns to the write's schema and pushes them.
    pub fn push_columns(
        &mut self,
        rt: &Io,
        columns: Vec<(String, Column)>,
        hints: &HashMap<String, SpecType>,
    ) -> Result<()> {
        let batch = prepare(columns, hints, self.against(), &self.table)?;
        block(rt, self.sink.push(&batch))
    }

    pub fn set_total(&mut self, total: i64) {
        self.sink.set_total(total);
    }
}

pub enum Sink<'p> {
    Local(TableWriter<'p>),
    Remote(RemoteWriter<'p>),
}

impl Sink<'_> {
    pub async fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Local(w) => Ok(w.push(batch).await?),
            Sink::Remote(w) => w.push(batch).await,
        }
    }

    /// Stops the ingest at its next slice once `cancel` is raised.
    pub fn set_cancel(&mut self, cancel: Cancel) {
        let asked: deeplake_storage::Cancelled = Arc::new(move || cancel.is_cancelled());
        match self {
            Sink::Local(w) => w.cadence.cancel = Some(asked),
            Sink::Remote(w) => w.cadence.cancel = Some(asked),
        }
    }

    pub fn set_total(&mut self, total: i64) {
        match self {
            Sink::Local(w) => w.set_total(total),
            Sink::Remote(w) => w.cadence.total = total,
        }
    }

    /// Ends the ingest after its rows were pushed (`pushed`): writes what
    /// is left and returns the rows written, or, when pushing failed, stops
    /// with nothing more written and returns the failure. Either way the
    /// table no longer changes for this ingest once this returns.
    pub async fn end(self, pushed: Result<()>) -> Result<u64> {
        match (self, pushed) {
            (Sink::Local(w), Ok(())) => Ok(w.finish().await?),
            (Sink::Remote(w), Ok(())) => w.finish().await,
            (Sink::Local(_), Err(e)) => Err(e),
            (Sink::Remote(w), Err(e)) => {
                w.upload.abort().await;
                Err(e)
            }
        }
    }
}

/// An ingest's rows on their way to a server, as one streamed request
/// that the server commits on the ingest's cadence as the rows arrive.
pub struct RemoteWriter<'p> {
    upload: Upload,
    cadence: Cadence<'p>,
}

impl<'p> RemoteWriter<'p> {
    pub fn new(
        remote: &Remote,
        table: &str,
        mode: Mode,
        opts: WriteOptions,
        total: i64,
        progress: Option<Progress<'p>>,
    ) -> Result<Self> {
        let cadence = Cadence::new(opts, total, writer_progress(progress))?;
        Ok(RemoteWriter {
            upload: remote.upload(table, mode, opts.commit_every),
            cadence,
        })
    }

    /// Sends a commit's rows at a time, so the server can write each while
    /// the next is encoded.
    async fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut at = 0;
        while let Some(due) = self.cadence.next_slice(batch, &mut at)? {
            if due {
                self.upload.send(&self.cadence.take()).await?;
            }
        }
        Ok(())
    }

    /// Sends what is left and waits for the server to commit it (and, on
    /// object storage, merge the upload's files, as a local ingest does).
    async fn finish(mut self) -> Result<u64> {
        self.upload.send(&self.cadence.take()).await?;
        self.upload.finish().await
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
