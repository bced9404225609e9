//! The file pipeline: a plan made before anything is written (every file
//! exists, every tool needed is installed, every file's row count is
//! known or estimated), then normalization on a pool of workers whose
//! output reaches the caller in file order, with bounded memory.
//!
//! Work is split into tasks: one per file, except that a PDF's pages are
//! split into runs so one long document keeps every worker busy. Each task
//! streams its rows through its own one-slot channel, and at most `workers`
//! tasks run ahead of the one being consumed, so memory holds a few batches
//! per worker however large the inputs are.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::cancel::Cancel;
use crate::chunk::Chunking;
use crate::error::{IngestError, Result};
use crate::kind::FileKind;
use crate::rows::{schema_for, to_batch, Emit, Row};
use crate::tools::{Tools, CANCEL_POLL, FFMPEG, FFPROBE, MUTOOL};
use crate::video::VideoInfo;
use crate::{pdf, single, video};

/// Settings of file ingestion.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// Normalization workers (the reference uses 4).
    pub workers: usize,
    pub chunking: Chunking,
    /// Resolution of rendered PDF pages (the spec's 300).
    pub pdf_dpi: u32,
    /// Pages per PDF task.
    pub pages_per_task: usize,
    pub tools: Tools,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            workers: 4,
            chunking: Chunking::default(),
            pdf_dpi: 300,
            pages_per_task: 8,
            tools: Tools::default(),
        }
    }
}

/// One file to ingest and the input row it came from.
#[derive(Debug, Clone)]
pub struct FileInput {
    pub source: usize,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
enum Work {
    Video(VideoInfo),
    Image,
    Pages(Range<usize>),
    Text,
    Other,
}

#[derive(Debug)]
struct Task {
    source: usize,
    path: Arc<PathBuf>,
    file_id: Arc<str>,
    work: Work,
}

/// Rows of one file, with the input row they came from and the current
/// estimate of the total row count.
#[derive(Debug)]
pub struct FileBatch {
    pub batch: RecordBatch,
    pub source: usize,
    pub total: u64,
}

/// Everything checked and counted; nothing written yet.
#[derive(Debug)]
pub struct FilePlan {
    tasks: Vec<Task>,
    schema: SchemaRef,
    expected: u64,
    opts: FileOptions,
}

/// Runs `f` over `items` on up to `workers` threads, keeping order.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = catch_unwind(AssertUnwindSafe(|| f(item))).unwrap_or_else(|_| {
                    Err(IngestError::Internal("a worker failed unexpectedly".into()))
                });
                if let Ok(mut slots) = results.lock() {
                    slots[i] = Some(r);
                }
            });
        }
    });
    let slots = results
        .into_inner()
        .map_err(|_| IngestError::Internal("a worker failed unexpectedly".into()))?;
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(IngestError::Internal("a file was not planned".into()))))
        .collect()
}

/// Checks every file and tool, and sizes the work, before anything is written.
pub fn plan(inputs: Vec<FileInput>, opts: FileOptions) -> Result<FilePlan> {
    if opts.workers == 0 {
        return Err(IngestError::Invalid("workers must be at least 1.".into()));
    }
    if opts.pdf_dpi == 0 || opts.pdf_dpi > 2400 {
        return Err(IngestError::Invalid(format!(
            "pdf_dpi must be between 1 and 2400, got {}.",
            opts.pdf_dpi
        )));
    }
    if inputs.is_empty() {
        return Err(IngestError::Invalid(
            "FILE columns contain no file paths.".into(),
        ));
    }
    for input in &inputs {
        if !input.path.is_file() {
            return Err(IngestError::NotFound(input.path.clone()));
        }
    }
    let kinds: Vec<FileKind> = inputs.iter().map(|i| FileKind::of(&i.path)).collect();
    if kinds.contains(&FileKind::Video) {
        opts.tools.find(FFPROBE)?;
        opts.tools.find(FFMPEG)?;
    }
    if kinds.contains(&FileKind::Pdf) {
        opts.tools.find(MUTOOL)?;
    }
    let pairs: Vec<(FileInput, FileKind)> = inputs.into_iter().zip(kinds.iter().copied()).collect();
    // Probing runs a program per video or PDF: in parallel.
    let sized = parallel_map(&pairs, opts.workers, |(input, kind)| {
        let path = &input.path;
        Ok(match kind {
            FileKind::Video => {
                let info = video::probe(&opts.tools, path)?;
                (info.expected_rows(), Work::Video(info))
            }
            FileKind::Pdf => {
                let n = pdf::page_count(&opts.tools, path)?;
                (n as u64, Work::Pages(0..n))
            }
            FileKind::Text => (
                single::text_chunks(path, &opts.chunking)?.len() as u64,
                Work::Text,
            ),
            FileKind::Image => (1, Work::Image),
            FileKind::Other => (1, Work::Other),
        })
    })?;
    let mut tasks = vec![];
    let mut expected = 0;
    for ((input, _), (rows, work)) in pairs.into_iter().zip(sized) {
        expected += rows;
        let path = Arc::new(input.path);
        let file_id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let task = |work| Task {
            source: input.source,
            path: path.clone(),
            file_id: file_id.clone(),
            work,
        };
        match work {
            Work::Pages(all) => {
                let step = opts.pages_per_task.max(1);
                tasks.extend(
                    (all.start..all.end)
                        .step_by(step)
                        .map(|a| task(Work::Pages(a..(a + step).min(all.end)))),
                );
            }
            work => tasks.push(task(work)),
        }
    }
    let mut kinds = kinds;
    kinds.sort();
    kinds.dedup();
    Ok(FilePlan {
        tasks,
        schema: schema_for(&kinds)?,
        expected,
        opts,
    })
}

