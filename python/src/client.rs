//! `NativeClient`: the engine behind `deeplake.Client`. Python keeps the
//! argument checks and the spec's call shapes; this side converts data and
//! runs everything heavy with the GIL released.

use std::sync::Arc;
use std::time::Duration;

use arrow_pyarrow::ToPyArrow;
use deeplake_client::{
    Chunking, Client, ClientError, CocoPanoptic, FileOptions, Format, IngestOptions, IngestResult,
    Mode, QueryOutput, Row, Value,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::convert;
use crate::dataset::NativeDataset;
use crate::errors;
use crate::format::{remember, Failure, PyFormat};
use crate::interrupt::interruptible;

#[pyclass(frozen, module = "deeplake._native")]
pub struct NativeClient {
    inner: Arc<Client>,
}

/// Settings shared by every kind of ingest.
struct Settings {
    schema: Vec<(String, String)>,
    mode: Mode,
    files: FileOptions,
}

fn settings(
    schema: Option<Vec<(String, String)>>,
    mode: &str,
    chunk_size: i64,
    chunk_overlap: i64,
    workers: usize,
) -> PyResult<Settings> {
    let mode = mode
        .parse::<Mode>()
        .map_err(|e: ClientError| errors::client(e))?;
    let chunking = Chunking::new(chunk_size, chunk_overlap)
        .map_err(|e| errors::client(ClientError::from(e)))?;
    if workers == 0 {
        return Err(errors::ingest("workers must be positive."));
    }
    Ok(Settings {
        schema: schema.unwrap_or_default(),
        mode,
        files: FileOptions {
            workers,
            chunking,
            ..FileOptions::default()
        },
    })
}

fn result_dict(py: Python<'_>, r: IngestResult) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    d.set_item("table_name", r.table_name)?;
    d.set_item("row_count", r.row_count)?;
    d.set_item("dataset_path", r.dataset_path)?;
    if r.skipped > 0 {
        d.set_item("skipped", r.skipped)?;
    }
    Ok(d.unbind())
}

/// Runs an ingest off the GIL with Ctrl-C live (see `interrupt`); the
/// progress callback (and a format's `normalize()`) take the GIL only while
/// Python code runs. The first exception user code raised is chained onto
/// the `IngestError`.
fn run_ingest(
    py: Python<'_>,
    on_progress: Option<Py<PyAny>>,
    failure: Failure,
    settings: Settings,
    work: impl FnOnce(IngestOptions<'_>) -> deeplake_client::Result<IngestResult> + Send,
) -> PyResult<Py<PyDict>> {
    let result = interruptible(py, |cancel| {
        let mut callback = |done: u64, total: i64| -> deeplake_client::Result<()> {
            let Some(f) = &on_progress else {
                return Ok(());
            };
            Python::attach(|py| {
                f.call1(py, (done, total)).map(drop).map_err(|e| {
                    ClientError::ingest(remember(&failure, py, "on_progress callback", e))
                })
            })
        };
        work(IngestOptions {
            schema: settings.schema,
            mode: settings.mode,
            on_progress: Some(&mut callback),
            files: settings.files,
            cancel: cancel.clone(),
            ..Default::default()
        })
    })?;
    match result {
        Ok(r) => result_dict(py, r),
        Err(e) => Err(errors::ingest_failure(py, &e, &failure)),
    }
}

/// Rows as `list[dict]`, with the column names made once.
fn rows_to_py(py: Python<'_>, rows: Vec<Row>) -> PyResult<Py<PyList>> {
    let json = py.import("deeplake.managed.errors")?.getattr("Json")?;
    let out = PyList::empty(py);
    let Some(first) = rows.first() else {
        return Ok(out.unbind());
    };
    let names: Vec<Bound<'_, PyString>> = first
        .columns()
        .iter()
        .map(|c| PyString::intern(py, c))
        .collect();
    for row in &rows {
        let d = PyDict::new(py);
        for (name, v) in names.iter().zip(row.values()) {
            d.set_item(name, convert::to_py(py, v, &json)?)?;
        }
        out.append(d)?;
    }
    Ok(out.unbind())
}

/// A query result as `(pyarrow schema, [pyarrow RecordBatch])`.
pub fn arrow_to_py(py: Python<'_>, out: &QueryOutput) -> PyResult<(Py<PyAny>, Vec<Py<PyAny>>)> {
    let schema = out.schema.as_ref().to_pyarrow(py)?.unbind();
    let batches = out
        .batches
        .iter()
        .map(|b| b.to_pyarrow(py).map(Bound::unbind))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((schema, batches))
}

pub fn to_values(values: Option<Vec<Bound<'_, PyAny>>>) -> PyResult<Vec<Value>> {
    values
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            convert::value(v).map_err(|e| {
                errors::client(ClientError::table(format!(
                    "Query failed: parameter ${}: {}",
                    i + 1,
                    Python::attach(|py| e.value(py).to_string())
                )))
            })
        })
        .collect()
}

