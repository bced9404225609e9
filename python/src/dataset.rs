//! `NativeDataset`: a table opened for training. Reads come back as pyarrow
//! record batches (zero-copy over the C data interface); Python turns them
//! into numpy arrays, lists and rows.

use std::sync::{Mutex, RwLock};

use arrow_array::{Array, BinaryArray, LargeBinaryArray, UInt64Array};
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use deeplake_client::{Batches, ClientError, Dataset};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use crate::client::{arrow_to_py, to_values};
use crate::errors;

#[pyclass(frozen, module = "deeplake._native")]
pub struct NativeDataset {
    inner: RwLock<Dataset>,
}

impl NativeDataset {
    pub fn new(ds: Dataset) -> NativeDataset {
        NativeDataset {
            inner: RwLock::new(ds),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Dataset) -> deeplake_client::Result<T>) -> PyResult<T> {
        let ds = self
            .inner
            .read()
            .map_err(|_| errors::client(ClientError::table("dataset lock poisoned")))?;
        f(&ds).map_err(errors::client)
    }
}

fn names(columns: &Option<Vec<String>>) -> Option<Vec<&str>> {
    columns
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect())
}

#[pymethods]
impl NativeDataset {
    fn __len__(&self) -> PyResult<usize> {
        self.read(|d| Ok(d.len() as usize))
    }

    #[getter]
    fn name(&self) -> PyResult<String> {
        self.read(|d| Ok(d.name().to_string()))
    }

    #[getter]
    fn version(&self) -> PyResult<u64> {
        self.read(|d| Ok(d.version()))
    }

    /// `[(column, spec type name)]` in column order.
    fn schema(&self) -> PyResult<Vec<(String, String)>> {
        self.read(|d| {
            Ok(d.spec_types()?
                .into_iter()
                .map(|(n, t)| (n, t.name()))
                .collect())
        })
    }

    fn versions(&self, py: Python<'_>) -> PyResult<Vec<u64>> {
        py.detach(|| self.read(|d| d.versions()))
    }

    fn checkout(&self, py: Python<'_>, version: u64) -> PyResult<NativeDataset> {
        py.detach(|| self.read(|d| d.checkout(version)))
            .map(NativeDataset::new)
    }

    /// Moves to the newest committed version; true when it changed.
    fn refresh(&self, py: Python<'_>) -> PyResult<bool> {
        py.detach(|| {
            let mut ds = self
                .inner
                .write()
                .map_err(|_| errors::client(ClientError::table("dataset lock poisoned")))?;
            ds.refresh().map_err(errors::client)
        })
    }

    /// A read-only statement with this table read at this dataset's
    /// version, as `(pyarrow schema, [pyarrow RecordBatch])`.
    #[pyo3(signature = (sql, params=None))]
    fn query_arrow(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<(Py<PyAny>, Vec<Py<PyAny>>)> {
        let params = to_values(params)?;
        let out = py.detach(|| self.read(|d| d.query_arrow(sql, &params)))?;
        arrow_to_py(py, &out)
    }

    /// The positions of the rows a whole-row selection (`SELECT * FROM
    /// <table> WHERE ...`) returns at this version, as a pyarrow UInt64
    /// array; `None` when the statement computes more than a choice of rows.
    #[pyo3(signature = (sql, params=None))]
    fn row_positions(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let params = to_values(params)?;
        let positions = py.detach(|| self.read(|d| d.row_positions(sql, &params)))?;
        positions
            .map(|p| {
                let array = UInt64Array::from(p).into_data();
                Ok(array.to_pyarrow(py)?.unbind())
            })
            .transpose()
    }

    /// This dataset at its current version, unaffected by a later
    /// `refresh()` of this one.
    fn snapshot(&self) -> PyResult<NativeDataset> {
        self.read(|d| Ok(NativeDataset::new(d.clone())))
    }

    /// Rows by index, in the order given, as a pyarrow RecordBatch.
    #[pyo3(signature = (rows, columns=None))]
    fn take(
        &self,
        py: Python<'_>,
        rows: Vec<u64>,
        columns: Option<Vec<String>>,
    ) -> PyResult<Py<PyAny>> {
        let cols = names(&columns);
        let len = self.read(|d| Ok(d.len()))?;
        if let Some(bad) = rows.iter().find(|&&r| r >= len) {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "row {bad} out of range for a dataset of {len} rows"
            )));
        }
        let batch = py.detach(|| self.read(|d| d.take(&rows, cols.as_deref())))?;
        Ok(batch.to_pyarrow(py)?.unbind())
    }

    /// Batches of `size` rows in row order, read ahead in the background.
    #[pyo3(signature = (size, drop_last=false, columns=None))]
    fn batches(
        &self,
        py: Python<'_>,
        size: usize,
        drop_last: bool,
        columns: Option<Vec<String>>,
    ) -> PyResult<NativeBatches> {
        let cols = names(&columns);
        let inner = py.detach(|| self.read(|d| d.batches(size, drop_last, cols.as_deref())))?;
        Ok(NativeBatches {
            inner: Mutex::new(inner),
        })
    }
}