impl FilePlan {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows the plan expects; exact but for videos whose keyframes make
    /// fewer segments than `ceil(duration / 10)`.
    pub fn expected_rows(&self) -> u64 {
        self.expected
    }

    /// Normalizes every file and hands batches to `sink` in file order on
    /// the calling thread. The first error (a file's or the sink's) stops
    /// the run.
    pub fn run<E: From<IngestError>>(
        self,
        mut sink: impl FnMut(FileBatch) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let FilePlan {
            tasks,
            schema,
            expected,
            opts,
        } = self;
        let total = AtomicI64::new(expected as i64);
        let next = Mutex::new(0usize);
        let stop = AtomicBool::new(false);
        let workers = opts.workers.min(tasks.len()).max(1);
        std::thread::scope(|s| {
            let (order_tx, order_rx) = sync_channel::<Receiver<Result<FileBatch>>>(workers);
            for _ in 0..workers {
                let order_tx = order_tx.clone();
                let (tasks, schema, opts, total, next, stop) =
                    (&tasks, &schema, &opts, &total, &next, &stop);
                s.spawn(move || worker(tasks, schema, opts, total, next, stop, order_tx));
            }
            drop(order_tx);
            let cancel = opts.tools.cancel();
            let result = (|| {
                while let Some(rx) = receive(&order_rx, cancel)? {
                    while let Some(item) = receive(&rx, cancel)? {
                        sink(item?)?;
                    }
                }
                Ok(())
            })();
            if result.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            result
        })
    }
}

/// The next value from `rx` (`None` once its senders are gone), waited for
/// while the ingest is not cancelled: a worker may take seconds (a long
/// video) before its first rows.
fn receive<T>(rx: &Receiver<T>, cancel: &Cancel) -> Result<Option<T>> {
    loop {
        match rx.recv_timeout(CANCEL_POLL) {
            Ok(v) => return Ok(Some(v)),
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
            Err(RecvTimeoutError::Timeout) if cancel.is_cancelled() => {
                return Err(IngestError::Cancelled)
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

fn worker(
    tasks: &[Task],
    schema: &SchemaRef,
    opts: &FileOptions,
    total: &AtomicI64,
    next: &Mutex<usize>,
    stop: &AtomicBool,
    order: SyncSender<Receiver<Result<FileBatch>>>,
) {
    loop {
        let (task, tx) = {
            let Ok(mut at) = next.lock() else { return };
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let Some(task) = tasks.get(*at) else { return };
            *at += 1;
            let (tx, rx) = sync_channel(1);
            // Blocks while `workers` tasks are already waiting to be
            // consumed: the bound on work in flight.
            if order.send(rx).is_err() {
                return;
            }
            (task, tx)
        };
        let emit_tx = tx.clone();
        let mut emit = |rows: Vec<Row>| -> Result<()> {
            let batch = to_batch(schema, rows)?;
            let item = FileBatch {
                batch,
                source: task.source,
                total: total.load(Ordering::Relaxed).max(0) as u64,
            };
            emit_tx
                .send(Ok(item))
                .map_err(|_| IngestError::Internal("ingest stopped".into()))
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| run_task(task, opts, total, &mut emit)))
            .unwrap_or_else(|_| {
                Err(IngestError::file(
                    task.path.as_path(),
                    "normalization failed unexpectedly",
                ))
            });
        if let Err(e) = outcome {
            // The consumer may already be gone; then there is nobody to tell.
            let _ = tx.send(Err(e));
            return;
        }
    }
}

fn run_task(task: &Task, opts: &FileOptions, total: &AtomicI64, emit: Emit<'_>) -> Result<()> {
    let path = task.path.as_path();
    let id = &*task.file_id;
    match &task.work {
        Work::Video(info) => {
            let mut rows = 0u64;
            let mut counted = |batch: Vec<Row>| {
                rows += batch.len() as u64;
                emit(batch)
            };
            video::normalize(&opts.tools, path, info, id, &mut counted)?;
            // Keyframes may have made fewer segments than estimated.
            total.fetch_add(rows as i64 - info.expected_rows() as i64, Ordering::Relaxed);
            Ok(())
        }
        Work::Pages(pages) => {
            pdf::normalize(&opts.tools, path, pages.clone(), opts.pdf_dpi, id, emit)
        }
        Work::Text => single::text(path, &opts.chunking, id, emit).map(|_| ()),
        Work::Image => emit(single::image(path, id)?),
        Work::Other => emit(single::other(path, id)?),
    }
}
