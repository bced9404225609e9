//! One org's workspace over its storage: the async layer below the
//! blocking `Client`, and what the server's handlers call directly.
//!
//! Contract:
//! - Every name that becomes a path is checked here ([`invalid_reason`]),
//!   so no caller can reach outside `<root>/<org>/<workspace>/`.
//! - Opening a table for a write settles the create/open race once: of two
//!   writers creating one table, one creates it and the other appends to
//!   (or fails on) the winner's table, never silently replaces it.
//! - A write that fails drops the table only when that same call created
//!   it, so a failure never removes rows another call committed.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use deeplake_sql::{Deadline, Engine, QueryOutput};
use deeplake_storage::{Location, StorageError, Table};
use deeplake_types::{SpecType, Value};

use crate::error::{ClientError, ErrorClass, ErrorKind, Result};
use crate::ingest::{batch_columns, Against, Mode};
use crate::sink::{writer_progress, Progress};
use deeplake_storage::{invalid_reason, TableWriter, WriteKind, WriteOptions};

/// A table ready for writing and how it came to be.
pub struct Target {
    pub table: Table,
    /// This call created it (and drops it on failure).
    pub created: bool,
    /// Rows must be retyped to the table's existing schema.
    pub append: bool,
    pub overwrite: bool,
}

impl Target {
    /// The schema rows must have to be written: the table's own when
    /// appending, else the schema of the rows being written.
    pub fn write_schema(&self, rows: &SchemaRef) -> SchemaRef {
        match self.append {
            true => self.table.schema(),
            false => rows.clone(),
        }
    }

    /// A writer for rows of `rows`' schema, with the ingest's cadence.
    pub fn writer<'p>(
        &self,
        rows: &SchemaRef,
        opts: WriteOptions,
        total: i64,
        progress: Option<Progress<'p>>,
    ) -> Result<TableWriter<'p>> {
        let kind = match self.overwrite {
            true => WriteKind::Overwrite,
            false => WriteKind::Append,
        };
        Ok(TableWriter::new(
            self.table.clone(),
            self.write_schema(rows),
            opts,
            kind,
            total,
            writer_progress(progress),
        )?)
    }
}

/// What `describe` reports of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    /// The spec's type name (`EMBEDDING(384)`, `IMAGE`).
    pub spec_type: String,
    /// The PostgreSQL type name (`float4[384]`, `IMAGE`).
    pub sql_type: String,
    /// The column's index: (name, type), as `pg_indexes` lists it.
    pub index: Option<(String, String)>,
    /// The index's knobs as its build kept them (`dimension`, and the
    /// `nprobe` a vector index is searched with unless a session sets
    /// one); empty without an index.
    pub index_params: BTreeMap<String, String>,
}

/// A table's shape at its latest version.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub row_count: u64,
    pub version: u64,
}

/// A table the storage could not create, worded as the reference words
/// the failure of its `create_deeplake_table` step.
pub(crate) fn create_failed(e: StorageError) -> ClientError {
    let kind = match e {
        StorageError::TableExists(_) => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    };
    ClientError::table(format!("create_deeplake_table failed: {e}"))
        .with_kind(kind)
        .with_source(e)
}

pub(crate) fn name_error(kind: &str, name: &str, reason: String) -> ClientError {
    match kind {
        "table" => ClientError::table(format!("Invalid table name '{name}': {reason}")),
        _ => ClientError::workspace(format!("Invalid {kind} '{name}': {reason}")),
    }
}

/// An ingest's failure as the reference words it: "Failed to ingest data:
/// ...", an `IngestError` (auth and service failures keep their class).
pub(crate) fn ingest_failure(e: ClientError) -> ClientError {
    let wrap = matches!(e.error_class(), ErrorClass::Table | ErrorClass::Ingest)
        && !e.message().starts_with("Failed to ingest data");
    match wrap {
        true => {
            let m = format!("Failed to ingest data: {}", e.message());
            e.with_message(m).with_class(ErrorClass::Ingest)
        }
        false => e,
    }
}

/// Refuses a name that cannot name a directory-backed object (an org, a
/// workspace, a user) as a `WorkspaceError` naming `what` it is.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    match invalid_reason(name) {
        Some(reason) => Err(name_error(what, name, reason)),
        None => Ok(()),
    }
}

pub fn check_table_name(name: &str) -> Result<()> {
    match invalid_reason(name) {
        Some(reason) => Err(name_error("table", name, reason)),
        None => Ok(()),
    }
}

/// Tables of one org's workspace, with the SQL engine over them.
pub struct Workspace {
    org: String,
    name: String,
    /// The storage root as the user gave it, for paths shown to users.
    root: String,
    location: Location,
    engine: Arc<Engine>,
}

