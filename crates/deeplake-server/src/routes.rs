//! The REST API: the reference's paths, bodies and status codes, plus the
//! Arrow data plane our own remote client uses (see `docs/rest-api.md`).
//!
//! Every path under `/workspaces/{ws}` acts in the caller's own org: the
//! org comes from the verified token, never from the path, so no request
//! can name another org's workspace or table.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deeplake_client::ipc::{decode_chunks, write_stream, ARROW_STREAM};
use deeplake_client::{ClientError, Mode, SpecType, WriteOptions};
use deeplake_sql::Deadline;
use serde::Deserialize;
use serde_json::{json, Value as Json_};

use crate::error::{Result, ServerError};
use crate::json::{cell, param};
use crate::state::{Caller, State};

pub fn router() -> Router<State> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route("/organizations", get(organizations))
        .route("/workspaces", get(list_workspaces).post(create_workspace))
        .route("/workspaces/{ws}/storage-path", get(storage_path))
        .route("/workspaces/{ws}/credentials/generate", post(credentials))
        .route(
            "/workspaces/{ws}/tables",
            get(list_tables).post(create_table),
        )
        // A table named "query" is still reachable: the static segment
        // wins the route, so it answers GET and DELETE too.
        .route(
            "/workspaces/{ws}/tables/query",
            post(query)
                .get(describe_query_table)
                .delete(drop_query_table),
        )
        .route("/workspaces/{ws}/tables/query/arrow", post(query_arrow))
        .route(
            "/workspaces/{ws}/tables/{name}",
            get(describe_table).delete(drop_table),
        )
        .route("/workspaces/{ws}/files/{*path}", get(read_file))
}

/// Routes whose bodies are streams of any length, limited per message
/// rather than per body (see [`ingest_rows`]).
pub fn uploads() -> Router<State> {
    Router::new().route("/workspaces/{ws}/tables/{name}/rows", post(ingest_rows))
}

async fn health() -> Json<Json_> {
    Json(json!({ "status": "ok" }))
}

/// How long readiness waits for the storage: a probe must answer on its
/// own schedule, and an object store's client retries for minutes.
const READY_WAIT: Duration = Duration::from_secs(3);

/// Ready when the storage root answers a listing in time.
async fn ready(AxState(state): AxState<State>) -> Response {
    let listed = tokio::time::timeout(READY_WAIT, state.registry.root().list_dirs()).await;
    let error = match listed {
        Ok(Ok(_)) => return Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => format!("storage is not reachable: {e}"),
        Err(_) => format!(
            "storage is not reachable: no answer within {} s",
            READY_WAIT.as_secs()
        ),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": error })),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
    )
        .into_response()
}

async fn me(AxState(state): AxState<State>, caller: Caller) -> Result<Json<Json_>> {
    let mut orgs = match caller.user() {
        Some(user) => state.registry.orgs_of(user).await?,
        None => vec![],
    };
    if let Some(org) = &caller.claims.org_id {
        if !orgs.contains(org) {
            orgs.insert(0, org.clone());
        }
    }
    Ok(Json(json!({
        "id": caller.user(),
        "name": caller.claims.name,
        "organizations": orgs,
    })))
}

async fn organizations(AxState(state): AxState<State>, caller: Caller) -> Result<Json<Json_>> {
    let orgs = match (caller.user(), &caller.org) {
        (Some(user), _) => {
            let mut orgs = state.registry.orgs_of(user).await?;
            if let Some(org) = &caller.claims.org_id {
                if !orgs.contains(org) {
                    orgs.insert(0, org.clone());
                }
            }
            orgs
        }
        (None, Some(org)) => vec![org.clone()],
        (None, None) => vec![],
    };
    let list: Vec<Json_> = orgs
        .into_iter()
        .map(|o| json!({ "id": o, "name": o }))
        .collect();
    Ok(Json(json!({ "organizations": list })))
}

async fn list_workspaces(AxState(state): AxState<State>, caller: Caller) -> Result<Json<Json_>> {
    let org = caller.org()?;
    let list: Vec<Json_> = state
        .registry
        .workspaces(org)
        .await?
        .into_iter()
        .map(|w| json!({ "id": w, "name": w, "org_id": org }))
        .collect();
    Ok(Json(json!({ "workspaces": list })))
}

#[derive(Deserialize)]
struct NewWorkspace {
    #[serde(alias = "id", alias = "workspace_id")]
    name: String,
}