#[pyclass(module = "deeplake._native")]
pub struct NativeBatches {
    inner: Mutex<Batches>,
}

#[pymethods]
impl NativeBatches {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let next = py.detach(|| match self.inner.lock() {
            Ok(mut it) => it.next(),
            Err(_) => Some(Err(ClientError::table("batch iterator lock poisoned"))),
        });
        match next {
            None => Err(PyStopIteration::new_err(())),
            Some(Err(e)) => Err(errors::client(e)),
            Some(Ok(batch)) => Ok(batch.to_pyarrow(py)?.unbind()),
        }
    }
}

/// One decoded image: its pixels and `(height, width, channels)`.
type Pixels = (Vec<u8>, u32, u32, u8);

fn decode(bytes: &[u8]) -> Result<Pixels, String> {
    use image::DynamicImage as D;
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let (w, h) = (img.width(), img.height());
    Ok(match img {
        D::ImageLuma8(i) => (i.into_raw(), h, w, 1),
        D::ImageRgb8(i) => (i.into_raw(), h, w, 3),
        D::ImageRgba8(i) => (i.into_raw(), h, w, 4),
        other if other.color().has_alpha() => (other.to_rgba8().into_raw(), h, w, 4),
        other if other.color().channel_count() <= 2 => (other.to_luma8().into_raw(), h, w, 1),
        other => (other.to_rgb8().into_raw(), h, w, 3),
    })
}

/// A decoded image as Python receives it: pixel bytes, height, width, channels.
type PyPixels<'py> = (Bound<'py, PyByteArray>, u32, u32, u8);

/// Decodes a pyarrow binary array of encoded images (JPEG, PNG, GIF, BMP,
/// WebP) with the GIL released: `[(pixels, height, width, channels) | None]`.
#[pyfunction]
pub fn decode_images<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
) -> PyResult<Vec<Option<PyPixels<'py>>>> {
    let data = arrow_data::ArrayData::from_pyarrow_bound(array)?;
    let array = arrow_array::make_array(data);
    let blobs: Vec<Option<&[u8]>> = if let Some(a) = array.as_any().downcast_ref::<BinaryArray>() {
        a.iter().collect()
    } else if let Some(a) = array.as_any().downcast_ref::<LargeBinaryArray>() {
        a.iter().collect()
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "images must be a binary array, got {}",
            array.data_type()
        )));
    };
    let decoded: Vec<Option<Result<Pixels, String>>> =
        py.detach(|| blobs.iter().map(|b| b.map(decode)).collect());
    decoded
        .into_iter()
        .enumerate()
        .map(|(i, d)| match d {
            None => Ok(None),
            Some(Ok((pixels, h, w, c))) => Ok(Some((PyByteArray::new(py, &pixels), h, w, c))),
            Some(Err(e)) => Err(pyo3::exceptions::PyValueError::new_err(format!(
                "image {i} could not be decoded: {e}"
            ))),
        })
        .collect()
}
