//! The `Client`: an embedded workspace over a local root (a remote server is
//! selected by an `http(s)://` api_url).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use deeplake_sql::Engine;
use deeplake_storage::{Location, StorageError};

use crate::dataset::Dataset;
use crate::error::{ClientError, Result};
use crate::ingest::{parse_schema, prepare, Mode};
use crate::names::invalid_reason;
use crate::runtime::{block, Io};
use crate::token::org_of;
use crate::writer::{Progress, TableWriter, WriteOptions};
use deeplake_ingest::FileOptions;
use deeplake_types::Column;
use deeplake_types::SpecType;

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

/// A table the storage could not create, worded as the reference words
/// the failure of its `create_deeplake_table` step.
pub(crate) fn create_failed(e: StorageError) -> ClientError {
    ClientError::Table(format!("create_deeplake_table failed: {e}"))
}

pub struct Client {
    org: String,
    workspace: String,
    root: PathBuf,
    pub(crate) location: Location,
    pub(crate) sql: Arc<Engine>,
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

fn name_error(kind: &str, name: &str, reason: String) -> ClientError {
    match kind {
        "table" => ClientError::Table(format!("Invalid table name '{name}': {reason}")),
        _ => ClientError::Workspace(format!("Invalid {kind} '{name}': {reason}")),
    }
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
            return Err(ClientError::ManagedService("workspace_id required".into()));
        }
        let root = match api_url.as_deref() {
            None => env("DEEPLAKE_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(default_root),
            Some(url) if url.starts_with("file://") => PathBuf::from(&url["file://".len()..]),
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                return Err(ClientError::ManagedService(format!(
                    "API request failed: remote servers are not supported by this client build yet ({url}); use an embedded file:// root"
                )));
            }
            Some(url) => {
                return Err(ClientError::ManagedService(format!(
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
        if let Some(reason) = invalid_reason(&org) {
            return Err(ClientError::Token(format!(
                "Token org_id '{org}' is not usable: {reason}"
            )));
        }
        if let Some(reason) = invalid_reason(&workspace) {
            return Err(name_error("workspace_id", &workspace, reason));
        }
        let dir = root.join(&org).join(&workspace);
        let location = Location::local(&dir).map_err(|e| {
            ClientError::Workspace(format!("Workspace '{workspace}' is not accessible: {e}"))
        })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("deeplake-io")
            .enable_all()
            .build()
            .map_err(|e| {
                ClientError::ManagedService(format!("Failed to start the I/O runtime: {e}"))
            })?;
        let sql = Arc::new(Engine::new(
            location.clone(),
            &workspace,
            &root.display().to_string(),
        ));
        Ok(Client {
            org,
            workspace,
            root,
            location,
            sql,
            rt: Arc::new(Io::new(rt)),
        })
    }

    pub fn org_id(&self) -> &str {
        &self.org
    }
    pub fn workspace_id(&self) -> &str {
        &self.workspace
    }
    /// Root of table storage (what `SHOW deeplake.root_path` reports).
    pub fn root_path(&self) -> &Path {
        &self.root
    }

    pub(crate) fn check_table_name(name: &str) -> Result<()> {
        match invalid_reason(name) {
            Some(reason) => Err(name_error("table", name, reason)),
            None => Ok(()),
        }
    }

    /// Where a table's files live.
    pub fn dataset_path(&self, table: &str) -> String {
        self.root
            .join(&self.org)
            .join(&self.workspace)
            .join(table)
            .display()
            .to_string()
    }

    /// Names of the workspace's tables, sorted.
    pub fn list_tables(&self) -> Result<Vec<String>> {
        Ok(block(&self.rt, self.location.list_tables())?)
    }

    /// Drops a table; a missing one is an error only when `if_exists` is false.
    pub fn drop_table(&self, name: &str, if_exists: bool) -> Result<()> {
        Self::check_table_name(name)?;
        let dropped = block(&self.rt, self.location.drop_table(name))?;
        if !dropped && !if_exists {
            return Err(ClientError::Table(format!("Table '{name}' does not exist")));
        }
        Ok(())
    }

    /// Opens a table for direct reads (training, batch iteration).
    pub fn open_table(&self, name: &str) -> Result<Dataset> {
        Self::check_table_name(name)?;
        let table = block(&self.rt, self.location.open_table(name)).map_err(|e| match e {
            StorageError::TableNotFound(_) => {
                ClientError::Table(format!("Table '{name}' does not exist"))
            }
            e => e.into(),
        })?;
        Ok(Dataset::new(table, self.rt.clone(), self.sql.clone()))
    }

    /// Ingests equal-length columns into `table`.
    ///
    /// Everything is checked and typed before the first write; if this call
    /// created the table and then fails, the table is dropped again.
    pub fn ingest(
        &self,
        table: &str,
        data: Vec<(String, Column)>,
        mut opts: IngestOptions<'_>,
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
        let hints = parse_schema(&opts.schema)?;
        opts.write.validate()?;
        if hints.values().any(|t| *t == SpecType::File) {
            return self.ingest_files(table, data, hints, opts);
        }
        let mut exists =
            block(&self.rt, self.location.table_exists(table)).map_err(create_failed)?;
        if exists && opts.mode == Mode::Create {
            return Err(ClientError::table_exists(table));
        }
        let mut input = data;
        let (handle, batch) = loop {
            let opened = match exists {
                true => Some(block(&self.rt, self.location.open_table(table))?),
                false => None,
            };
            let existing = match (&opened, opts.mode) {
                (Some(t), Mode::Append) => Some(t.schema()),
                _ => None,
            };
            let batch = prepare(input, &hints, existing.as_deref(), table)?;
            if let Some(t) = opened {
                break (t, batch);
            }
            let created = block(&self.rt, self.location.create_table(table, batch.schema()));
            match created {
                Ok(t) => break (t, batch),
                // Another writer created it first: append onto theirs,
                // retyped to their schema...
                Err(StorageError::TableExists(_)) if opts.mode == Mode::Append => {
                    exists = true;
                    input = batch_columns(&batch);
                }
                // ...or replace it, with this batch's own schema.
                Err(StorageError::TableExists(_)) if opts.mode == Mode::Overwrite => {
                    exists = true;
                    break (block(&self.rt, self.location.open_table(table))?, batch);
                }
                Err(StorageError::TableExists(_)) => return Err(ClientError::table_exists(table)),
                Err(e) => return Err(create_failed(e)),
            }
        };
        let rows = batch.num_rows() as u64;
        let overwrite = exists && opts.mode == Mode::Overwrite;
        let progress = opts.on_progress.take();
        let written = block(&self.rt, async {
            let mut w = TableWriter::new(
                handle,
                batch.schema(),
                opts.write,
                overwrite,
                rows as i64,
                progress,
            )?;
            w.push(&batch).await?;
            w.finish().await
        });
        self.conclude(table, !exists, written, 0)
    }

    /// The end of every ingest: the result, or the error with the table
    /// dropped again if this call created it.
    pub(crate) fn conclude(
        &self,
        table: &str,
        created: bool,
        written: Result<(deeplake_storage::Table, u64)>,
        skipped: u64,
    ) -> Result<IngestResult> {
        match written {
            Ok((_, n)) => Ok(IngestResult {
                table_name: table.to_string(),
                row_count: n,
                dataset_path: self.dataset_path(table),
                skipped,
            }),
            Err(e) => {
                if created {
                    // Best effort: the original error matters more than a cleanup failure.
                    let _ = block(&self.rt, self.location.drop_table(table));
                }
                Err(match e {
                    ClientError::Table(m) | ClientError::Ingest(m)
                        if !m.starts_with("Failed to ingest data") =>
                    {
                        ClientError::Ingest(format!("Failed to ingest data: {m}"))
                    }
                    e => e,
                })
            }
        }
    }
}

/// A typed batch back as Arrow columns, to retype against another schema.
pub(crate) fn batch_columns(batch: &arrow_array::RecordBatch) -> Vec<(String, Column)> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, a)| (f.name().clone(), Column::Arrow(a.clone())))
        .collect()
}