async fn create_workspace(
    AxState(state): AxState<State>,
    caller: Caller,
    body: Bytes,
) -> Result<Response> {
    let org = caller.org()?;
    let req: NewWorkspace = parse_body(&body)?;
    if !state.registry.create_workspace(org, &req.name).await? {
        return Err(ServerError::Api(
            ClientError::workspace(format!("Workspace '{}' already exists", req.name))
                .with_kind(deeplake_client::ErrorKind::Conflict),
        ));
    }
    let body = json!({ "id": req.name, "name": req.name, "org_id": org });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn storage_path(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Json_>> {
    let ws = state.workspace(caller.org()?, &ws, false).await?;
    Ok(Json(json!({ "storage_path": ws.storage_path() })))
}

#[derive(Deserialize)]
struct CredentialsRequest {
    #[serde(default = "readwrite")]
    mode: String,
}

fn readwrite() -> String {
    "readwrite".into()
}

/// Storage access for direct reads and writes. This server issues no
/// credentials (`creds` is empty: it holds no key it could scope to one
/// workspace's prefix): it says where the prefix is, for a client with
/// storage credentials of its own, and the path of its read-only file
/// endpoint (`files_path`), which serves the same files to any caller of
/// this org.
async fn credentials(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
    body: Bytes,
) -> Result<Json<Json_>> {
    let req: CredentialsRequest = match body.is_empty() {
        true => CredentialsRequest { mode: readwrite() },
        false => parse_body(&body)?,
    };
    if !matches!(req.mode.as_str(), "read" | "write" | "readwrite") {
        return Err(ServerError::bad_request(format!(
            "mode must be 'read', 'write' or 'readwrite', got '{}'",
            req.mode
        )));
    }
    let ws = state.workspace(caller.org()?, &ws, false).await?;
    let path = ws.storage_path();
    Ok(Json(json!({
        "creds": {},
        "mode": req.mode,
        "storage": storage_of(&path),
        "files_path": format!("/workspaces/{}/files/", ws.name()),
        "storage_path": path,
    })))
}

/// Where a workspace's prefix is, as a client that reads it directly
/// needs it: for S3 the bucket, the prefix and the endpoint and region
/// this server uses (never its keys).
fn storage_of(path: &str) -> Json_ {
    let env = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
    };
    match path.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            json!({
                "kind": "s3",
                "bucket": bucket,
                "prefix": prefix,
                "endpoint": env(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]),
                "region": env(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            })
        }
        None => json!({ "kind": "local", "path": path.trim_start_matches("file://") }),
    }
}

