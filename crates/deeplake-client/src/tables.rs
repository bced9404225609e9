//! What a `Client`'s tables are behind: one trait for the two places they
//! can be, the embedded [`Workspace`] (this process, over a storage root)
//! and a [`Remote`] workspace on a server. The blocking `Client` is a thin
//! adapter over it: it checks arguments, types rows and runs these calls
//! on its runtime, and never asks which of the two it holds.
//!
//! Contract: every method behaves alike on both sides as a caller sees
//! it (the same errors, kinds and messages for the same failure), and a
//! call that fails part way leaves what either side leaves (an ingest's
//! table dropped again when this call created it).

use std::sync::Arc;
use std::time::Duration;

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use deeplake_sql::{Deadline, Engine, QueryOutput};
use deeplake_storage::{Location, Table, WriteOptions};
use deeplake_types::{SpecType, Value};
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::dataset::Dataset;
use crate::error::{ClientError, ErrorKind, Result};
use crate::ingest::Mode;
use crate::remote::{Remote, SLACK};
use crate::runtime::Io;
use crate::sink::{schema_of, Ingesting, Progress, RemoteWriter, Sink};
use crate::workspace::{ingest_failure, TableInfo, Workspace};

#[async_trait]
pub(crate) trait Tables: Send + Sync {
    /// The org the tables belong to.
    fn org(&self) -> &str;
    /// Root of table storage (what `SHOW deeplake.root_path` reports), or
    /// the server's URL.
    fn root_path(&self) -> &str;
    /// Where a table's files live, or its URL on the server.
    fn dataset_path(&self, table: &str) -> String;
    /// How long past a statement's deadline its answer may take to come.
    fn answer_slack(&self) -> Duration;

    async fn list_tables(&self) -> Result<Vec<String>>;
    async fn drop_table(&self, name: &str, if_exists: bool) -> Result<()>;
    async fn create_table(&self, name: &str, columns: &[(String, SpecType)]) -> Result<()>;
    /// The table's shape; a missing table is a `NotFound` error.
    async fn describe(&self, name: &str) -> Result<TableInfo>;
    async fn table_exists(&self, name: &str) -> Result<bool>;
    /// The schema of an existing table, for rows appended to it.
    async fn table_schema(&self, name: &str) -> Result<SchemaRef>;

    /// One statement, stopped at `deadline`; owned, so the caller can run
    /// it as a task of its own.
    fn query_arrow(
        self: Arc<Self>,
        sql: String,
        params: Vec<Value>,
        deadline: Option<Deadline>,
    ) -> BoxFuture<'static, Result<QueryOutput>>;

    /// Opens (or, at the first write, creates) `table` for rows of
    /// `schema` under `mode`.
    #[allow(clippy::too_many_arguments)]
    async fn start_ingest<'p>(
        &self,
        table: &str,
        mode: Mode,
        schema: &SchemaRef,
        write: WriteOptions,
        total: i64,
        progress: Option<Progress<'p>>,
    ) -> Result<Ingesting<'p>>;

    /// The end of an ingest whose rows were `written`: the row count, or
    /// the failure with a table this call `created` dropped again.
    async fn end_ingest(&self, table: &str, created: bool, written: Result<u64>) -> Result<u64>;

    /// The table for direct reads, with an engine over what it reads.
    async fn open_dataset(&self, name: &str, workspace: &str, rt: Arc<Io>) -> Result<Dataset>;
}

#[async_trait]
impl Tables for Workspace {
    fn org(&self) -> &str {
        Workspace::org(self)
    }
    fn root_path(&self) -> &str {
        self.root()
    }
    fn dataset_path(&self, table: &str) -> String {
        Workspace::dataset_path(self, table)
    }
    fn answer_slack(&self) -> Duration {
        Duration::ZERO
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        Workspace::list_tables(self).await
    }
    async fn drop_table(&self, name: &str, if_exists: bool) -> Result<()> {
        Workspace::drop_table(self, name, if_exists).await
    }
    async fn create_table(&self, name: &str, columns: &[(String, SpecType)]) -> Result<()> {
        Workspace::create_table(self, name, columns).await.map(drop)
    }
    async fn describe(&self, name: &str) -> Result<TableInfo> {
        Workspace::describe(self, name).await
    }
    async fn table_exists(&self, name: &str) -> Result<bool> {
        Workspace::table_exists(self, name).await
    }
    async fn table_schema(&self, name: &str) -> Result<SchemaRef> {
        Ok(self.open_table(name).await?.schema())
    }

