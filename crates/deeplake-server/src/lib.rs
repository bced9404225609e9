//! The managed service: `deeplake serve`.
//!
//! An axum server over the same engine the embedded client runs: the
//! reference's REST API (`routes`), HS256 tokens (`auth`), orgs, users and
//! workspaces recorded in the storage root (`registry`), so any number of
//! stateless servers can share one root on object storage.

pub mod auth;
mod error;
mod json;
mod limits;
mod openapi;
pub mod registry;
mod routes;
mod state;
mod statements;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use deeplake_storage::Location;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use auth::{Claims, Secret};
pub use error::{status_of, ServerError};
pub use openapi::DOCUMENT as OPENAPI;
pub use registry::Registry;
pub use state::{AppState, Settings};

/// How `deeplake serve` runs.
pub struct ServeConfig {
    /// The storage root: a directory, `file://PATH` or `s3://bucket/prefix`.
    pub root: String,
    pub http: SocketAddr,
    pub secret: Secret,
    pub auto_workspaces: bool,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    pub max_query_time: Duration,
}

/// The application: every route with its limits and request logging.
/// Uploads are streams of any length and limit each message instead.
pub fn app(state: Arc<AppState>) -> Router {
    let max_body_bytes = state.settings.max_body_bytes;
    routes::router()
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            max_body_bytes,
            limits::refuse_oversized,
        ))
        .merge(routes::uploads())
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(
            // One span and one "finished" event per request, at INFO so the
            // default log level shows every request with its status and time.
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// Opens the storage root named by `root`.
pub fn open_root(root: &str) -> Result<Location, ServerError> {
    Location::from_root(root)
        .map_err(|e| ServerError::config(format!("cannot open the storage root {root}: {e}")))
}

/// Serves until SIGINT or SIGTERM; requests in flight then finish before
/// this returns (an ingest interrupted by the process dying leaves only
/// whole commits: each commit is one conditional manifest create).
pub async fn serve(config: ServeConfig) -> Result<(), ServerError> {
    let root = open_root(&config.root)?;
    let settings = Settings {
        auto_workspaces: config.auto_workspaces,
        max_query_time: config.max_query_time,
        max_body_bytes: config.max_body_bytes,
    };
    let state = Arc::new(AppState::new(config.secret, root, &config.root, settings)?);
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .map_err(|e| ServerError::io(format!("cannot listen on {}", config.http), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::io("cannot read the listening address", e))?;
    tracing::info!(%addr, root = %config.root, "deeplake serve listening");
    // The one line a script or test waits for, on stdout.
    println!("listening on http://{addr}");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| ServerError::io("the server stopped", e))?;
    tracing::info!("deeplake serve stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Logs to stderr, as JSON lines when `json` is set; the level comes from
/// `RUST_LOG` (default `info`).
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match json {
        true => builder.json().try_init(),
        false => builder.try_init(),
    };
}