/// A timeout in seconds as a `Duration`; it must be a positive, finite number.
fn seconds(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) => Duration::try_from_secs_f64(t)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Some)
            .ok_or_else(|| {
                errors::client(ClientError::table(format!(
                    "Query failed: timeout must be a positive number of seconds, got {t}."
                )))
            }),
    }
}

type Conditions<'py> = Vec<(String, Vec<Bound<'py, PyAny>>)>;

/// A column as `describe_table` hands it to Python: name, spec type, SQL
/// type, index type and the index's parameters (a dict).
type DescribedColumn = (
    String,
    String,
    String,
    Option<String>,
    std::collections::BTreeMap<String, String>,
);

#[pymethods]
impl NativeClient {
    #[new]
    #[pyo3(signature = (token=None, workspace_id=None, api_url=None))]
    fn new(
        py: Python<'_>,
        token: Option<String>,
        workspace_id: Option<String>,
        api_url: Option<String>,
    ) -> PyResult<Self> {
        let client = py
            .detach(|| {
                Client::new(
                    token.as_deref(),
                    workspace_id.as_deref(),
                    api_url.as_deref(),
                )
            })
            .map_err(errors::client)?;
        Ok(NativeClient {
            inner: Arc::new(client),
        })
    }

    #[getter]
    fn org_id(&self) -> String {
        self.inner.org_id().to_string()
    }

    #[getter]
    fn workspace_id(&self) -> String {
        self.inner.workspace_id().to_string()
    }

    #[getter]
    fn root_path(&self) -> String {
        self.inner.root_path().to_string()
    }

    fn dataset_path(&self, table: &str) -> String {
        self.inner.dataset_path(table)
    }

