//! The `Client`: an embedded workspace over a storage root, or a workspace
//! on a server (an `http(s)://` api_url), with one API for both.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use deeplake_sql::Engine;
use deeplake_storage::{Location, Table};

use crate::dataset::Dataset;
use crate::error::{ClientError, ErrorKind, Result};
use crate::ingest::{batch_columns, parse_schema, prepare, Against, Mode};
use crate::remote::Remote;
use crate::runtime::{block, Io};
use crate::sink::Progress;
use crate::sink::{schema_of, RemoteWriter, Sink};
use crate::token::org_of;
use crate::workspace::{check_table_name, ingest_failure, TableInfo, Workspace};
use deeplake_ingest::{Cancel, FileOptions};
use deeplake_storage::WriteOptions;
use deeplake_types::{Column, SpecType};

/// Org used when no token is given in embedded mode.
pub const LOCAL_ORG: &str = "local";
pub const DEFAULT_WORKSPACE: &str = "default";

/// Options of `Client::ingest` beyond the data itself.
#[derive(Default)]
pub struct IngestOptions<'a> {
    /// `(column, type name)` overrides of inference, e.g. `("v", "EMBEDDING(384)")`.
    pub schema: Vec<(String, String)>,
    pub mode: Mode,
    pub write: WriteOptions,
    pub on_progress: Option<Progress<'a>>,
    /// Settings of FILE columns: chunking, PDF resolution, workers, tools.
    pub files: FileOptions,
    /// Raised from another thread, stops the ingest before its next commit
    /// (and kills a program running for a file); the call then fails with
    /// kind `Cancelled`, a table it created dropped as on any failure.
    pub cancel: Cancel,
    /// Indexes to create once the rows are in (their types checked before
    /// anything is written), as `create_index` creates them.
    pub index: Vec<IndexSpec>,
}

/// One index an ingest creates: on `column`, of `index_type` (else the
/// column type's default), with the vectors' `dimension` where needed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSpec {
    pub column: String,
    pub index_type: Option<String>,
    pub dimension: Option<usize>,
}

impl IndexSpec {
    /// The column type's default index on `column`.
    pub fn on(column: &str) -> IndexSpec {
        IndexSpec {
            column: column.to_string(),
            ..Default::default()
        }
    }
}

/// What `ingest` returns (the spec's `{table_name, row_count, dataset_path}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestResult {
    pub table_name: String,
    pub row_count: u64,
    pub dataset_path: String,
    /// Items a format passed over (a COCO image that is missing, say).
    pub skipped: u64,
}

/// Where a client's tables are.
pub(crate) enum Backend {
    /// In this process, over a storage root.
    Embedded(Arc<Workspace>),
    /// On a server.
    Remote(Arc<Remote>),
}

/// The blocking client: a backend and the runtime its calls run on.
pub struct Client {
    pub(crate) backend: Backend,
    workspace: String,
    pub(crate) rt: Arc<Io>,
}

/// One ingest's way into a table, whatever its source (columns, files,
/// a format): the table opened for it (created at the first batch's
/// schema when missing), every batch typed to what the table takes, and
/// its end: the result, or the error with a table this call created
/// dropped again.
pub(crate) struct Ingesting<'p> {
    table: String,
    /// This call creates the table (and drops it on failure).
    created: bool,
    /// The schema rows must have: the table's own when appending, else
    /// the first batch's.
    write_schema: SchemaRef,
    /// The write appends to a table that existed before it.
    appending: bool,
    sink: Sink<'p>,
}

impl Ingesting<'_> {
    /// What batches are checked against, for the wording of a mismatch.
    fn against(&self) -> Against<'_> {
        match self.appending {
            true => Against::Table(&self.write_schema),
            false => Against::FirstBatch(&self.write_schema),
        }
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

