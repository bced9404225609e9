//! Running one statement: parse (PostgreSQL dialect), refuse what SQL must
//! not reach, bind parameters, rewrite, prepare search statistics, plan and
//! execute on DataFusion over a snapshot of the workspace's tables.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow_array::{Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
};
use datafusion::common::format::ExplainStatementOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::execution::context::SQLOptions;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::{LogicalPlan, ScalarUDF};
use datafusion::physical_plan::analyze::AnalyzeExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, ExplainStatement, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    visit_relations_mut, CreateIndex, Expr, Ident, ObjectName, ObjectType, Set, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use deeplake_storage::{invalid_reason, IndexMeta, Location, StorageError, Table};
use deeplake_types::Value as Param;
use std::panic::AssertUnwindSafe;

use futures::{FutureExt, StreamExt, TryStreamExt};

use crate::catalog::{
    information_schema, pg_catalog, WorkspaceSchema, INFORMATION_SCHEMA, PG_CATALOG,
    PG_CATALOG_TABLES, SCHEMA,
};
use crate::ddl;
use crate::deadline::{within, Deadline};
use crate::direct::direct_shape;
use crate::error::{Result, SqlError, SqlErrorKind};
use crate::filtered::{filter_search, FilterSearch, Narrow};
use crate::functions::bm25::score_texts;
use crate::functions::bound::Bound;
use crate::functions::builtins;
use crate::functions::hybrid::{vector_scores, HybridQuery, TopList};
use crate::functions::sync::{SyncTable, SYNC_FUNCTION};
use crate::functions::vector::VectorQuery;
use crate::indexed::{top_k_search, TopKSearch, Wanted};
use crate::planned::plan_searches;
use crate::positions::select_positions;
use crate::rewrite::{
    bind_params, relations, result_depth, rewrite, ScopeTable, Search, HYBRID_DEPTH_DEFAULT,
};
use deeplake_index::bm25::{Bm25Query, CorpusStats};
use deeplake_index::kind::IndexKind;
use deeplake_index::search::{
    index_param, lookup_candidates, matrix_candidates, text_candidates, text_stats,
    vector_candidates, RowSet, DEFAULT_NPROBE, DEFAULT_RERANK,
};

const CATALOG: &str = "deeplake";

/// The row positions a position selection returned.
fn positions_of(out: &QueryOutput) -> Result<Vec<u64>> {
    let mut rows = Vec::with_capacity(out.num_rows());
    for batch in &out.batches {
        let column = batch.column(0);
        let positions = column
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| {
                SqlError::internal(format!("row positions came back as {}", column.data_type()))
            })?;
        rows.extend(positions.values().iter().copied());
    }
    Ok(rows)
}

/// The result of a statement: Arrow batches with their schema. Field
/// metadata keeps the spec types of stored columns (JSON stays JSON).
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryOutput {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
    pub fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }
}

type StatsKey = (String, u64, String);

/// SQL over one workspace. Cheap to share; each statement plans against
/// the tables' latest committed versions.
pub struct Engine {
    location: Location,
    workspace: String,
    root_path: String,
    /// BM25 corpus statistics per (table, version, column): a version never
    /// changes, so these stay valid until the table moves on.
    stats: Mutex<HashMap<StatsKey, Arc<CorpusStats>>>,
    /// Open handles, refreshed at each statement: they keep data files
    /// mapped and footers parsed between statements (data files never
    /// change), which a fresh open per statement would redo.
    handles: Mutex<HashMap<String, Table>>,
    /// `SET` values of this engine's session (see [`SETTINGS`]).
    settings: Mutex<BTreeMap<String, String>>,
    base: SessionState,
}

/// The settings `SET` and `SHOW` know besides `deeplake.root_path`: the
/// partitions a vector index probes per segment.
const NPROBE: &str = "deeplake.nprobe";
/// Candidates a quantized vector index hands to the exact re-score.
const RERANK: &str = "deeplake.rerank";
const SETTINGS: [&str; 2] = [NPROBE, RERANK];

/// Index candidates beyond LIMIT + OFFSET: the index's scores are the
/// exact ones up to float rounding, so a few extra rows make the exact
/// re-scoring pick the same top k as a full scan would.
const CANDIDATE_MARGIN: usize = 8;

/// A WHERE passing at most this share of rows (or 256 rows) is answered
/// by reading all of its rows, not through the index.
const EXACT_SHARE: u64 = 100;

/// A WHERE's lookup narrows the scan only to at most this share of the
/// table's rows (one in this many): reading scattered rows costs more per
/// row than a sequential scan does.
const LOOKUP_SHARE: u64 = 4;

/// Kinds of index a WHERE can be narrowed with.
const LOOKUP_KINDS: [IndexKind; 3] = [
    IndexKind::InvertedIndex,
    IndexKind::ExactText,
    IndexKind::Unique,
];

