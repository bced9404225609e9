//! COCO panoptic batches as Python dicts, so `CocoPanoptic.normalize()` is
//! a real format method: the same reader the native ingest uses, yielding
//! the spec's `dict[str, list]` batches to any Python caller.

use std::sync::Mutex;

use arrow_pyarrow::ToPyArrow;
use deeplake_client::{ClientError, CocoBatches, CocoPanoptic, Column};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::{convert, errors};

#[pyclass(module = "deeplake._native")]
pub struct NativeCocoBatches {
    inner: Mutex<CocoBatches>,
}

#[pymethods]
impl NativeCocoBatches {
    /// Reads the annotations now (a missing file or directory is an
    /// `IngestError` here); images and masks are read batch by batch.
    #[new]
    #[pyo3(signature = (images_dir, masks_dir, annotations, batch_size=100))]
    fn new(
        py: Python<'_>,
        images_dir: String,
        masks_dir: String,
        annotations: String,
        batch_size: usize,
    ) -> PyResult<Self> {
        let coco =
            CocoPanoptic::new(images_dir, masks_dir, annotations).with_batch_size(batch_size);
        let batches = py
            .detach(|| coco.batches())
            .map_err(|e| errors::client(ClientError::from(e)))?;
        Ok(NativeCocoBatches {
            inner: Mutex::new(batches),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let next = py.detach(|| match self.inner.lock() {
            Ok(mut it) => it.next().map(|b| b.map_err(ClientError::from)),
            Err(_) => Some(Err(ClientError::ingest(
                "COCO batch iterator lock poisoned",
            ))),
        });
        let batch = match next {
            None => return Err(PyStopIteration::new_err(())),
            Some(batch) => batch.map_err(errors::client)?,
        };
        let json = py.import("deeplake.managed.errors")?.getattr("Json")?;
        let out = PyDict::new(py);
        for (name, column) in batch {
            let list = match column {
                Column::Values(values) => PyList::new(
                    py,
                    values
                        .iter()
                        .map(|v| convert::to_py(py, v, &json))
                        .collect::<PyResult<Vec<_>>>()?,
                )?
                .into_any(),
                Column::Arrow(array) => {
                    array.to_data().to_pyarrow(py)?.call_method0("to_pylist")?
                }
            };
            out.set_item(name, list)?;
        }
        Ok(out.unbind())
    }

    /// Annotated images passed over so far because a file was missing.
    #[getter]
    fn skipped(&self) -> u64 {
        self.inner.lock().map(|b| b.skipped()).unwrap_or(0)
    }
}
