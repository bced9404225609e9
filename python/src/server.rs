//! `deeplake.server`: the managed service and its tokens for users who
//! installed the package alone, without the `deeplake` binary. The same
//! server as `deeplake serve`, running in this process.

use std::net::SocketAddr;
use std::time::Duration;

use deeplake_server::auth::{new_claims, now};
use deeplake_server::{Secret, ServeConfig, ServerError};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

fn err(e: ServerError) -> PyErr {
    match e {
        ServerError::Config(m) => PyValueError::new_err(m),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

fn secret(jwt_secret: Option<String>) -> PyResult<Secret> {
    match jwt_secret {
        Some(s) => Secret::new(s.into_bytes()).map_err(err),
        None => Secret::from_env_or_file(None).map_err(err),
    }
}

/// Serves the REST API over `root` until SIGINT or SIGTERM.
#[pyfunction]
#[pyo3(signature = (root, http="127.0.0.1:8080", jwt_secret=None, auto_workspaces=true, max_body_mb=256, max_query_secs=300))]
pub fn serve(
    py: Python<'_>,
    root: String,
    http: &str,
    jwt_secret: Option<String>,
    auto_workspaces: bool,
    max_body_mb: usize,
    max_query_secs: u64,
) -> PyResult<()> {
    let addr: SocketAddr = http
        .parse()
        .map_err(|e| PyValueError::new_err(format!("http must be HOST:PORT, got '{http}': {e}")))?;
    let config = ServeConfig {
        root,
        http: addr,
        secret: secret(jwt_secret)?,
        auto_workspaces,
        max_body_bytes: max_body_mb << 20,
        max_query_time: Duration::from_secs(max_query_secs),
    };
    deeplake_server::init_logging(false);
    py.detach(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the runtime: {e}")))?;
        rt.block_on(deeplake_server::serve(config)).map_err(err)
    })
}

/// A token signed with the server's secret (`deeplake token create`).
#[pyfunction]
#[pyo3(signature = (org=None, user=None, name=None, ttl=30 * 24 * 3600, jwt_secret=None))]
pub fn create_token(
    org: Option<String>,
    user: Option<String>,
    name: Option<String>,
    ttl: i64,
    jwt_secret: Option<String>,
) -> PyResult<String> {
    if ttl <= 0 {
        return Err(PyValueError::new_err(
            "ttl must be a positive number of seconds",
        ));
    }
    if org.is_none() && user.is_none() {
        return Err(PyValueError::new_err("give org, user or both"));
    }
    let claims = new_claims(org.as_deref(), user.as_deref(), name.as_deref(), ttl, now());
    secret(jwt_secret)?.sign(&claims).map_err(err)
}
