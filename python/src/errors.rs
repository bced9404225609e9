//! Raising the `deeplake.managed` error classes from Rust.
//!
//! The classes are defined in Python (`deeplake/managed/errors.py`) so that
//! they are ordinary, picklable exception types with the reference's
//! hierarchy; Rust looks them up by name when it raises.

use deeplake_client::ClientError;

use crate::format::Failure;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

const ERRORS_MODULE: &str = "deeplake.managed.errors";

/// An instance of the named error class carrying `message`.
pub fn raise(py: Python<'_>, class: &str, message: &str) -> PyErr {
    let made = py
        .import(ERRORS_MODULE)
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message,)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => PyRuntimeError::new_err(format!(
            "{class}: {message} (the error class could not be loaded: {e})"
        )),
    }
}

/// A client error as its Python class; `cause` becomes `__cause__`, so a
/// user's own exception from a callback stays visible in the traceback.
pub fn to_py(py: Python<'_>, e: &ClientError, cause: Option<PyErr>) -> PyErr {
    let err = raise(py, e.class(), e.message());
    if let Some(c) = cause {
        err.set_cause(py, Some(c));
    }
    err
}

/// The error an ingest ends with. A Ctrl-C (or any `KeyboardInterrupt`
/// user code raised) is raised as itself, not as an `IngestError`: the
/// interrupt is what the user did, and the table the call created has
/// already been dropped like on any other failure.
pub fn ingest_failure(py: Python<'_>, e: &ClientError, failure: &Failure) -> PyErr {
    let cause = failure.lock().ok().and_then(|mut f| f.take());
    match cause {
        Some(c) if c.is_instance_of::<PyKeyboardInterrupt>(py) => c,
        cause => to_py(py, e, cause),
    }
}

/// Shorthand for the common case of no user exception to chain.
pub fn client(e: ClientError) -> PyErr {
    Python::attach(|py| to_py(py, &e, None))
}

pub fn ingest(message: impl Into<String>) -> PyErr {
    client(ClientError::ingest(message.into()))
}