impl Workspace {
    /// The workspace `name` of `org` under the storage root `root` (which
    /// `root_display` names for users).
    pub fn new(root: &Location, root_display: &str, org: &str, name: &str) -> Result<Workspace> {
        if let Some(reason) = invalid_reason(org) {
            return Err(ClientError::token(format!(
                "Token org_id '{org}' is not usable: {reason}"
            )));
        }
        if let Some(reason) = invalid_reason(name) {
            return Err(name_error("workspace_id", name, reason));
        }
        let location = root.child(org).child(name);
        let engine = Arc::new(Engine::new(location.clone(), name, root_display));
        Ok(Workspace {
            org: org.to_string(),
            name: name.to_string(),
            root: root_display.trim_end_matches('/').to_string(),
            location,
            engine,
        })
    }

    pub fn org(&self) -> &str {
        &self.org
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The storage root as given (a directory or an `s3://` URL).
    pub fn root(&self) -> &str {
        &self.root
    }
    pub fn location(&self) -> &Location {
        &self.location
    }
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// `<root>/<org>/<workspace>`: what the storage-path endpoint answers.
    pub fn storage_path(&self) -> String {
        format!("{}/{}/{}", self.root, self.org, self.name)
    }

    /// Where a table's files live.
    pub fn dataset_path(&self, table: &str) -> String {
        format!("{}/{table}", self.storage_path())
    }

    /// Names of the workspace's tables, sorted.
    pub async fn list_tables(&self) -> Result<Vec<String>> {
        Ok(self.location.list_tables().await?)
    }

    /// Drops a table; a missing one is an error only when `if_exists` is false.
    pub async fn drop_table(&self, name: &str, if_exists: bool) -> Result<()> {
        check_table_name(name)?;
        let dropped = self.location.drop_table(name).await?;
        if !dropped && !if_exists {
            return Err(ClientError::table_missing(name));
        }
        Ok(())
    }

    /// The table at its latest version.
    pub async fn open_table(&self, name: &str) -> Result<Table> {
        check_table_name(name)?;
        self.location.open_table(name).await.map_err(|e| match e {
            StorageError::TableNotFound(_) => ClientError::table_missing(name),
            e => e.into(),
        })
    }

    pub async fn table_exists(&self, name: &str) -> Result<bool> {
        check_table_name(name)?;
        self.location
            .table_exists(name)
            .await
            .map_err(create_failed)
    }

    /// Creates an empty table with `columns` (spec types; an embedding
    /// without a size is a variable-length `float4[]`).
    pub async fn create_table(&self, name: &str, columns: &[(String, SpecType)]) -> Result<Table> {
        check_table_name(name)?;
        if columns.is_empty() {
            return Err(ClientError::table(
                "table_schema must name at least one column.",
            ));
        }
        let mut fields = Vec::with_capacity(columns.len());
        for (col, ty) in columns {
            if col.is_empty() {
                return Err(ClientError::table("Column names must not be empty."));
            }
            if *ty == SpecType::File {
                return Err(ClientError::table(format!(
                    "Column '{col}' is FILE, a directive of ingest, not a storage type."
                )));
            }
            let field = ty
                .field(col)
                .map_err(|e| ClientError::table(format!("Invalid type for column '{col}': {e}")))?;
            fields.push(field);
        }
        let schema = Arc::new(Schema::new(fields));
        match self.location.create_table(name, schema).await {
            Ok(t) => Ok(t),
            Err(StorageError::TableExists(_)) => Err(ClientError::table_exists(name)),
            Err(e) => Err(create_failed(e)),
        }
    }

    /// A table's columns (spec and SQL types), row count and version.
    pub async fn describe(&self, name: &str) -> Result<TableInfo> {
        let table = self.open_table(name).await?;
        let index_of = |column: &str| {
            table
                .indexes()
                .iter()
                .find(|i| i.columns.iter().any(|c| c == column))
        };
        let columns = table
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let index = index_of(f.name());
                let ty = SpecType::of_field(f)
                    .map_err(|e| ClientError::table(e.to_string()).with_kind(ErrorKind::Corrupt))?;
                Ok(ColumnInfo {
                    name: f.name().clone(),
                    spec_type: ty.name(),
                    sql_type: ty.sql_name(),
                    index: index.map(|i| (i.name.clone(), i.index_type.clone())),
                    index_params: index.map(|i| i.params.clone()).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TableInfo {
            name: name.to_string(),
            columns,
            row_count: table.len(),
            version: table.version(),
        })
    }

    /// Runs one SQL statement, stopped by the engine once `deadline`
    /// passes (worded as PostgreSQL words a statement timeout). Every
    /// failure is a `TableError("Query failed: ...")`.
    pub async fn query(
        &self,
        sql: &str,
        params: &[Value],
        deadline: Option<Deadline>,
    ) -> Result<QueryOutput> {
        Ok(self.engine.execute_within(sql, params, deadline).await?)
    }

    /// Opens or creates `table` for rows of `schema` under `mode`.
    pub async fn open_for_write(
        &self,
        table: &str,
        mode: Mode,
        schema: &SchemaRef,
    ) -> Result<Target> {
        check_table_name(table)?;
        let open = |append: bool| async move {
            Ok::<_, ClientError>(Target {
                table: self.location.open_table(table).await?,
                created: false,
                append,
                overwrite: !append,
            })
        };
        let existing = |mode: Mode| async move {
            match mode {
                Mode::Create => Err(ClientError::table_exists(table)),
                Mode::Append => open(true).await,
                Mode::Overwrite => open(false).await,
            }
        };
        if self.table_exists(table).await? {
            return existing(mode).await;
        }
        match self.location.create_table(table, schema.clone()).await {
            Ok(t) => Ok(Target {
                table: t,
                created: true,
                append: false,
                overwrite: false,
            }),
            // Another writer created it first.
            Err(StorageError::TableExists(_)) => existing(mode).await,
            Err(e) => Err(create_failed(e)),
        }
    }

    /// The end of every ingest: the row count, or the error with the table
    /// dropped again if this call created it. Failures read "Failed to
    /// ingest data: ..." as the reference words them. (The writer caught
    /// the indexes up after its last commit.)
    pub async fn conclude<T>(&self, table: &str, created: bool, written: Result<T>) -> Result<T> {
        match written {
            Ok(n) => Ok(n),
            Err(e) => {
                if created {
                    // Best effort: the original error matters more than a cleanup failure.
                    if let Err(cleanup) = self.location.drop_table(table).await {
                        tracing::warn!(
                            table,
                            error = %cleanup,
                            "could not drop the table a failed ingest created"
                        );
                    }
                }
                Err(ingest_failure(e))
            }
        }
    }

    /// Writes Arrow batches another process sends (a remote client) into
    /// `table` under `mode`, each as it arrives: every column is checked and
    /// coerced to the spec type its field metadata names, or its Arrow
    /// type's natural one, exactly as local data is; later batches are typed
    /// to the first's columns. A stream that fails part way has its
    /// committed rows kept (the table dropped again if this call created
    /// it) and its uncommitted rest discarded.
    pub async fn ingest_stream<S>(
        &self,
        table: &str,
        mode: Mode,
        batches: S,
        opts: WriteOptions,
    ) -> Result<u64>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Send,
    {
        use futures::StreamExt;
        let batches =
            batches.filter(|b| std::future::ready(!matches!(b, Ok(b) if b.num_rows() == 0)));
        let mut batches = std::pin::pin!(batches);
        let first = batches
            .next()
            .await
            .ok_or_else(|| ClientError::ingest("data must contain at least one row."))??;
        let exists = self.table_exists(table).await?;
        if exists && mode == Mode::Create {
            return Err(ClientError::table_exists(table));
        }
        let existing = match (exists, mode) {
            (true, Mode::Append) => Some(self.open_table(table).await?.schema()),
            _ => None,
        };
        let against = existing.as_deref().map_or(Against::Nothing, Against::Table);
        let first = typed(first, against, table)?;
        let schema = first.schema();
        let target = self.open_for_write(table, mode, &schema).await?;
        let created = target.created;
        let written = async {
            let mut w = target.writer(&schema, opts, -1, None)?;
            // The table another writer created meanwhile, when it did.
            let write_schema = target.write_schema(&schema);
            let against = Against::write(target.append, &write_schema);
            let retype = |b: RecordBatch| match b.schema() == write_schema {
                true => Ok(b),
                false => typed(b, against, table),
            };
            w.push(&retype(first)?).await?;
            while let Some(b) = batches.next().await {
                w.push(&retype(b?)?).await?;
            }
            Ok(w.finish().await?)
        }
        .await;
        self.conclude(table, created, written).await
    }
}

/// `batch` typed as the spec types its field metadata names (or its Arrow
/// types' natural ones), against what `against` names.
fn typed(batch: RecordBatch, against: Against<'_>, table: &str) -> Result<RecordBatch> {
    let mut hints = std::collections::HashMap::new();
    for f in batch.schema().fields() {
        if f.metadata().contains_key(deeplake_types::TYPE_KEY) {
            hints.insert(f.name().clone(), SpecType::of_field(f)?);
        }
    }
    crate::ingest::prepare(batch_columns(&batch), &hints, against, table)
}