    fn list_tables(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_tables())
            .map_err(errors::client)
    }

    fn drop_table(&self, py: Python<'_>, table: &str, if_exists: bool) -> PyResult<()> {
        py.detach(|| self.inner.drop_table(table, if_exists))
            .map_err(errors::client)
    }

    /// Creates an empty table from `(column, type name)` pairs.
    fn create_table(
        &self,
        py: Python<'_>,
        table: &str,
        schema: Vec<(String, String)>,
    ) -> PyResult<()> {
        let mut columns = Vec::with_capacity(schema.len());
        for (col, ty) in schema {
            let parsed: deeplake_client::SpecType = ty.parse().map_err(|e| {
                errors::client(ClientError::table(format!(
                    "Invalid type for column '{col}': {e}"
                )))
            })?;
            columns.push((col, parsed));
        }
        py.detach(|| self.inner.create_table(table, &columns))
            .map_err(errors::client)
    }

    /// `(columns as (name, spec type, SQL type, index type or None), row
    /// count, version)`.
    #[allow(clippy::type_complexity)]
    fn describe_table(
        &self,
        py: Python<'_>,
        table: &str,
    ) -> PyResult<(Vec<DescribedColumn>, u64, u64)> {
        let info = py
            .detach(|| self.inner.describe_table(table))
            .map_err(errors::client)?;
        let columns = info
            .columns
            .into_iter()
            .map(|c| {
                let index = c.index.map(|i| i.1);
                (c.name, c.spec_type, c.sql_type, index, c.index_params)
            })
            .collect();
        Ok((columns, info.row_count, info.version))
    }

    #[pyo3(signature = (table, column, index_type=None, dimension=None))]
    fn create_index(
        &self,
        py: Python<'_>,
        table: &str,
        column: &str,
        index_type: Option<&str>,
        dimension: Option<usize>,
    ) -> PyResult<()> {
        py.detach(|| {
            self.inner
                .create_index(table, column, index_type, dimension)
        })
        .map_err(errors::client)
    }

    fn drop_index(
        &self,
        py: Python<'_>,
        table: &str,
        column: &str,
        if_exists: bool,
    ) -> PyResult<()> {
        py.detach(|| self.inner.drop_index(table, column, if_exists))
            .map_err(errors::client)
    }

    #[getter]
    fn is_remote(&self) -> bool {
        self.inner.is_remote()
    }

    fn open_table(&self, py: Python<'_>, table: &str) -> PyResult<NativeDataset> {
        let ds = py
            .detach(|| self.inner.open_table(table))
            .map_err(errors::client)?;
        Ok(NativeDataset::new(ds))
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (table, columns, schema=None, on_progress=None, chunk_size=1000, chunk_overlap=200, mode="create", workers=4, pdf_dpi=300))]
    fn ingest(
        &self,
        py: Python<'_>,
        table: &str,
        columns: Vec<(String, Bound<'_, PyAny>)>,
        schema: Option<Vec<(String, String)>>,
        on_progress: Option<Py<PyAny>>,
        chunk_size: i64,
        chunk_overlap: i64,
        mode: &str,
        workers: usize,
        pdf_dpi: i64,
    ) -> PyResult<Py<PyDict>> {
        // The range itself is checked with the other file options.
        let pdf_dpi = u32::try_from(pdf_dpi).map_err(|_| {
            errors::ingest(format!(
                "pdf_dpi must be between 1 and 2400, got {pdf_dpi}."
            ))
        })?;
        let mut settings = settings(schema, mode, chunk_size, chunk_overlap, workers)?;
        settings.files.pdf_dpi = pdf_dpi;
        let data = columns
            .iter()
            .map(|(name, obj)| Ok((name.clone(), convert::column(name, obj)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let client = self.inner.clone();
        run_ingest(py, on_progress, Failure::default(), settings, move |opts| {
            client.ingest(table, data, opts)
        })
    }

    /// A format object (`normalize()`, optional `schema()`) or the built-in
    /// COCO panoptic reader when `coco` is `(images_dir, masks_dir,
    /// annotations, batch_size)`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (table, format, schema=None, on_progress=None, chunk_size=1000, chunk_overlap=200, mode="create", coco=None))]
    fn ingest_format(
        &self,
        py: Python<'_>,
        table: &str,
        format: Bound<'_, PyAny>,
        schema: Option<Vec<(String, String)>>,
        on_progress: Option<Py<PyAny>>,
        chunk_size: i64,
        chunk_overlap: i64,
        mode: &str,
        coco: Option<(String, String, String, usize)>,
    ) -> PyResult<Py<PyDict>> {
        let settings = settings(schema, mode, chunk_size, chunk_overlap, 4)?;
        let failure = Failure::default();
        let mut source: Box<dyn Format> = match coco {
            Some((images, masks, annotations, rows)) => {
                Box::new(CocoPanoptic::new(images, masks, annotations).with_batch_size(rows))
            }
            None => match PyFormat::new(&format, failure.clone()) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    let message = remember(&failure, py, "format schema()", e);
                    return Err(errors::ingest_failure(
                        py,
                        &ClientError::ingest(message),
                        &failure,
                    ));
                }
            },
        };
        let client = self.inner.clone();
        run_ingest(py, on_progress, failure, settings, move |opts| {
            client.ingest_format(table, source.as_mut(), opts)
        })
    }

    /// `timeout` is in seconds; `None` lets the query run to its end.
    #[pyo3(signature = (sql, params=None, timeout=None))]
    fn query(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<Vec<Bound<'_, PyAny>>>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyList>> {
        let params = to_values(params)?;
        let timeout = seconds(timeout)?;
        let rows = interruptible(py, |cancel| {
            self.inner.query_until(sql, &params, timeout, cancel)
        })?
        .map_err(errors::client)?;
        rows_to_py(py, rows)
    }

    /// The result as `(pyarrow schema, [pyarrow RecordBatch])`, without
    /// going through Python objects.
    #[pyo3(signature = (sql, params=None, timeout=None))]
    fn query_arrow(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<Vec<Bound<'_, PyAny>>>,
        timeout: Option<f64>,
    ) -> PyResult<(Py<PyAny>, Vec<Py<PyAny>>)> {
        let params = to_values(params)?;
        let timeout = seconds(timeout)?;
        let out = interruptible(py, |cancel| {
            self.inner.query_arrow_until(sql, &params, timeout, cancel)
        })?
        .map_err(errors::client)?;
        arrow_to_py(py, &out)
    }

    /// The fluent builder's SQL: `(sql, params)`, or the builder's error.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (table, columns, conditions, order_by, limit=None, offset=None))]
    fn select_sql(
        &self,
        py: Python<'_>,
        table: &str,
        columns: Option<Vec<String>>,
        conditions: Conditions<'_>,
        order_by: Vec<String>,
        limit: Option<u64>,
        offset: Option<u64>,
    ) -> PyResult<(String, Py<PyList>)> {
        let mut q = self.inner.table(table);
        if let Some(cols) = columns {
            q = q.select(cols);
        }
        for (cond, ps) in conditions {
            q = q.where_(&cond, to_values(Some(ps))?);
        }
        for clause in order_by {
            q = q.order_by(&clause);
        }
        if let Some(n) = limit {
            q = q.limit(n);
        }
        if let Some(n) = offset {
            q = q.offset(n);
        }
        let (sql, values) = q.to_sql().map_err(errors::client)?;
        let json = py.import("deeplake.managed.errors")?.getattr("Json")?;
        let list = PyList::empty(py);
        for v in &values {
            list.append(convert::to_py(py, v, &json)?)?;
        }
        Ok((sql, list.unbind()))
    }
}

/// The canonical name of an index type spelling (`quantized` →
/// `clustered_quantized`); an unknown one is a `ValueError`.
#[pyfunction]
pub fn canonical_index_type(index_type: &str) -> PyResult<&'static str> {
    deeplake_client::canonical_index_type(index_type)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.message().to_string()))
}
