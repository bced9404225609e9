//! The `Client`: an embedded workspace over a storage root, or a workspace
//! on a server (an `http(s)://` api_url), with one API for both.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_schema::SchemaRef;
use deeplake_ingest::{Cancel, FileOptions};
use deeplake_storage::{Location, WriteOptions};
use deeplake_types::{Column, SpecType};

use crate::dataset::Dataset;
use crate::error::{ClientError, Result};
use crate::ingest::{parse_schema, prepare, Against, Mode};
use crate::remote::Remote;
use crate::runtime::{block, Io};
use crate::sink::{Ingesting, Progress};
use crate::tables::Tables;
use crate::token::org_of;
use crate::workspace::{check_table_name, TableInfo, Workspace};

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

/// The blocking client: where its tables are (see [`Tables`]) and the
/// runtime its calls run on.
pub struct Client {
    pub(crate) tables: Arc<dyn Tables>,
    /// The workspace when it is in this process.
    embedded: Option<Arc<Workspace>>,
    workspace: String,
    pub(crate) rt: Arc<Io>,
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
                    tables: Arc::new(remote),
                    embedded: None,
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
        let ws = Arc::new(Workspace::new(&location, &root, &org, &workspace)?);
        Ok(Client {
            tables: ws.clone(),
            embedded: Some(ws),
            workspace,
            rt,
        })
    }

    /// The async workspace below an embedded client (`None` when remote).
    pub fn embedded(&self) -> Option<&Arc<Workspace>> {
        self.embedded.as_ref()
    }

    /// True when the tables are on a server.
    pub fn is_remote(&self) -> bool {
        self.embedded.is_none()
    }

    pub fn org_id(&self) -> &str {
        self.tables.org()
    }
    pub fn workspace_id(&self) -> &str {
        &self.workspace
    }
    /// Root of table storage (what `SHOW deeplake.root_path` reports), or
    /// the server's URL.
    pub fn root_path(&self) -> &str {
        self.tables.root_path()
    }

    pub(crate) fn check_table_name(name: &str) -> Result<()> {
        check_table_name(name)
    }

    /// Where a table's files live (embedded), or its URL on the server.
    pub fn dataset_path(&self, table: &str) -> String {
        self.tables.dataset_path(table)
    }

    /// Names of the workspace's tables, sorted.
    pub fn list_tables(&self) -> Result<Vec<String>> {
        block(&self.rt, self.tables.list_tables())
    }

    /// Drops a table; a missing one is an error only when `if_exists` is false.
    pub fn drop_table(&self, name: &str, if_exists: bool) -> Result<()> {
        Self::check_table_name(name)?;
        block(&self.rt, self.tables.drop_table(name, if_exists))
    }

    /// Creates an empty table with `columns` (the reference's `create_table`).
    pub fn create_table(&self, name: &str, columns: &[(String, SpecType)]) -> Result<()> {
        Self::check_table_name(name)?;
        block(&self.rt, self.tables.create_table(name, columns))
    }

    /// A table's columns, row count and version.
    pub fn describe_table(&self, name: &str) -> Result<TableInfo> {
        Self::check_table_name(name)?;
        block(&self.rt, self.tables.describe(name))
    }

    /// Opens a table for direct reads (training, batch iteration); see
    /// [`Tables::open_dataset`] for where a remote one is read from.
    pub fn open_table(&self, name: &str) -> Result<Dataset> {
        Self::check_table_name(name)?;
        let rt = self.rt.clone();
        block(
            &self.rt,
            self.tables.open_dataset(name, &self.workspace, rt),
        )
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
        let mut ingesting = block(
            &self.rt,
            self.tables
                .start_ingest(table, mode, schema, write, total, progress),
        )?;
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
        let exists = block(&self.rt, self.tables.table_exists(table))?;
        if exists && opts.mode == Mode::Create {
            return Err(ClientError::table_exists(table));
        }
        // Appending data is typed to the table's columns; a table another
        // writer creates meanwhile is retyped to below.
        let existing = match (exists, opts.mode) {
            (true, Mode::Append) => Some(block(&self.rt, self.tables.table_schema(table))?),
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
        let written = block(&self.rt, sink.end(pushed));
        let n = block(&self.rt, self.tables.end_ingest(&table, created, written))?;
        Ok(self.result(&table, n, skipped))
    }
}