async fn list_tables(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Json_>> {
    let ws = state.workspace(caller.org()?, &ws, false).await?;
    let list: Vec<Json_> = ws
        .list_tables()
        .await?
        .into_iter()
        .map(|t| json!({ "table_name": t }))
        .collect();
    Ok(Json(json!({ "tables": list })))
}

#[derive(Deserialize)]
struct NewTable {
    table_name: String,
    #[serde(default)]
    table_schema: Option<serde_json::Map<String, Json_>>,
}

async fn create_table(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let req: NewTable = parse_body(&body)?;
    deeplake_client::check_table_name(&req.table_name)?;
    let Some(schema) = req.table_schema.filter(|s| !s.is_empty()) else {
        return Err(ServerError::Api(ClientError::table(
            "table_schema is required: a {column: SQL type} object with at least one column",
        )));
    };
    // Columns in name order, as the reference lays them out.
    let mut columns: Vec<(String, SpecType)> = Vec::with_capacity(schema.len());
    for (col, ty) in &schema {
        let name = ty.as_str().ok_or_else(|| {
            ServerError::Api(ClientError::table(format!(
                "The type of column '{col}' must be a string, got {ty}"
            )))
        })?;
        let parsed = name.parse().map_err(|e| {
            ServerError::Api(ClientError::table(format!(
                "Invalid type for column '{col}': {e}"
            )))
        })?;
        columns.push((col.clone(), parsed));
    }
    columns.sort_by(|a, b| a.0.cmp(&b.0));
    let ws = state.workspace(caller.org()?, &ws, true).await?;
    ws.create_table(&req.table_name, &columns).await?;
    let body = json!({
        "table_name": req.table_name,
        "created": true,
        "dataset_path": ws.dataset_path(&req.table_name),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn describe(state: State, caller: Caller, ws: String, name: String) -> Result<Json<Json_>> {
    let ws = state.workspace(caller.org()?, &ws, false).await?;
    let info = ws.describe(&name).await?;
    let columns: Vec<Json_> = info
        .columns
        .iter()
        .map(|c| {
            let index = c
                .index
                .as_ref()
                .map(|(name, ty)| json!({ "name": name, "type": ty, "params": c.index_params }));
            json!({ "name": c.name, "type": c.sql_type, "spec_type": c.spec_type, "index": index })
        })
        .collect();
    Ok(Json(json!({
        "table_name": info.name,
        "columns": columns,
        "row_count": info.row_count,
        "version": info.version,
        "dataset_path": ws.dataset_path(&name),
    })))
}

async fn describe_table(
    AxState(state): AxState<State>,
    caller: Caller,
    Path((ws, name)): Path<(String, String)>,
) -> Result<Json<Json_>> {
    describe(state, caller, ws, name).await
}

async fn describe_query_table(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Json_>> {
    describe(state, caller, ws, "query".into()).await
}

async fn drop(state: State, caller: Caller, ws: String, name: String) -> Result<Json<Json_>> {
    let ws = state.workspace(caller.org()?, &ws, false).await?;
    ws.drop_table(&name, false).await?;
    Ok(Json(json!({ "table_name": name, "dropped": true })))
}

async fn drop_table(
    AxState(state): AxState<State>,
    caller: Caller,
    Path((ws, name)): Path<(String, String)>,
) -> Result<Json<Json_>> {
    drop(state, caller, ws, name).await
}

async fn drop_query_table(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
) -> Result<Json<Json_>> {
    drop(state, caller, ws, "query".into()).await
}

#[derive(Deserialize)]
struct QueryRequest {
    query: String,
    #[serde(default)]
    params: Vec<Json_>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// The statement's time budget: what the request asks, within the
/// server's limit.
fn budget(state: &State, timeout_ms: Option<u64>) -> Duration {
    let max = state.settings.max_query_time;
    timeout_ms.map_or(max, |ms| Duration::from_millis(ms).min(max))
}

async fn run_query(
    state: &State,
    caller: &Caller,
    ws: &str,
    body: &Bytes,
) -> Result<deeplake_client::QueryOutput> {
    let req: QueryRequest = parse_body(body)?;
    let params = req.params.iter().map(param).collect::<Result<Vec<_>>>()?;
    let ws = state.workspace(caller.org()?, ws, false).await?;
    let deadline = Deadline::after(budget(state, req.timeout_ms));
    state.statements.run(ws, req.query, params, deadline).await
}

async fn query(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
    body: Bytes,
) -> Result<Json<Json_>> {
    let out = run_query(&state, &caller, &ws, &body).await?;
    let rows = deeplake_sql::rows(&out).map_err(ClientError::from)?;
    let rows: Vec<Json_> = rows
        .into_iter()
        .map(|r| Json_::Array(r.into_values().into_iter().map(cell).collect()))
        .collect();
    Ok(Json(json!({ "columns": out.column_names(), "rows": rows })))
}

/// The query's result as one Arrow IPC stream (field metadata keeps the
/// spec types), for clients that read results as Arrow.
async fn query_arrow(
    AxState(state): AxState<State>,
    caller: Caller,
    Path(ws): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let out = run_query(&state, &caller, &ws, &body).await?;
    let bytes = write_stream(&out.schema, &out.batches)?;
    Ok(([(header::CONTENT_TYPE, ARROW_STREAM)], bytes).into_response())
}

#[derive(Deserialize)]
struct IngestParams {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    commit_every: Option<usize>,
}

/// Rows as an Arrow IPC stream into a table: `mode=create` (the default:
/// an existing table is a 409), `append` or `overwrite`. The rows are
/// typed and checked as local data is and committed every `commit_every`
/// rows (default 2000) as they arrive, so one request carries a whole
/// ingest of any size: memory holds one message, and a message over the
/// body limit is a 413. A request cut off part way keeps what it
/// committed (a table it created is dropped again) and nothing after.
async fn ingest_rows(
    AxState(state): AxState<State>,
    caller: Caller,
    Path((ws, name)): Path<(String, String)>,
    Query(q): Query<IngestParams>,
    body: axum::body::Body,
) -> Result<Response> {
    let mode: Mode = q.mode.as_deref().unwrap_or("create").parse()?;
    deeplake_client::check_table_name(&name)?;
    let ws = state.workspace(caller.org()?, &ws, true).await?;
    let commit_every = q
        .commit_every
        .unwrap_or(WriteOptions::default().commit_every);
    let opts = WriteOptions {
        flush_every: commit_every,
        commit_every,
        ..Default::default()
    };
    opts.validate().map_err(ClientError::from)?;
    let limit = state.settings.max_body_bytes;
    let (batches, reader) = read_ahead(body, limit);
    let written = ws.ingest_stream(&name, mode, batches, opts).await;
    // The reader stops at its next message once the writer is gone.
    let chunks = reader.await;
    if let (Err(_), Ok(mut chunks)) = (&written, chunks) {
        // So the client reads the answer, not a reset connection.
        crate::limits::drain(&mut chunks, limit).await;
    }
    let rows = written?;
    let body = json!({
        "table_name": name,
        "row_count": rows,
        "dataset_path": ws.dataset_path(&name),
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Upload messages decoded ahead of the writer, so that receiving and
/// decoding the next ones overlaps writing this one (a writer otherwise
/// leaves the socket unread while it writes).
const READ_AHEAD: usize = 2;

/// An upload's batches, read and decoded by a task of their own at most
/// [`READ_AHEAD`] messages ahead; the task ends at the upload's end, at its
/// first error, or when the batches are dropped, and hands back the rest of
/// the body.
fn read_ahead(
    body: axum::body::Body,
    limit: usize,
) -> (
    impl futures::Stream<Item = deeplake_client::Result<arrow_array::RecordBatch>>,
    tokio::task::JoinHandle<axum::body::BodyDataStream>,
) {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(async move {
        let mut chunks = body.into_data_stream();
        {
            let mut batches = std::pin::pin!(decode_chunks(&mut chunks, limit));
            while let Some(b) = batches.next().await {
                let failed = b.is_err();
                if tx.send(b).await.is_err() || failed {
                    break;
                }
            }
        }
        chunks
    });
    let batches =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    (batches, reader)
}

/// A table's files, read-only, with HTTP ranges (`bytes=a-b`, `a-`, `-n`):
/// what a client needs to open a table as a dataset when it cannot reach
/// the storage itself (object_store's HTTP store speaks it). Only a table's
/// manifests, version hint and data files in the caller's own workspace are
/// served.
async fn read_file(
    AxState(state): AxState<State>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    Path((ws, path)): Path<(String, String)>,
) -> Result<Response> {
    let missing = || ServerError::not_found(format!("No file '{path}' in workspace '{ws}'"));
    if !is_table_file(&path) {
        return Err(missing());
    }
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(parse_range)
                .ok_or_else(|| ServerError::range("unsupported Range header"))?,
        ),
    };
    let ranged = range.is_some();
    let ws = state.workspace(caller.org()?, &ws, false).await?;
    let location = ws.location();
    let read = match location
        .read_object(&path, range.clone(), method == Method::HEAD)
        .await
    {
        Ok(read) => read.ok_or_else(missing)?,
        // Stores word a range past the end differently; the file's size
        // tells whether that was the failure.
        Err(e) => {
            let size = location.read_object(&path, None, true).await;
            return Err(match (size, &range) {
                (Ok(Some(f)), Some(r)) if !satisfiable(r, f.size) => {
                    ServerError::range(format!("range outside the file ({} bytes)", f.size))
                }
                _ => ServerError::Api(e.into()),
            });
        }
    };
    let len = read.range.end - read.range.start;
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes");
    response = match ranged {
        true => response.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                read.range.start,
                read.range.end.saturating_sub(1),
                read.size
            ),
        ),
        false => response.status(StatusCode::OK),
    };
    response
        .header(header::CONTENT_LENGTH, len)
        .body(axum::body::Body::from(read.bytes))
        .map_err(|e| ServerError::internal(e.to_string()))
}

/// `<table>/_latest`, `<table>/_versions/<file>`, `<table>/data/<file>` or
/// `<table>/index/<segment>/<file>`: what a reader of the table opens,
/// its indexes included, so a remote dataset searches through them.
fn is_table_file(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let plain = |p: &str| !p.is_empty() && p != "." && p != ".." && !p.contains('\\');
    deeplake_client::check_table_name(parts[0]).is_ok()
        && parts.iter().all(|p| plain(p))
        && matches!(
            parts[1..],
            ["_latest"] | ["_versions" | "data", _] | ["index", _, _]
        )
}

fn satisfiable(r: &object_store::GetRange, size: u64) -> bool {
    use object_store::GetRange;
    match r {
        GetRange::Bounded(b) => b.start < size,
        GetRange::Offset(o) => *o < size,
        GetRange::Suffix(_) => true,
    }
}

/// One range of a `Range: bytes=...` header.
fn parse_range(v: &str) -> Option<object_store::GetRange> {
    use object_store::GetRange;
    let (a, b) = v.trim().strip_prefix("bytes=")?.split_once('-')?;
    match (a.trim(), b.trim()) {
        ("", n) => Some(GetRange::Suffix(n.parse().ok()?)),
        (a, "") => Some(GetRange::Offset(a.parse().ok()?)),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then(|| GetRange::Bounded(a..b + 1))
        }
    }
}

/// A JSON body, or a 400 that says what is wrong with it.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| ServerError::bad_request(format!("invalid request body: {e}")))
}
