//! The workspace as a DataFusion catalog: its tables in schema `public`,
//! and `information_schema.tables` / `.columns` describing them with
//! PostgreSQL type names. Nothing else is reachable from SQL.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use deeplake_storage::{Location, StorageError, Table};
use deeplake_types::SpecType;

use crate::ddl::index_definition;
use crate::error::SqlError;
use crate::provider::{storage_err, StorageTable};

pub const SCHEMA: &str = "public";
pub const INFORMATION_SCHEMA: &str = "information_schema";
pub const PG_CATALOG: &str = "pg_catalog";
/// The catalog tables `pg_catalog` holds here.
pub const PG_CATALOG_TABLES: [&str; 1] = ["pg_indexes"];

/// The workspace's tables as of the statement's start. Tables the
/// statement names are opened before planning (one snapshot per statement);
/// others open on first use.
pub struct WorkspaceSchema {
    location: Location,
    names: Vec<String>,
    opened: HashMap<String, Arc<StorageTable>>,
}

impl WorkspaceSchema {
    /// `positions` names the opened table that exposes the row position
    /// column (a dataset view's selection); `restricted` the tables seen
    /// through only some rows (an index's candidates).
    pub fn new(
        location: Location,
        names: Vec<String>,
        opened: &HashMap<String, Table>,
        positions: Option<&str>,
        restricted: &HashMap<String, Arc<Vec<u64>>>,
    ) -> Self {
        let opened = opened
            .iter()
            .map(|(n, t)| {
                let mut table = if positions == Some(n.as_str()) {
                    StorageTable::with_positions(t.clone())
                } else {
                    StorageTable::new(t.clone())
                };
                if let Some(rows) = restricted.get(n) {
                    table = table.restricted(rows.clone());
                }
                (n.clone(), Arc::new(table))
            })
            .collect();
        WorkspaceSchema {
            location,
            names,
            opened,
        }
    }
}

impl std::fmt::Debug for WorkspaceSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkspaceSchema({:?})", self.names)
    }
}

#[async_trait]
impl SchemaProvider for WorkspaceSchema {
    fn table_names(&self) -> Vec<String> {
        self.names.clone()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.opened.get(name) {
            return Ok(Some(t.clone()));
        }
        // DataFusion asks only for the names a statement reads as tables
        // (a CTE's name never comes here), so one that is missing is the
        // statement's error, in PostgreSQL's words and with its kind.
        let missing = || SqlError::relation_missing(name).into_datafusion();
        if !self.names.iter().any(|n| n == name) {
            return Err(missing());
        }
        match self.location.open_table(name).await {
            Ok(t) => Ok(Some(Arc::new(StorageTable::new(t)))),
            Err(StorageError::TableNotFound(_)) => Err(missing()),
            Err(e) => Err(storage_err(e)),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// `information_schema` with `tables` and `columns` for the given tables.
pub fn information_schema(workspace: &str, tables: &[Table]) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let n = tables.len();
    let t_schema = Arc::new(Schema::new(vec![
        text("table_catalog"),
        text("table_schema"),
        text("table_name"),
        text("table_type"),
    ]));
    let t_batch = RecordBatch::try_new(
        t_schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![workspace; n])),
            Arc::new(StringArray::from(vec![SCHEMA; n])),
            Arc::new(StringArray::from_iter_values(
                tables.iter().map(Table::name),
            )),
            Arc::new(StringArray::from(vec!["BASE TABLE"; n])),
        ],
    )?;
    schema.register_table(
        "tables".into(),
        Arc::new(MemTable::try_new(t_schema, vec![vec![t_batch]])?),
    )?;

    let mut table_names = Vec::new();
    let mut columns = Vec::new();
    let mut positions = Vec::new();
    let mut types = Vec::new();
    let mut spec_types = Vec::new();
    for t in tables {
        for (i, f) in t.schema().fields().iter().enumerate() {
            let spec = SpecType::of_field(f).ok();
            table_names.push(t.name().to_string());
            columns.push(f.name().clone());
            positions.push(i as i64 + 1);
            types.push(spec.map_or_else(|| f.data_type().to_string(), |s| s.sql_name()));
            spec_types.push(spec.map_or_else(String::new, |s| s.name()));
        }
    }
    let m = columns.len();
    let c_schema = Arc::new(Schema::new(vec![
        text("table_catalog"),
        text("table_schema"),
        text("table_name"),
        text("column_name"),
        Field::new("ordinal_position", DataType::Int64, false),
        text("data_type"),
        text("is_nullable"),
        text("deeplake_type"),
    ]));
    let c_batch = RecordBatch::try_new(
        c_schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![workspace; m])),
            Arc::new(StringArray::from(vec![SCHEMA; m])),
            Arc::new(StringArray::from(table_names)),
            Arc::new(StringArray::from(columns)),
            Arc::new(Int64Array::from(positions)),
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(vec!["YES"; m])),
            Arc::new(StringArray::from(spec_types)),
        ],
    )?;
    schema.register_table(
        "columns".into(),
        Arc::new(MemTable::try_new(c_schema, vec![vec![c_batch]])?),
    )?;
    Ok(Arc::new(schema))
}

/// `pg_catalog` with `pg_indexes`: every index of the given tables, with
/// the `CREATE INDEX` statement that makes it.
pub fn pg_catalog(tables: &[Table]) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let mut table_names = Vec::new();
    let mut index_names = Vec::new();
    let mut defs = Vec::new();
    for t in tables {
        for index in t.indexes() {
            table_names.push(t.name().to_string());
            index_names.push(index.name.clone());
            defs.push(index_definition(t.name(), index));
        }
    }
    let n = defs.len();
    let i_schema = Arc::new(Schema::new(vec![
        text("schemaname"),
        text("tablename"),
        text("indexname"),
        Field::new("tablespace", DataType::Utf8, true),
        text("indexdef"),
    ]));
    let i_batch = RecordBatch::try_new(
        i_schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![SCHEMA; n])),
            Arc::new(StringArray::from(table_names)),
            Arc::new(StringArray::from(index_names)),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
            Arc::new(StringArray::from(defs)),
        ],
    )?;
    schema.register_table(
        "pg_indexes".into(),
        Arc::new(MemTable::try_new(i_schema, vec![vec![i_batch]])?),
    )?;
    Ok(Arc::new(schema))
}