    fn query_arrow(
        self: Arc<Self>,
        sql: String,
        params: Vec<Value>,
        deadline: Option<Deadline>,
    ) -> BoxFuture<'static, Result<QueryOutput>> {
        async move { self.query(&sql, &params, deadline).await }.boxed()
    }

    async fn start_ingest<'p>(
        &self,
        table: &str,
        mode: Mode,
        schema: &SchemaRef,
        write: WriteOptions,
        total: i64,
        progress: Option<Progress<'p>>,
    ) -> Result<Ingesting<'p>> {
        let target = self.open_for_write(table, mode, schema).await?;
        Ok(Ingesting {
            table: table.to_string(),
            created: target.created,
            write_schema: target.write_schema(schema),
            appending: target.append,
            sink: Sink::Local(target.writer(schema, write, total, progress)?),
        })
    }

    async fn end_ingest(&self, table: &str, created: bool, written: Result<u64>) -> Result<u64> {
        self.conclude(table, created, written).await
    }

    async fn open_dataset(&self, name: &str, _workspace: &str, rt: Arc<Io>) -> Result<Dataset> {
        let table = self.open_table(name).await?;
        Ok(Dataset::new(table, rt, self.engine().clone()))
    }
}

#[async_trait]
impl Tables for Remote {
    fn org(&self) -> &str {
        Remote::org(self)
    }
    fn root_path(&self) -> &str {
        self.base()
    }
    fn dataset_path(&self, table: &str) -> String {
        format!(
            "{}/workspaces/{}/tables/{table}",
            self.base(),
            self.workspace()
        )
    }
    fn answer_slack(&self) -> Duration {
        SLACK
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        Remote::list_tables(self).await
    }
    async fn drop_table(&self, name: &str, if_exists: bool) -> Result<()> {
        Remote::drop_table(self, name, if_exists).await
    }
    async fn create_table(&self, name: &str, columns: &[(String, SpecType)]) -> Result<()> {
        Remote::create_table(self, name, columns).await
    }
    async fn describe(&self, name: &str) -> Result<TableInfo> {
        Remote::describe(self, name)
            .await?
            .ok_or_else(|| ClientError::table_missing(name))
    }
    async fn table_exists(&self, name: &str) -> Result<bool> {
        Ok(Remote::describe(self, name).await?.is_some())
    }
    async fn table_schema(&self, name: &str) -> Result<SchemaRef> {
        schema_of(&Tables::describe(self, name).await?)
    }

    fn query_arrow(
        self: Arc<Self>,
        sql: String,
        params: Vec<Value>,
        deadline: Option<Deadline>,
    ) -> BoxFuture<'static, Result<QueryOutput>> {
        async move { Remote::query_arrow(&self, &sql, &params, deadline.map(|d| d.limit)).await }
            .boxed()
    }

    async fn start_ingest<'p>(
        &self,
        table: &str,
        mode: Mode,
        schema: &SchemaRef,
        write: WriteOptions,
        total: i64,
        progress: Option<Progress<'p>>,
    ) -> Result<Ingesting<'p>> {
        let info = Remote::describe(self, table).await?;
        let (created, first_mode, write_schema) = match (info, mode) {
            (Some(_), Mode::Create) => return Err(ClientError::table_exists(table)),
            (Some(info), Mode::Append) => (false, Mode::Append, schema_of(&info)?),
            (Some(_), Mode::Overwrite) => (false, Mode::Overwrite, schema.clone()),
            (None, _) => (true, Mode::Create, schema.clone()),
        };
        let w = RemoteWriter::new(self, table, first_mode, write, total, progress)?;
        Ok(Ingesting {
            table: table.to_string(),
            created,
            appending: first_mode == Mode::Append,
            write_schema,
            sink: Sink::Remote(w),
        })
    }

    async fn end_ingest(&self, table: &str, created: bool, written: Result<u64>) -> Result<u64> {
        match written {
            Ok(n) => Ok(n),
            Err(e) => {
                if created {
                    // Best effort, as locally.
                    if let Err(cleanup) = Remote::drop_table(self, table, true).await {
                        tracing::warn!(
                            table,
                            error = %cleanup,
                            "could not drop the table a failed remote ingest created"
                        );
                    }
                }
                Err(ingest_failure(e))
            }
        }
    }

    /// A remote table is read straight from the storage the server names
    /// when this machine can reach it (a shared directory, or object
    /// storage with this process's credentials), else through the
    /// server's read-only file endpoint; `DEEPLAKE_DIRECT_READS=0` always
    /// takes the server.
    async fn open_dataset(&self, name: &str, workspace: &str, rt: Arc<Io>) -> Result<Dataset> {
        Tables::describe(self, name).await?;
        let path = self.storage_path().await?;
        let (location, table) = match direct(&path, name).await {
            Some(opened) => opened,
            None => {
                let files = self.files()?;
                let table = files.open_table(name).await.map_err(|e| {
                    ClientError::table(format!(
                        "Table '{name}' could not be read through the server: {e}"
                    ))
                    .with_kind(ErrorKind::Unavailable)
                })?;
                (files, table)
            }
        };
        let engine = Engine::new(location, workspace, &path);
        Ok(Dataset::new(table, rt, Arc::new(engine)))
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