/// The per-user default root: `$XDG_DATA_HOME/deeplake`, else `~/.local/share/deeplake`.
fn default_root() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("deeplake");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".local").join("share").join("deeplake")
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Client {
    /// `Client(token, workspace_id, api_url)` with the spec's fallbacks:
    /// token from `DEEPLAKE_API_KEY`, api_url from `DEEPLAKE_API_URL`; an
    /// unset api_url or `file://PATH` is embedded, rooted at PATH, else
    /// `DEEPLAKE_ROOT`, else the per-user default.
    pub fn new(
        token: Option<&str>,
        workspace_id: Option<&str>,
        api_url: Option<&str>,
    ) -> Result<Client> {
        let token = token
            .map(str::to_string)
            .or_else(|| env("DEEPLAKE_API_KEY"));
        let api_url = api_url
            .map(str::to_string)
            .or_else(|| env("DEEPLAKE_API_URL"));
        let workspace = workspace_id.unwrap_or(DEFAULT_WORKSPACE).trim().to_string();
        if workspace.is_empty() {
            return Err(ClientError::managed_service("workspace_id required"));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("deeplake-io")
            .enable_all()
            .build()
            .map_err(|e| {
                ClientError::managed_service(format!("Failed to start the I/O runtime: {e}"))
            })?;
        let rt = Arc::new(Io::new(rt));
        let root = match api_url.as_deref() {
            None => env("DEEPLAKE_ROOT").unwrap_or_else(|| default_root().display().to_string()),
            Some(url) if url.starts_with("file://") => url["file://".len()..].to_string(),
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                let token = token.ok_or_else(|| {
                    ClientError::auth(
                        "Token required: pass token= to Client() or set DEEPLAKE_API_KEY",
                    )
                })?;
                crate::token::parse(&token)?;
                if let Some(reason) = deeplake_storage::invalid_reason(&workspace) {
                    return Err(crate::workspace::name_error(
                        "workspace_id",
                        &workspace,
                        reason,
                    ));
                }
                let remote = block(&rt, Remote::connect(url, &token, &workspace))?;
                return Ok(Client {
                    backend: Backend::Remote(Arc::new(remote)),
                    workspace,
                    rt,
                });
            }
            Some(url) => {
                return Err(ClientError::managed_service(format!(
                    "Unsupported api_url '{url}': expected file://PATH or http(s)://HOST"
                )));
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let org = match token.as_deref() {
            Some(t) => org_of(t, now)?,
            None => LOCAL_ORG.to_string(),
        };
        let location = Location::from_root(&root).map_err(|e| {
            ClientError::workspace(format!("Workspace '{workspace}' is not accessible: {e}"))
                .with_source(e)
        })?;
        let ws = Workspace::new(&location, &root, &org, &workspace)?;
        Ok(Client {
            backend: Backend::Embedded(Arc::new(ws)),
            workspace,
            rt,
        })
    }

    /// The async workspace below an embedded client (`None` when remote).
    pub fn embedded(&self) -> Option<&Arc<Workspace>> {
        match &self.backend {
            Backend::Embedded(ws) => Some(ws),
            Backend::Remote(_) => None,
        }
    }

    /// True when the tables are on a server.
    pub fn is_remote(&self) -> bool {
        matches!(self.backend, Backend::Remote(_))
    }

    pub fn org_id(&self) -> &str {
        match &self.backend {
            Backend::Embedded(ws) => ws.org(),
            Backend::Remote(r) => r.org(),
        }
    }
    pub fn workspace_id(&self) -> &str {
        &self.workspace
    }
    /// Root of table storage (what `SHOW deeplake.root_path` reports), or
    /// the server's URL.
    pub fn root_path(&self) -> &str {
        match &self.backend {
            Backend::Embedded(ws) => ws.root(),
            Backend::Remote(r) => r.base(),
        }
    }

    pub(crate) fn check_table_name(name: &str) -> Result<()> {
        check_table_name(name)
    }

    /// Where a table's files live (embedded), or its URL on the server.
    pub fn dataset_path(&self, table: &str) -> String {
        match &self.backend {
            Backend::Embedded(ws) => ws.dataset_path(table),
            Backend::Remote(r) => {
                format!("{}/workspaces/{}/tables/{table}", r.base(), self.workspace)
            }
        }
    }

    /// Names of the workspace's tables, sorted.
    pub fn list_tables(&self) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Embedded(ws) => block(&self.rt, ws.list_tables()),
            Backend::Remote(r) => block(&self.rt, r.list_tables()),
        }
    }

    /// Drops a table; a missing one is an error only when `if_exists` is false.
    pub fn drop_table(&self, name: &str, if_exists: bool) -> Result<()> {
        Self::check_table_name(name)?;
        match &self.backend {
            Backend::Embedded(ws) => block(&self.rt, ws.drop_table(name, if_exists)),
            Backend::Remote(r) => block(&self.rt, r.drop_table(name, if_exists)),
        }
    }

    /// Creates an empty table with `columns` (the reference's `create_table`).
    pub fn create_table(&self, name: &str, columns: &[(String, SpecType)]) -> Result<()> {
        Self::check_table_name(name)?;
        match &self.backend {
            Backend::Embedded(ws) => block(&self.rt, ws.create_table(name, columns)).map(|_| ()),
            Backend::Remote(r) => block(&self.rt, r.create_table(name, columns)),
        }
    }

    /// A table's columns, row count and version.
    pub fn describe_table(&self, name: &str) -> Result<TableInfo> {
        Self::check_table_name(name)?;
        match &self.backend {
            Backend::Embedded(ws) => block(&self.rt, ws.describe(name)),
            Backend::Remote(r) => {
                block(&self.rt, r.describe(name))?.ok_or_else(|| ClientError::table_missing(name))
            }
        }
    }

    /// Opens a table for direct reads (training, batch iteration). A remote
    /// table is read straight from the storage the server names when this
    /// machine can reach it (a shared directory, or object storage with
    /// this process's credentials), else through the server's read-only
    /// file endpoint; `DEEPLAKE_DIRECT_READS=0` always takes the server.
    pub fn open_table(&self, name: &str) -> Result<Dataset> {
        Self::check_table_name(name)?;
        match &self.backend {
            Backend::Embedded(ws) => {
                let table = block(&self.rt, ws.open_table(name))?;
                Ok(Dataset::new(table, self.rt.clone(), ws.engine().clone()))
            }
            Backend::Remote(r) => {
                if block(&self.rt, r.describe(name))?.is_none() {
                    return Err(ClientError::table_missing(name));
                }
                let path = block(&self.rt, r.storage_path())?;
                let (location, table) = match block(&self.rt, direct(&path, name)) {
                    Some(opened) => opened,
                    None => {
                        let files = r.files()?;
                        let table = block(&self.rt, files.open_table(name)).map_err(|e| {
                            ClientError::table(format!(
                                "Table '{name}' could not be read through the server: {e}"
                            ))
                            .with_kind(ErrorKind::Unavailable)
                        })?;
                        (files, table)
                    }
                };
                let engine = Engine::new(location, &self.workspace, &path);
                Ok(Dataset::new(table, self.rt.clone(), Arc::new(engine)))
            }
        }
    }

    /// The schema of an existing table, for rows appended to it.
    fn existing_schema(&self, table: &str) -> Result<SchemaRef> {
        match &self.backend {
            Backend::Embedded(ws) => Ok(block(&self.rt, ws.open_table(table))?.schema()),
            Backend::Remote(r) => match block(&self.rt, r.describe(table))? {
                Some(info) => schema_of(&info),
                None => Err(ClientError::table_missing(table)),
            },
        }
    }

    fn table_exists(&self, table: &str) -> Result<bool> {
        match &self.backend {
            Backend::Embedded(ws) => block(&self.rt, ws.table_exists(table)),
            Backend::Remote(r) => Ok(block(&self.rt, r.describe(table))?.is_some()),
        }
    }

    /// Starts an ingest into `table` (created at the first write, with
    /// `schema`, when missing) that stops at its next slice once `cancel`
    /// is raised.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_ingest<'p>(
        &self,
        table: &str,
        mode: Mode,
        schema: &SchemaRef,
        write: WriteOptions,
        total: i64,
        progress: Option<Progress<'p>>,
        cancel: &Cancel,
    ) -> Result<Ingesting<'p>> {
        let mut ingesting = match &self.backend {
            Backend::Embedded(ws) => {
                let target = block(&self.rt, ws.open_for_write(table, mode, schema))?;
                Ingesting {
                    table: table.to_string(),
                    created: target.created,
                    write_schema: target.write_schema(schema),
                    appending: target.append,
                    sink: Sink::Local(target.writer(schema, write, total, progress)?),
                }
            }
            Backend::Remote(r) => {
                let info = block(&self.rt, r.describe(table))?;
                let (created, first_mode, write_schema) = match (info, mode) {
                    (Some(_), Mode::Create) => return Err(ClientError::table_exists(table)),
                    (Some(info), Mode::Append) => (false, Mode::Append, schema_of(&info)?),
                    (Some(_), Mode::Overwrite) => (false, Mode::Overwrite, schema.clone()),
                    (None, _) => (true, Mode::Create, schema.clone()),
                };
                let w = RemoteWriter::new(r, table, first_mode, write, total, progress)?;
                Ingesting {
                    table: table.to_string(),
                    created,
                    appending: first_mode == Mode::Append,
                    write_schema,
                    sink: Sink::Remote(w),
                }
            }
        };
        ingesting.sink.set_cancel(cancel.clone());
        Ok(ingesting)
    }

    /// Ingests equal-length columns into `table`.
    ///
    /// Everything is checked and typed before the first write; if this call
    /// created the table and then fails, the table is dropped again.
    pub fn ingest(
        &self,
        table: &str,
        data: Vec<(String, Column)>,
        opts: IngestOptions<'_>,
    ) -> Result<IngestResult> {
        Self::check_table_name(table)?;
        if let Some(hf) = crate::sources::huggingface_request(&data)? {
            let env = deeplake_ingest::HfEnv::from_env();
            return self.ingest_huggingface(
                table,
                &hf.name,
                hf.split.as_deref(),
                hf.config.as_deref(),
                &env,
                opts,
            );
        }
        self.then_indexed(table, opts, |c, opts| c.ingest_columns(table, data, opts))
    }

    /// Runs an ingest, then creates the indexes its options ask for; the
    /// index types are checked before anything is written.
    pub(crate) fn then_indexed<'p>(
        &self,
        table: &str,
        mut opts: IngestOptions<'p>,
        ingest: impl FnOnce(&Client, IngestOptions<'p>) -> Result<IngestResult>,
    ) -> Result<IngestResult> {
        let specs = std::mem::take(&mut opts.index);
        for spec in &specs {
            if let Some(t) = &spec.index_type {
                crate::indexes::canonical_index_type(t)?;
            }
        }
        let result = ingest(self, opts)?;
        for spec in &specs {
            self.create_index(
                table,
                &spec.column,
                spec.index_type.as_deref(),
                spec.dimension,
            )?;
        }
        Ok(result)
    }

    /// Column ingest (FILE columns through the file pipeline).
    fn ingest_columns(
        &self,
        table: &str,
        data: Vec<(String, Column)>,
        mut opts: IngestOptions<'_>,
    ) -> Result<IngestResult> {
        let hints = parse_schema(&opts.schema)?;
        opts.write.validate()?;
        if hints.values().any(|t| *t == SpecType::File) {
            return self.ingest_files(table, data, hints, opts);
        }
        let exists = self.table_exists(table)?;
        if exists && opts.mode == Mode::Create {
            return Err(ClientError::table_exists(table));
        }
        // Appending data is typed to the table's columns; a table another
        // writer creates meanwhile is retyped to below.
        let existing = match (exists, opts.mode) {
            (true, Mode::Append) => Some(self.existing_schema(table)?),
            _ => None,
        };
        let against = existing.as_deref().map_or(Against::Nothing, Against::Table);
        let batch = prepare(data, &hints, against, table)?;
        let rows = batch.num_rows() as i64;
        let progress = opts.on_progress.take();
        let mut ingesting = self.start_ingest(
            table,
            opts.mode,
            &batch.schema(),
            opts.write,
            rows,
            progress,
            &opts.cancel,
        )?;
        let pushed = ingesting.push_batch(&self.rt, batch);
        self.conclude(ingesting, pushed, 0)
    }

    /// What an ingest returns.
    pub(crate) fn result(&self, table: &str, row_count: u64, skipped: u64) -> IngestResult {
        IngestResult {
            table_name: table.to_string(),
            row_count,
            dataset_path: self.dataset_path(table),
            skipped,
        }
    }

    /// The end of every ingest once its rows were pushed (`pushed`): the
    /// result, or the error with the table dropped again if this call
    /// created it.
    pub(crate) fn conclude(
        &self,
        ingesting: Ingesting<'_>,
        pushed: Result<()>,
        skipped: u64,
    ) -> Result<IngestResult> {
        let Ingesting {
            table,
            created,
            sink,
            ..
        } = ingesting;
        let table = table.as_str();
        let written = block(&self.rt, sink.end(pushed));
        let n = match &self.backend {
            Backend::Embedded(ws) => block(&self.rt, ws.conclude(table, created, written))?,
            Backend::Remote(r) => match written {
                Ok(n) => n,
                Err(e) => {
                    if created {
                        // Best effort, as locally.
                        if let Err(cleanup) = block(&self.rt, r.drop_table(table, true)) {
                            tracing::warn!(
                                table,
                                error = %cleanup,
                                "could not drop the table a failed remote ingest created"
                            );
                        }
                    }
                    return Err(ingest_failure(e));
                }
            },
        };
        Ok(self.result(table, n, skipped))
    }
}

/// The table opened on the storage a server names, when this process can
/// reach it and direct reads are not turned off.
async fn direct(path: &str, name: &str) -> Option<(Location, Table)> {
    if std::env::var("DEEPLAKE_DIRECT_READS").is_ok_and(|v| v == "0") {
        return None;
    }
    if !path.contains("://") && !std::path::Path::new(path).is_dir() {
        return None;
    }
    let location = Location::from_root(path).ok()?;
    let table = location.open_table(name).await.ok()?;
    Some((location, table))
}