/// The rows (ascending) `narrow` leaves of `table`, naming in `used` each
/// index it asked; None when no index constrains it.
fn narrow_rows<'a>(
    narrow: &'a Narrow,
    table: &'a Table,
    used: &'a mut Vec<String>,
) -> futures::future::BoxFuture<'a, Result<Option<Vec<u64>>>> {
    Box::pin(async move {
        match narrow {
            Narrow::Leaf { column, query } => {
                let Some(index) = table.indexes().iter().find(|i| {
                    i.columns == [column.clone()]
                        && LOOKUP_KINDS.iter().any(|k| i.index_type == k.name())
                }) else {
                    return Ok(None);
                };
                let found = lookup_candidates(table, index, query)
                    .await
                    .map_err(SqlError::from)?;
                if found.is_some() {
                    used.push(format!("index {} ({})", index.name, index.index_type));
                }
                Ok(found.map(|c| c.rows))
            }
            Narrow::All(parts) => {
                let mut out: Option<Vec<u64>> = None;
                for part in parts {
                    if let Some(rows) = narrow_rows(part, table, used).await? {
                        out = Some(match out {
                            None => rows,
                            Some(have) => {
                                let keep: std::collections::HashSet<u64> =
                                    rows.into_iter().collect();
                                have.into_iter().filter(|r| keep.contains(r)).collect()
                            }
                        });
                    }
                }
                Ok(out)
            }
            Narrow::Any(parts) => {
                let mut out = Vec::new();
                for part in parts {
                    match narrow_rows(part, table, used).await? {
                        Some(rows) => out.extend(rows),
                        None => return Ok(None),
                    }
                }
                out.sort_unstable();
                out.dedup();
                Ok(Some(out))
            }
        }
    })
}

/// An empty result (what DDL and SET return).
fn no_rows() -> QueryOutput {
    QueryOutput {
        schema: Arc::new(Schema::empty()),
        batches: vec![],
    }
}

/// How a statement reads the tables a dataset holds.
#[derive(Clone, Copy)]
struct Pinned<'a> {
    /// Read at these handles' versions instead of the newest.
    tables: &'a [Table],
    /// The first of them also exposes the row position column.
    positions: bool,
}

/// Runs a statement's future; a panic anywhere below becomes an error, so
/// none crosses the engine's boundary.
async fn guarded<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(SqlError::internal(format!("internal error: {msg}")))
        }
    }
}

/// `plan` with every operator's output yielding to the scheduler on
/// tokio's budget. A node that makes many batches from few (a cross join,
/// a huge expression over a small input) would otherwise hold its worker
/// until it ends: no other statement on that worker would run, and a
/// statement past its deadline, whose tasks are aborted at their next
/// yield, would compute on. EXPLAIN ANALYZE keeps its plan as it is, to
/// show it unchanged.
fn yielding(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.is::<AnalyzeExec>() {
        return Ok(plan);
    }
    let wrapped = plan.transform_up(|node| {
        Ok(Transformed::yes(
            Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
        ))
    })?;
    Ok(wrapped.data)
}

impl Engine {
    /// Also registers the index upkeep with storage, so every write of
    /// a process with an engine keeps its indexes' rules.
    pub fn new(location: Location, workspace: &str, root_path: &str) -> Engine {
        deeplake_index::upkeep::register();
        Engine {
            location,
            workspace: workspace.to_string(),
            root_path: root_path.to_string(),
            stats: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            settings: Mutex::new(BTreeMap::new()),
            base: Self::base_state(),
        }
    }

    /// Runs one SQL statement with `$1..$n` bound to `params`. A panic
    /// anywhere below becomes an error: none crosses this boundary.
    pub async fn execute(&self, sql: &str, params: &[Param]) -> Result<QueryOutput> {
        self.execute_pinned(sql, params, &[]).await
    }

    /// Like [`Engine::execute`], stopped with a `Timeout` error once
    /// `deadline` passes (see [`crate::Deadline`]).
    pub async fn execute_within(
        &self,
        sql: &str,
        params: &[Param],
        deadline: Option<Deadline>,
    ) -> Result<QueryOutput> {
        guarded(within(self.statement(sql, params, &[]), deadline)).await
    }

    /// Like [`Engine::execute`], with the tables in `pinned` read at the
    /// versions those handles hold instead of their newest: a dataset opened
    /// (or checked out) at one version answers its queries from that
    /// version. Such a statement may only read.
    pub async fn execute_pinned(
        &self,
        sql: &str,
        params: &[Param],
        pinned: &[Table],
    ) -> Result<QueryOutput> {
        guarded(self.statement(sql, params, pinned)).await
    }

