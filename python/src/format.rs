//! A Python object with `normalize()` (and optionally `schema()`) as a
//! `Format`: batches are pulled one at a time, with the GIL taken only while
//! Python code runs, so a large source streams.

use std::sync::{Arc, Mutex};

use deeplake_client::{Batch, Format, FormatError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator};

use crate::convert;

/// The first exception raised by user code, kept to chain onto the
/// `IngestError` the ingest ends with.
pub type Failure = Arc<Mutex<Option<PyErr>>>;

pub fn remember(failure: &Failure, py: Python<'_>, what: &str, e: PyErr) -> String {
    let kind = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let message = format!("{what} raised {kind}: {}", e.value(py));
    if let Ok(mut slot) = failure.lock() {
        slot.get_or_insert(e);
    }
    message
}

pub struct PyFormat {
    obj: Py<PyAny>,
    hints: Vec<(String, String)>,
    failure: Failure,
}

impl PyFormat {
    /// Reads the optional `schema()` now, while the GIL is held.
    pub fn new(obj: &Bound<'_, PyAny>, failure: Failure) -> PyResult<PyFormat> {
        let mut hints = Vec::new();
        if obj.hasattr("schema")? {
            let declared = obj.call_method0("schema")?;
            if !declared.is_none() {
                let dict = declared.cast::<PyDict>().map_err(|_| {
                    crate::errors::ingest(format!(
                        "format schema() must return a dict, got {}.",
                        convert::type_name(&declared)
                    ))
                })?;
                for (k, v) in dict.iter() {
                    hints.push((k.extract()?, v.extract()?));
                }
            }
        }
        Ok(PyFormat {
            obj: obj.clone().unbind(),
            hints,
            failure,
        })
    }
}

impl Format for PyFormat {
    fn schema(&self) -> Vec<(String, String)> {
        self.hints.clone()
    }

    fn normalize(
        &mut self,
    ) -> Result<Box<dyn Iterator<Item = Result<Batch, FormatError>> + Send + '_>, FormatError> {
        let iter = Python::attach(|py| {
            let batches = self.obj.bind(py).call_method0("normalize")?;
            PyIterator::from_object(&batches).map(Bound::unbind)
        });
        match iter {
            Ok(iter) => Ok(Box::new(PyBatches {
                iter,
                failure: self.failure.clone(),
            })),
            Err(e) => Python::attach(|py| {
                Err(FormatError::Internal(remember(
                    &self.failure,
                    py,
                    "normalize()",
                    e,
                )))
            }),
        }
    }
}

struct PyBatches {
    iter: Py<PyIterator>,
    failure: Failure,
}

impl Iterator for PyBatches {
    type Item = Result<Batch, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        Python::attach(|py| {
            let mut iter = self.iter.bind(py).clone();
            let item = match iter.next()? {
                Ok(item) => item,
                Err(e) => {
                    return Some(Err(FormatError::Internal(remember(
                        &self.failure,
                        py,
                        "normalize()",
                        e,
                    ))))
                }
            };
            Some(batch(&item))
        })
    }
}

fn batch(item: &Bound<'_, PyAny>) -> Result<Batch, FormatError> {
    let dict = item.cast::<PyDict>().map_err(|_| {
        FormatError::Invalid(format!(
            "normalize() must yield dict[str, list] batches, got {}.",
            convert::type_name(item)
        ))
    })?;
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let name: String = k
            .extract()
            .map_err(|_| FormatError::Invalid("batch column names must be strings.".into()))?;
        let column = convert::column(&name, &v)
            .map_err(|e| Python::attach(|py| FormatError::Invalid(e.value(py).to_string())))?;
        out.push((name, column));
    }
    Ok(out)
}