    /// The positions (global live row indices, in the statement's order) of
    /// the rows a whole-row selection (`SELECT * FROM table WHERE ...
    /// ORDER BY ... LIMIT ...`) returns, with `table` read at its handle's
    /// version; `None` when the statement computes anything more, so its
    /// values have to be run for with [`Engine::execute_pinned`].
    pub async fn row_positions(
        &self,
        sql: &str,
        params: &[Param],
        table: &Table,
    ) -> Result<Option<Vec<u64>>> {
        guarded(self.positions(sql, params, table)).await
    }

    async fn positions(
        &self,
        sql: &str,
        params: &[Param],
        table: &Table,
    ) -> Result<Option<Vec<u64>>> {
        let mut statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})?;
        let mut stmt = match (statements.pop_front(), statements.is_empty()) {
            (Some(DFStatement::Statement(s)), true) => *s,
            _ => return Ok(None),
        };
        if !select_positions(&mut stmt, table.name()) {
            return Ok(None);
        }
        let pinned = Pinned {
            tables: std::slice::from_ref(table),
            positions: true,
        };
        let out = self.run(stmt, params, None, pinned).await?;
        Ok(Some(positions_of(&out)?))
    }

    async fn statement(
        &self,
        sql: &str,
        params: &[Param],
        pinned: &[Table],
    ) -> Result<QueryOutput> {
        let mut statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})?;
        if statements.len() != 1 {
            return Err(SqlError::bad_input(format!(
                "expected exactly one SQL statement, got {}",
                statements.len()
            )));
        }
        let mut explain = None;
        let stmt = match statements.pop_front() {
            Some(DFStatement::Statement(s)) => *s,
            Some(DFStatement::Explain(e)) => match *e.statement {
                DFStatement::Statement(s) if matches!(*s, Statement::Query(_)) => {
                    explain = Some(e.options);
                    *s
                }
                _ => return Err(SqlError::unsupported("EXPLAIN supports queries only")),
            },
            Some(DFStatement::CreateExternalTable(_)) => return Err(SqlError::unsupported(
                "CREATE EXTERNAL TABLE is not supported: SQL reaches only the workspace's tables",
            )),
            Some(DFStatement::CopyTo(_)) => {
                return Err(SqlError::unsupported(
                    "COPY is not supported: SQL reaches only the workspace's tables",
                ))
            }
            Some(other) => {
                return Err(SqlError::unsupported(format!(
                    "statement not supported: {other}"
                )));
            }
            None => return Err(SqlError::bad_input("empty statement")),
        };
        let index_ddl = matches!(
            &stmt,
            Statement::CreateIndex(_)
                | Statement::Drop {
                    object_type: ObjectType::Index,
                    ..
                }
        );
        match &stmt {
            Statement::Insert(_) | Statement::Delete(_) if !pinned.is_empty() => {
                return Err(SqlError::bad_input(
                    "a dataset at a fixed version is read-only: write through the client",
                ));
            }
            _ if index_ddl && !pinned.is_empty() => {
                return Err(SqlError::bad_input(
                    "a dataset at a fixed version is read-only: write through the client",
                ));
            }
            Statement::Query(_) | Statement::Insert(_) | Statement::Delete(_) => {}
            Statement::CreateIndex(ci) => return self.create_index(ci).await,
            Statement::Drop {
                object_type: ObjectType::Index,
                if_exists,
                names,
                ..
            } => return self.drop_indexes(names, *if_exists).await,
            Statement::Set(Set::SingleAssignment {
                variable, values, ..
            }) => return self.set(variable, values),
            Statement::ShowVariable { variable } => {
                let name: Vec<String> = variable.iter().map(|i| i.value.to_lowercase()).collect();
                return self.show(&name.join("."));
            }
            other => {
                let text = other.to_string();
                let verb = text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(SqlError::unsupported(format!(
                    "statement not supported: {verb} (supported: SELECT, WITH, VALUES, INSERT INTO, DELETE FROM, CREATE INDEX, DROP INDEX, SET and SHOW of deeplake.nprobe, SHOW deeplake.root_path)"
                )));
            }
        }
        let pinned = Pinned {
            tables: pinned,
            positions: false,
        };
        self.run(stmt, params, explain, pinned).await
    }

    fn show(&self, name: &str) -> Result<QueryOutput> {
        let value = match name {
            "deeplake.root_path" => self.root_path.clone(),
            NPROBE => self
                .setting(NPROBE)
                .unwrap_or_else(|| DEFAULT_NPROBE.to_string()),
            RERANK => self
                .setting(RERANK)
                .unwrap_or_else(|| DEFAULT_RERANK.to_string()),
            _ => {
                return Err(SqlError::bad_input(format!(
                    "unrecognized configuration parameter \"{name}\""
                )))
            }
        };
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![value]))],
        )
        .map_err(|e| SqlError::internal(e.to_string()))?;
        Ok(QueryOutput {
            schema,
            batches: vec![batch],
        })
    }

    fn setting(&self, name: &str) -> Option<String> {
        self.settings.lock().ok()?.get(name).cloned()
    }

    /// `SET name = value` (or `TO`, or `DEFAULT`) for this engine's session.
    fn set(&self, variable: &ObjectName, values: &[Expr]) -> Result<QueryOutput> {
        let name = crate::rewrite::object_name(variable).join(".");
        if !SETTINGS.contains(&name.as_str()) {
            return Err(SqlError::bad_input(format!(
                "unrecognized configuration parameter \"{name}\""
            )));
        }
        let value = match values {
            [Expr::Identifier(i)] if i.value.eq_ignore_ascii_case("default") => None,
            [v] => Some(crate::rewrite::const_text(v).unwrap_or_else(|| v.to_string())),
            _ => None,
        };
        let value = match value {
            None => None,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Some(n.to_string()),
                _ => {
                    return Err(SqlError::bad_input(format!(
                        "invalid value for parameter \"{name}\": \"{v}\" (a positive integer)"
                    )))
                }
            },
        };
        if let Ok(mut settings) = self.settings.lock() {
            match value {
                Some(v) => settings.insert(name, v),
                None => settings.remove(&name),
            };
        }
        Ok(no_rows())
    }

    /// The table among the workspace's that holds index `name`.
    async fn index_owner(&self, name: &str) -> Result<Option<Table>> {
        for t in self.location.list_tables().await? {
            let table = self.latest(&t).await?;
            if table.index(name).is_some() {
                return Ok(Some(table));
            }
        }
        Ok(None)
    }

    async fn create_index(&self, ci: &CreateIndex) -> Result<QueryOutput> {
        let (table, request, if_not_exists) = ddl::create_index(ci)?;
        if !self.exists(&table).await? {
            return Err(SqlError::relation_missing(&table));
        }
        // Index names are the schema's, as in PostgreSQL: unique across tables.
        if let Some(owner) = self.index_owner(&request.name).await? {
            return match if_not_exists {
                true => Ok(no_rows()),
                false => Err(SqlError::new(
                    SqlErrorKind::Conflict,
                    format!(
                        "relation \"{}\" already exists (an index on table \"{}\")",
                        request.name,
                        owner.name()
                    ),
                )),
            };
        }
        let mut table = self.latest(&table).await?;
        deeplake_index::build::create_index(&mut table, request, if_not_exists)
            .await
            .map_err(SqlError::from)?;
        Ok(no_rows())
    }

    async fn drop_indexes(&self, names: &[ObjectName], if_exists: bool) -> Result<QueryOutput> {
        for n in names {
            let name = ddl::plain_name(n, "index")?;
            match self.index_owner(&name).await? {
                Some(mut table) => match table.drop_index(&name).await {
                    Ok(()) => {}
                    Err(StorageError::IndexNotFound(_)) if if_exists => {}
                    Err(e) => return Err(e.into()),
                },
                None if if_exists => {}
                None => {
                    return Err(SqlError::not_found(format!(
                        "index \"{name}\" does not exist"
                    )))
                }
            }
        }
        Ok(no_rows())
    }

    /// The rows an index narrows a top-k search to, with a line saying
    /// how (for EXPLAIN); None when no index serves it or the exact scan
    /// costs no more.
    async fn index_rows(
        &self,
        search: &TopKSearch,
        table: &Table,
    ) -> Result<Option<(Vec<u64>, String)>> {
        const VECTOR: &[IndexKind] = &[IndexKind::Clustered, IndexKind::ClusteredQuantized];
        let find = |column: &str, kinds: &[IndexKind]| {
            table
                .indexes()
                .iter()
                .find(|i| kinds.iter().any(|k| k.served_by(i, column)))
        };
        let (kinds, text_index) = match &search.wanted {
            Wanted::Vector(_) => (VECTOR, None),
            Wanted::Matrix(_) => (&[IndexKind::PooledQuantized][..], None),
            Wanted::Text(_) => (&[IndexKind::Bm25][..], None),
            // A hybrid's two lists are each side's best over the whole
            // table, before any filter: with one, only the scan has them.
            Wanted::Hybrid { .. } if search.filter.is_some() => return Ok(None),
            Wanted::Hybrid { text_column, .. } => match find(text_column, &[IndexKind::Bm25]) {
                Some(t) => (VECTOR, Some(t)),
                None => return Ok(None),
            },
        };
        let Some(index) = find(&search.column, kinds) else {
            return Ok(None);
        };
        // A limit past the table's rows wants every row: the scan's job.
        if search.depth as u64 >= table.len() {
            return Ok(None);
        }
        let frags = &table.manifest().fragments;
        let unindexed = |index: &IndexMeta| -> u64 {
            table
                .unindexed(index)
                .iter()
                .map(|&i| frags[i].live_rows())
                .sum()
        };
        // Mostly unindexed: the scan reads no more than the index would.
        if std::iter::once(index)
            .chain(text_index)
            .any(|i| unindexed(i) * 2 > table.len())
        {
            return Ok(None);
        }
        let nprobe = self
            .setting(NPROBE)
            .and_then(|v| v.parse().ok())
            .or_else(|| index_param(index, "nprobe"))
            .unwrap_or(DEFAULT_NPROBE);
        let allowed = match &search.filter {
            None => None,
            Some(filter) => {
                let pinned = Pinned {
                    tables: std::slice::from_ref(table),
                    positions: true,
                };
                let out = Box::pin(self.run(filter.clone(), &[], None, pinned)).await?;
                let rows = positions_of(&out)?;
                if (rows.len() as u64) <= (table.len() / EXACT_SHARE).max(256) {
                    let note = format!(
                        "index {} not used: the filter passes {} rows, all scored exactly",
                        index.name,
                        rows.len()
                    );
                    let mut rows = rows;
                    rows.sort_unstable();
                    return Ok(Some((rows, note)));
                }
                Some(RowSet::new(&rows, table.len()))
            }
        };
        // The best rows among a share s of the table lie as far out as the
        // best k/s rows of all: probe more partitions the fewer pass.
        let nprobe = match &allowed {
            Some(a) if !a.is_empty() => {
                let share = a.len() as f64 / table.len().max(1) as f64;
                (nprobe as f64 / share.sqrt()).ceil() as usize
            }
            _ => nprobe,
        };
        let mut k = search.depth + CANDIDATE_MARGIN;
        let quantized = [
            IndexKind::ClusteredQuantized,
            IndexKind::PooledQuantized,
            IndexKind::Hybrid,
        ];
        if quantized.iter().any(|q| index.index_type == q.name()) {
            // Approximate scores: the exact re-score picks among more.
            let rerank = self
                .setting(RERANK)
                .and_then(|v| v.parse().ok())
                .or_else(|| index_param(index, "rerank"))
                .unwrap_or(DEFAULT_RERANK);
            k = k.max(rerank);
        }
        let found = match &search.wanted {
            Wanted::Vector(v) => {
                vector_candidates(table, index, v, k, nprobe, allowed.as_ref()).await
            }
            Wanted::Matrix(m) => {
                matrix_candidates(table, index, m, k, nprobe, allowed.as_ref()).await
            }
            Wanted::Text(text) => {
                let stats = self.corpus_stats(table, &search.column).await?;
                let query = Bm25Query::new(text, &stats);
                text_candidates(table, index, &query, k, allowed.as_ref()).await
            }
            Wanted::Hybrid {
                vector,
                text,
                text_column,
            } => {
                // Each side's list is its best `depth` rows: the union of
                // the two indexes' candidates holds every row scoring > 0.
                let stats = self.corpus_stats(table, text_column).await?;
                let query = Bm25Query::new(text, &stats);
                let vec = vector_candidates(table, index, vector, k, nprobe, None)
                    .await
                    .map_err(SqlError::from)?;
                let Some(text_index) = text_index else {
                    return Ok(None);
                };
                text_candidates(
                    table,
                    text_index,
                    &query,
                    search.depth + CANDIDATE_MARGIN,
                    None,
                )
                .await
                .map(|t| t.union(vec))
            }
        }
        .map_err(SqlError::from)?;
        // Fewer matching rows than asked for: the rest of the result are
        // rows scoring 0 (or nothing matches), which only the scan lists.
        if matches!(search.wanted, Wanted::Text(_)) && found.from_index < search.depth {
            return Ok(None);
        }
        let probes = match &search.wanted {
            Wanted::Text(_) => String::new(),
            _ => format!("nprobe {nprobe}, "),
        };
        let with_text = match text_index {
            Some(t) => format!(
                " and index {} ({}) on {}",
                t.name,
                t.index_type,
                t.columns.last().map_or("", String::as_str)
            ),
            None => String::new(),
        };
        let note = format!(
            "index {} ({}) on {}({}){with_text}: {probes}{} candidate rows ({} from {} segments, {} unindexed){}",
            index.name,
            index.index_type,
            table.name(),
            search.column,
            found.rows.len(),
            found.from_index,
            found.segments,
            found.unindexed,
            match &allowed {
                Some(a) => format!(", among the {} rows the filter passes", a.len()),
                None => String::new(),
            }
        );
        Ok(Some((found.rows, note)))
    }

    /// The rows lookup indexes narrow a WHERE to, with a line saying how
    /// (for EXPLAIN); None when no index answers it or too many rows
    /// would be left for narrowing to pay.
    async fn lookup_rows(
        &self,
        filter: &FilterSearch,
        table: &Table,
    ) -> Result<Option<(Vec<u64>, String)>> {
        let mut used = Vec::new();
        let Some(rows) = narrow_rows(&filter.narrow, table, &mut used).await? else {
            return Ok(None);
        };
        if rows.len() as u64 > table.len() / LOOKUP_SHARE {
            return Ok(None);
        }
        used.sort();
        used.dedup();
        let note = format!(
            "{} on {}: {} candidate rows for the WHERE",
            used.join(", "),
            table.name(),
            rows.len()
        );
        Ok(Some((rows, note)))
    }

    async fn run(
        &self,
        mut stmt: Statement,
        params: &[Param],
        explain: Option<ExplainStatementOptions>,
        pinned: Pinned<'_>,
    ) -> Result<QueryOutput> {
        bind_params(&mut stmt, params).map_err(SqlError::bad_input)?;
        // `pg_indexes` is the catalog's, as PostgreSQL's search path has it.
        let _ = visit_relations_mut(&mut stmt, |name| {
            let parts = crate::rewrite::object_name(name);
            if let [n] = parts.as_slice() {
                if PG_CATALOG_TABLES.contains(&n.as_str()) {
                    *name = ObjectName::from(vec![Ident::new(PG_CATALOG), Ident::new(n.clone())]);
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        let mut opened: HashMap<String, Table> = HashMap::new();
        let mut scope = Vec::new();
        let mut wants_info = false;
        let mut named = Vec::new();
        for (parts, alias) in relations(&stmt) {
            let (schema, name) = match parts.as_slice() {
                [n] => (None, n),
                [s, n] | [_, s, n] => (Some(s.as_str()), n),
                _ => continue,
            };
            match schema {
                Some(INFORMATION_SCHEMA) | Some(PG_CATALOG) => wants_info = true,
                None | Some(SCHEMA) => named.push((name.clone(), alias)),
                Some(_) => {}
            }
        }
        // Only a statement that shows the catalog needs the workspace's
        // listing (one request per table on object storage); any other
        // opens just the tables it names.
        let lists = wants_info || crate::rewrite::calls(&stmt, SYNC_FUNCTION);
        let names = match lists {
            true => self.location.list_tables().await?,
            false => vec![],
        };
        for (name, alias) in named {
            // A name that cannot be a table (a CTE's, say) never reaches storage.
            if invalid_reason(&name).is_some() || (lists && !names.contains(&name)) {
                continue;
            }
            if !opened.contains_key(&name) {
                let table = match pinned.tables.iter().find(|t| t.name() == name) {
                    Some(t) => t.clone(),
                    None => match self.latest(&name).await {
                        Ok(t) => t,
                        // Not a table: a CTE's name, or one the plan reports.
                        Err(_) if !self.exists(&name).await? => continue,
                        Err(e) => return Err(e),
                    },
                };
                opened.insert(name.clone(), table);
            }
            scope.push(ScopeTable {
                name: name.clone(),
                alias,
                schema: opened[&name].schema(),
            });
        }
        let names = match lists {
            true => names,
            false => opened.keys().cloned().collect(),
        };
        let mut restricted = HashMap::new();
        let mut index_note = None;
        let mut narrowed = None;
        let text_search = top_k_search(&stmt, &scope);
        let searched = text_search.is_some();
        if let Some(search) = text_search {
            if let Some(table) = opened.get(&search.table) {
                if let Some((rows, note)) = self.index_rows(&search, table).await? {
                    let rows = Arc::new(rows);
                    restricted.insert(search.table.clone(), rows.clone());
                    index_note = Some(note);
                    narrowed = Some((table.clone(), rows));
                }
            }
        }
        if narrowed.is_none() {
            let has_column = |t: &str, c: &str| {
                scope
                    .iter()
                    .any(|s| s.name == t && s.schema.field_with_name(c).is_ok())
            };
            if let Some(filter) = filter_search(&stmt, has_column) {
                if let Some(table) = opened.get(&filter.table) {
                    if let Some((rows, note)) = self.lookup_rows(&filter, table).await? {
                        restricted.insert(filter.table.clone(), Arc::new(rows));
                        index_note = Some(note);
                    }
                }
            }
        }
        let depth = result_depth(&stmt).unwrap_or(HYBRID_DEPTH_DEFAULT).max(1);
        let searches = rewrite(&mut stmt, &scope, depth).map_err(SqlError::bad_input)?;

        let mut udfs = Vec::new();
        udfs.push(ScalarUDF::new_from_impl(SyncTable::new(names.clone())));
        for s in &searches {
            udfs.push(self.prepare(s, &opened, &restricted).await?);
        }
        // The candidates an index narrowed to all pass the statement's
        // WHERE: a simple enough statement is answered without planning.
        if let (Some((table, rows)), None, false) = (&narrowed, &explain, pinned.positions) {
            let shape = direct_shape(&stmt, table.name(), &table.schema());
            if let Some(direct) = shape {
                if let Some(udf) = udfs.iter().find(|u| u.name() == direct.udf()) {
                    let batch = direct.run(table, rows, udf).await?;
                    return Ok(QueryOutput {
                        schema: batch.schema(),
                        batches: vec![batch],
                    });
                }
            }
        }

        let positions = pinned
            .tables
            .first()
            .filter(|_| pinned.positions)
            .map(Table::name);
        let mut statement = DFStatement::Statement(Box::new(stmt));
        let explaining = explain.is_some();
        if let Some(options) = explain {
            statement = DFStatement::Explain(ExplainStatement {
                options,
                statement: Box::new(statement),
            });
        }
        let mut ctx = self
            .session(
                &names,
                &opened,
                positions,
                &restricted,
                wants_info,
                udfs.clone(),
            )
            .await?;
        // A search the statement's text did not show (inside a CTE or a
        // subquery) is found in the optimized plan; the statement is then
        // planned again over the rows its index picked. Only such a
        // statement keeps a copy to plan again.
        let may_replan =
            !searched && restricted.is_empty() && !searches.is_empty() && positions.is_none();
        let again = may_replan.then(|| statement.clone());
        let mut plan = ctx.state().statement_to_plan(statement).await?;
        if let Some(statement) = again {
            let mut notes = Vec::new();
            let optimized = ctx.state().optimize(&plan)?;
            let inner = match &optimized {
                LogicalPlan::Explain(e) => e.plan.as_ref(),
                LogicalPlan::Analyze(a) => a.input.as_ref(),
                other => other,
            };
            for search in plan_searches(inner, &searches) {
                let Some(table) = opened.get(&search.table) else {
                    continue;
                };
                if let Some((rows, note)) = self.index_rows(&search, table).await? {
                    restricted.insert(search.table.clone(), Arc::new(rows));
                    notes.push(note);
                }
            }
            if !notes.is_empty() {
                index_note = Some(notes.join("; "));
                ctx = self
                    .session(&names, &opened, positions, &restricted, wants_info, udfs)
                    .await?;
                plan = ctx.state().statement_to_plan(statement).await?;
            }
        }
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_statements(false)
            .verify_plan(&plan)?;
        let df = ctx.execute_logical_plan(plan).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let task = ctx.task_ctx();
        let physical = yielding(df.create_physical_plan().await?)?;
        let mut batches = datafusion::physical_plan::collect(physical, task).await?;
        if let (true, Some(note)) = (explaining, index_note) {
            // EXPLAIN says which index narrowed the scan, and how.
            let columns = (0..schema.fields().len())
                .map(|i| match i {
                    0 => Arc::new(StringArray::from(vec!["deeplake_index"])) as _,
                    _ => Arc::new(StringArray::from(vec![note.clone()])) as _,
                })
                .collect();
            batches.push(
                RecordBatch::try_new(schema.clone(), columns)
                    .map_err(|e| SqlError::internal(e.to_string()))?,
            );
        }
        Ok(QueryOutput { schema, batches })
    }

    /// Configuration and built-in functions every statement starts from.
    fn base_state() -> SessionState {
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let options = config.options_mut();
        options.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
        options.sql_parser.map_string_types_to_utf8view = false;
        options.execution.parquet.schema_force_view_types = false;
        SessionStateBuilder::new()
            .with_config(config)
            .with_scalar_functions(
                SessionStateDefaults::default_scalar_functions()
                    .into_iter()
                    .chain(builtins().into_iter().map(Arc::new))
                    .collect(),
            )
            .with_aggregate_functions(SessionStateDefaults::default_aggregate_functions())
            .with_window_functions(SessionStateDefaults::default_window_functions())
            .with_expr_planners(SessionStateDefaults::default_expr_planners())
            .build()
    }

    async fn session(
        &self,
        names: &[String],
        opened: &HashMap<String, Table>,
        positions: Option<&str>,
        restricted: &HashMap<String, Arc<Vec<u64>>>,
        wants_info: bool,
        udfs: Vec<ScalarUDF>,
    ) -> Result<SessionContext> {
        let catalog = Arc::new(MemoryCatalogProvider::new());
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        catalogs.register_catalog(CATALOG.to_string(), catalog.clone());
        // The base state is shared; the catalog list is per statement.
        let mut state = SessionStateBuilder::new_from_existing(self.base.clone())
            .with_catalog_list(catalogs)
            .build();
        for udf in udfs {
            state.register_udf(Arc::new(udf))?;
        }
        let ctx = SessionContext::new_with_state(state);
        catalog.register_schema(
            SCHEMA,
            Arc::new(WorkspaceSchema::new(
                self.location.clone(),
                names.to_vec(),
                opened,
                positions,
                restricted,
            )),
        )?;
        if wants_info {
            let mut tables = Vec::with_capacity(names.len());
            for n in names {
                match opened.get(n) {
                    Some(t) => tables.push(t.clone()),
                    None => tables.push(self.latest(n).await?),
                }
            }
            catalog.register_schema(
                INFORMATION_SCHEMA,
                information_schema(&self.workspace, &tables)?,
            )?;
            catalog.register_schema(PG_CATALOG, pg_catalog(&tables)?)?;
        }
        Ok(ctx)
    }

    async fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.location.table_exists(name).await?)
    }

    /// The latest committed version of table `name`.
    async fn latest(&self, name: &str) -> Result<Table> {
        let cached = self.handles.lock().ok().and_then(|h| h.get(name).cloned());
        let table = match cached {
            Some(mut t) => match t.refresh().await {
                Ok(_) => t,
                Err(StorageError::TableNotFound(_)) => self.location.open_table(name).await?,
                Err(e) => return Err(e.into()),
            },
            None => self.location.open_table(name).await?,
        };
        if let Ok(mut h) = self.handles.lock() {
            h.insert(name.to_string(), table.clone());
        }
        Ok(table)
    }

    async fn corpus_stats(&self, table: &Table, column: &str) -> Result<Arc<CorpusStats>> {
        let key = (
            table.name().to_string(),
            table.version(),
            column.to_string(),
        );
        if let Some(s) = self.stats.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(s);
        }
        let bm25 = table
            .indexes()
            .iter()
            .find(|i| IndexKind::Bm25.served_by(i, column));
        let stats = match bm25 {
            // The postings count the rows they cover; only the rest is read.
            Some(index) => text_stats(table, index).await.map_err(SqlError::from)?,
            None => {
                let mut stats = CorpusStats::default();
                let mut scan = table.scan(Some(&[column]))?;
                while let Some(batch) = scan.try_next().await? {
                    stats
                        .add(batch.column(0))
                        .map_err(datafusion::error::DataFusionError::from)?;
                }
                stats
            }
        };
        let stats = Arc::new(stats);
        if let Ok(mut m) = self.stats.lock() {
            m.retain(|k, _| k.0 != key.0 || k.2 != key.2);
            m.insert(key, stats.clone());
        }
        Ok(stats)
    }

    /// The scoring function of `search`; a hybrid's two lists are taken
    /// over the rows an index narrowed its table to, when it did.
    async fn prepare(
        &self,
        search: &Search,
        opened: &HashMap<String, Table>,
        restricted: &HashMap<String, Arc<Vec<u64>>>,
    ) -> Result<ScalarUDF> {
        let table_of = |t: &str| opened.get(t).ok_or_else(|| SqlError::relation_missing(t));
        match search {
            Search::Vector { udf, vector } => Ok(ScalarUDF::new_from_impl(Bound::new(
                udf.clone(),
                Arc::new(VectorQuery::new(vector.clone())),
            ))),
            Search::Bm25 {
                udf,
                table,
                column,
                query,
            } => {
                let stats = self.corpus_stats(table_of(table)?, column).await?;
                let q = Arc::new(Bm25Query::new(query, &stats));
                Ok(ScalarUDF::new_from_impl(Bound::new(udf.clone(), q)))
            }
            Search::Hybrid {
                udf,
                table,
                vector_column,
                text_column,
                vector,
                query,
                w_vec,
                w_text,
                fusion,
                depth,
            } => {
                let t = table_of(table)?;
                let field = t
                    .schema()
                    .field_with_name(vector_column)
                    .map_err(|e| SqlError::bad_input(e.to_string()))?
                    .clone();
                if let DataType::FixedSizeList(_, n) = field.data_type() {
                    if *n as usize != vector.len() {
                        return Err(SqlError::bad_input(format!(
                            "vector size mismatch: the column has {n} dimensions, the query has {}",
                            vector.len()
                        )));
                    }
                }
                let stats = self.corpus_stats(t, text_column).await?;
                let text = Arc::new(Bm25Query::new(query, &stats));
                let mut vec_scores = Vec::new();
                let mut text_scores = Vec::new();
                let columns = [vector_column.as_str(), text_column.as_str()];
                let mut scan = match restricted.get(table) {
                    Some(rows) => {
                        let (t, rows) = (t.clone(), rows.clone());
                        let (v, x) = (vector_column.clone(), text_column.clone());
                        futures::stream::once(async move {
                            t.take(&rows, Some(&[v.as_str(), x.as_str()])).await
                        })
                        .boxed()
                    }
                    None => t.scan(Some(&columns))?,
                };
                while let Some(batch) = scan.try_next().await? {
                    vec_scores.extend(
                        vector_scores(batch.column(0), vector)?
                            .into_iter()
                            .flatten(),
                    );
                    let ts = score_texts(batch.column(1), |s| text.score(s))?;
                    text_scores.extend(ts.iter().flatten().filter(|s| *s > 0.0));
                }
                let q = HybridQuery {
                    vector: vector.clone(),
                    text,
                    w_vec: *w_vec,
                    w_text: *w_text,
                    fusion: *fusion,
                    vec_top: TopList::new(vec_scores, *depth),
                    text_top: TopList::new(text_scores, *depth),
                };
                Ok(ScalarUDF::new_from_impl(Bound::new(
                    udf.clone(),
                    Arc::new(q),
                )))
            }
        }
    }
}
