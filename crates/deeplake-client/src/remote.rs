//! The REST side of the remote client: one workspace on a `deeplake serve`
//! (or any server speaking the reference's protocol), with HTTP failures
//! mapped onto the error classes as the reference client maps them.
//!
//! Rows travel as Arrow IPC streams (`POST .../tables/{name}/rows` up,
//! `POST .../tables/query/arrow` down), so types survive the trip and no
//! value is re-parsed from JSON.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use deeplake_sql::QueryOutput;
use deeplake_storage::Location;
use deeplake_types::{SpecType, Value};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value as Json};

use crate::error::{ClientError, ErrorClass, ErrorKind, Result};
use crate::ingest::Mode;
use crate::ipc::{read_stream, Encoder, ARROW_STREAM};
use crate::workspace::{ColumnInfo, TableInfo};

/// What a request may take beyond its statement's own time budget.
pub(crate) const SLACK: Duration = Duration::from_secs(30);
/// The reference's default request timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Remote {
    base: String,
    token: String,
    org: String,
    workspace: String,
    http: reqwest::Client,
    storage_path: tokio::sync::OnceCell<String>,
}

/// A request body.
enum Body {
    None,
    Json(Json),
}

/// The body of a successful response; a failed one as its error.
async fn reply(req: RequestBuilder, path: &str) -> Result<bytes::Bytes> {
    let resp = req.send().await.map_err(network)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(network)?;
    if !status.is_success() {
        return Err(status_error(status, path, &bytes));
    }
    Ok(bytes)
}

/// A response body as JSON (`{}` when empty).
fn parse_json(bytes: &[u8]) -> Result<Json> {
    match bytes.is_empty() {
        true => Ok(json!({})),
        false => serde_json::from_slice(bytes).map_err(|e| {
            ClientError::managed_service(format!("API request failed: invalid JSON response: {e}"))
                .with_source(e)
        }),
    }
}

fn network(e: reqwest::Error) -> ClientError {
    ClientError::managed_service(format!("API request failed: {e}"))
        .with_kind(ErrorKind::Unavailable)
        .with_source(e)
}

/// The message a failed response's body carried (`{"error": ...}`, or its
/// text), kept as the source of the error the reference's wording makes,
/// so a caller that knows the server's words (a query's) can use them.
#[derive(Debug)]
struct ServerMessage(String);

impl std::fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerMessage {}

/// A failed response as the reference client reports it.
fn status_error(status: StatusCode, path: &str, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|j| j.get("error").and_then(Json::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    reference_error(status, path, &message).with_source(ServerMessage(message))
}

fn reference_error(status: StatusCode, path: &str, message: &str) -> ClientError {
    match status.as_u16() {
        401 => ClientError::auth("Unauthorized: invalid or expired token"),
        403 => {
            ClientError::auth("Forbidden: insufficient permissions").with_kind(ErrorKind::Forbidden)
        }
        404 => ClientError::managed_service(format!("Not found: {path}"))
            .with_kind(ErrorKind::NotFound),
        409 => ClientError::table(message).with_kind(ErrorKind::Conflict),
        code => {
            let kind = match code {
                400 => ErrorKind::BadInput,
                422 => ErrorKind::Unsupported,
                413 => ErrorKind::TooLarge,
                408 => ErrorKind::Timeout,
                503 => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            };
            ClientError::managed_service(format!("API request failed: HTTP {code}: {message}"))
                .with_kind(kind)
        }
    }
}

/// A query's failure: the server's own message when it sent one (it is
/// the statement's, `Query failed: ...`), and the kind its status says.
/// Credentials and connection failures keep their class.
fn query_failure(e: ClientError) -> ClientError {
    use std::error::Error as _;
    if e.is_auth() {
        return e;
    }
    let server = e
        .source()
        .and_then(|s| s.downcast_ref::<ServerMessage>())
        .map(|m| m.0.clone())
        .filter(|m| m.starts_with("Query failed: "));
    let message = server.unwrap_or_else(|| format!("Query failed: {}", e.message()));
    ClientError::table(message).with_kind(e.kind())
}

/// The org a token's claims name, if any (the server verifies the token).
fn org_claim(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let json: Json = serde_json::from_slice(&bytes).ok()?;
    ["OrgID", "org_id"]
        .iter()
        .find_map(|k| json.get(*k).and_then(Json::as_str).map(str::to_string))
        .filter(|s| !s.is_empty())
}

/// A `$n` parameter as JSON: vectors as arrays, which the server types.
fn param(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Str(s) => json!(s),
        Value::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            json!(format!("\\x{hex}"))
        }
        Value::Floats(f) => json!(f),
        Value::FloatRows(r) => json!(r),
        Value::Json(j) => j.clone(),
    }
}

impl Remote {
    /// Connects to `base` as the token's org (or, for a token without one,
    /// the first org `GET /me` lists, as the reference does).
    pub async fn connect(base: &str, token: &str, workspace: &str) -> Result<Remote> {
        let http = reqwest::Client::builder().build().map_err(network)?;
        let mut remote = Remote {
            base: base.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            org: String::new(),
            workspace: workspace.to_string(),
            http,
            storage_path: tokio::sync::OnceCell::new(),
        };
        remote.org = match org_claim(token) {
            Some(org) => org,
            None => {
                let me = remote.json(Method::GET, "/me", Body::None, None).await?;
                me.get("organizations")
                    .and_then(Json::as_array)
                    .and_then(|o| o.first())
                    .and_then(Json::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ClientError::token("Token does not contain org_id claim"))?
            }
        };
        Ok(remote)
    }

    pub fn org(&self) -> &str {
        &self.org
    }
    pub fn workspace(&self) -> &str {
        &self.workspace
    }
    pub fn base(&self) -> &str {
        &self.base
    }

    fn ws_path(&self, rest: &str) -> String {
        format!("/workspaces/{}{rest}", self.workspace)
    }

    fn request(&self, method: Method, path: &str, timeout: Option<Duration>) -> RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("X-Activeloop-Org-Id", &self.org);
        match timeout {
            Some(t) => req.timeout(t),
            None => req,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        timeout: Option<Duration>,
    ) -> Result<bytes::Bytes> {
        let req = self.request(method, path, Some(timeout.unwrap_or(DEFAULT_TIMEOUT)));
        let req = match body {
            Body::None => req.header("Content-Type", "application/json"),
            Body::Json(j) => req
                .header("Content-Type", "application/json")
                .body(j.to_string()),
        };
        reply(req, path).await
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Body,
        timeout: Option<Duration>,
    ) -> Result<Json> {
        parse_json(&self.send(method, path, body, timeout).await?)
    }

    /// The workspace's table files, read through the server (`GET
    /// /workspaces/{ws}/files/...` with ranges): a dataset opened on it works
    /// as one opened on the storage itself, for clients that cannot reach
    /// the storage.
    pub fn files(&self) -> Result<Location> {
        use object_store::http::HttpBuilder;
        use object_store::{ClientOptions, RetryConfig};
        use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
        let bad = |e: String| ClientError::managed_service(format!("API request failed: {e}"));
        let mut headers = HeaderMap::new();
        let value = |v: String| HeaderValue::from_str(&v).map_err(|e| bad(e.to_string()));
        headers.insert(AUTHORIZATION, value(format!("Bearer {}", self.token))?);
        headers.insert("X-Activeloop-Org-Id", value(self.org.clone())?);
        // A stopped server fails the read in seconds, not after the default
        // minutes of retries.
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
            ..Default::default()
        };
        let store = HttpBuilder::new()
            .with_url(format!("{}{}", self.base, self.ws_path("/files")))
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_default_headers(headers),
            )
            .with_retry(retry)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Location::new(
            std::sync::Arc::new(store),
            object_store::path::Path::default(),
        ))
    }

    /// `<root>/<org>/<workspace>` as the server reports it.
    /// Asked once per client: a workspace's storage does not move.
    pub async fn storage_path(&self) -> Result<String> {
        self.storage_path
            .get_or_try_init(|| self.fetch_storage_path())
            .await
            .cloned()
    }

    async fn fetch_storage_path(&self) -> Result<String> {
        let r = self
            .json(
                Method::GET,
                &self.ws_path("/storage-path"),
                Body::None,
                None,
            )
            .await?;
        r.get("storage_path")
            .and_then(Json::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                ClientError::workspace(format!(
                    "No storage path returned for workspace '{}'",
                    self.workspace
                ))
            })
    }

    pub async fn list_tables(&self) -> Result<Vec<String>> {
        let r = self
            .json(Method::GET, &self.ws_path("/tables"), Body::None, None)
            .await;
        let r = match r {
            // A workspace no table was created in yet has no tables.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(vec![]),
            r => r?,
        };
        Ok(r.get("tables")
            .and_then(Json::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.get("table_name").and_then(Json::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn drop_table(&self, name: &str, if_exists: bool) -> Result<()> {
        let path = self.ws_path(&format!("/tables/{name}"));
        match self.send(Method::DELETE, &path, Body::None, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && if_exists => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(ClientError::table_missing(name)),
            Err(e) => Err(e),
        }
    }

    pub async fn create_table(&self, name: &str, columns: &[(String, SpecType)]) -> Result<()> {
        let schema: serde_json::Map<String, Json> = columns
            .iter()
            .map(|(c, t)| (c.clone(), json!(t.name())))
            .collect();
        let body = json!({ "table_name": name, "table_schema": schema });
        let r = self
            .send(
                Method::POST,
                &self.ws_path("/tables"),
                Body::Json(body),
                None,
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Conflict => Err(ClientError::table_exists(name)),
            Err(e) => Err(as_table_error(e)),
        }
    }

    /// A table's columns, row count and version; `None` when it does not exist.
    pub async fn describe(&self, name: &str) -> Result<Option<TableInfo>> {
        let path = self.ws_path(&format!("/tables/{name}"));
        let r = match self.json(Method::GET, &path, Body::None, None).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            r => r?,
        };
        let text = |j: &Json, k: &str| j.get(k).and_then(Json::as_str).unwrap_or("").to_string();
        let columns = r
            .get("columns")
            .and_then(Json::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| ColumnInfo {
                        name: text(c, "name"),
                        spec_type: text(c, "spec_type"),
                        sql_type: text(c, "type"),
                        index: c.get("index").and_then(|i| {
                            Some((
                                i.get("name")?.as_str()?.to_string(),
                                i.get("type")?.as_str()?.to_string(),
                            ))
                        }),
                        index_params: c
                            .get("index")
                            .and_then(|i| i.get("params"))
                            .and_then(Json::as_object)
                            .map(|p| {
                                p.iter()
                                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(TableInfo {
            name: name.to_string(),
            columns,
            row_count: r.get("row_count").and_then(Json::as_u64).unwrap_or(0),
            version: r.get("version").and_then(Json::as_u64).unwrap_or(0),
        }))
    }

    /// One statement's result as Arrow. A failure is `TableError("Query
    /// failed: ...")`, with the server's own message when it gave one.
    pub async fn query_arrow(
        &self,
        sql: &str,
        params: &[Value],
        timeout: Option<Duration>,
    ) -> Result<QueryOutput> {
        let mut body = json!({
            "query": sql,
            "params": params.iter().map(param).collect::<Vec<_>>(),
        });
        if let Some(t) = timeout {
            body["timeout_ms"] = json!(t.as_millis() as u64);
        }
        let wait = timeout.map(|t| t + SLACK);
        let path = self.ws_path("/tables/query/arrow");
        let bytes = self
            .send(
                Method::POST,
                &path,
                Body::Json(body),
                wait.or(Some(DEFAULT_TIMEOUT)),
            )
            .await
            .map_err(query_failure)?;
        let batches = read_stream(&bytes).map_err(|e| {
            ClientError::table(format!("Query failed: {}", e.message()))
                .with_kind(ErrorKind::Internal)
        })?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => std::sync::Arc::new(Schema::empty()),
        };
        Ok(QueryOutput { schema, batches })
    }

    /// Starts writing rows into `table` under `mode` as one streamed
    /// request: the server commits every `commit_every` rows as they
    /// arrive, so encoding here and writing there overlap.
    pub fn upload(&self, table: &str, mode: Mode, commit_every: usize) -> Upload {
        let mode = match mode {
            Mode::Create => "create",
            Mode::Append => "append",
            Mode::Overwrite => "overwrite",
        };
        let path = self.ws_path(&format!(
            "/tables/{table}/rows?mode={mode}&commit_every={commit_every}"
        ));
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<bytes::Bytes>>(UPLOAD_QUEUE);
        let complete = Arc::new(AtomicBool::new(false));
        let body = upload_body(rx, complete.clone());
        let req = self
            .request(Method::POST, &path, None)
            .header("Content-Type", ARROW_STREAM)
            .body(reqwest::Body::wrap_stream(body));
        Upload {
            tx: Some(tx),
            complete,
            encoder: Box::default(),
            request: Some(Box::new((req, path))),
            sent: None,
        }
    }
}

/// Encoded messages waiting for the connection: enough to keep it busy
/// while the next is encoded, few enough to bound memory.
const UPLOAD_QUEUE: usize = 4;
/// The longest the server may stop taking an upload's bytes in, or take
/// to answer once they are all sent (it merges the upload's files then).
const UPLOAD_STALL: Duration = Duration::from_secs(600);

/// An upload's body: the queued messages' chunks, ending cleanly only
/// once [`Upload::finish`] or [`Upload::abort`] marked it so. An upload
/// dropped before that ends its body with an error, so the server sees a
/// broken upload and commits nothing more of it.
fn upload_body(
    rx: tokio::sync::mpsc::Receiver<Vec<bytes::Bytes>>,
    complete: Arc<AtomicBool>,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    let chunks = std::collections::VecDeque::new();
    futures::stream::unfold(Some((rx, chunks)), move |state| {
        let complete = complete.clone();
        async move {
            let (mut rx, mut chunks) = state?;
            loop {
                if let Some(chunk) = chunks.pop_front() {
                    return Some((Ok(chunk), Some((rx, chunks))));
                }
                match rx.recv().await {
                    Some(message) => chunks.extend(message),
                    None if complete.load(Ordering::Acquire) => return None,
                    None => {
                        return Some((
                            Err(std::io::Error::other("the ingest stopped before its end")),
                            None,
                        ))
                    }
                }
            }
        }
    })
}

/// Rows on their way to a server in one streamed request.
pub struct Upload {
    tx: Option<tokio::sync::mpsc::Sender<Vec<bytes::Bytes>>>,
    complete: Arc<AtomicBool>,
    /// Boxed, as the request is: the encoder is large.
    encoder: Box<Encoder>,
    /// Boxed: a request builder is large, and a writer is moved around.
    request: Option<Box<(RequestBuilder, String)>>,
    sent: Option<tokio::task::JoinHandle<Result<bytes::Bytes>>>,
}

impl Upload {
    /// The request's answer to come, sending the request with the first
    /// rows (a writer is made outside the runtime that drives it).
    fn response(&mut self) -> &mut tokio::task::JoinHandle<Result<bytes::Bytes>> {
        let request = self.request.take();
        self.sent.get_or_insert_with(move || {
            tokio::spawn(async move {
                match request.map(|r| *r) {
                    Some((req, path)) => reply(req, &path).await,
                    None => Err(ClientError::managed_service("API request failed: not sent")),
                }
            })
        })
    }

    /// Queues `batches`, waiting while the connection is behind.
    pub async fn send(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for b in batches {
            let bytes = self.encoder.batch(b)?;
            self.queue(bytes).await?;
        }
        Ok(())
    }

    async fn queue(&mut self, bytes: Vec<bytes::Bytes>) -> Result<()> {
        self.response();
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        match tokio::time::timeout(UPLOAD_STALL, tx.send(bytes)).await {
            Ok(Ok(())) => Ok(()),
            // The request ended early: its response says why.
            Ok(Err(_)) => Err(self.failure().await),
            Err(_) => Err(ClientError::managed_service(format!(
                "API request failed: the server took no rows for {}s",
                UPLOAD_STALL.as_secs()
            ))
            .with_kind(ErrorKind::Unavailable)),
        }
    }

    /// The server's answer, waited for at most [`UPLOAD_STALL`] (the
    /// request is sent now if no rows were).
    async fn answer(&mut self) -> Result<bytes::Bytes> {
        self.response();
        let Some(response) = self.sent.take() else {
            return Err(ClientError::managed_service("API request failed: not sent"));
        };
        match tokio::time::timeout(UPLOAD_STALL, response).await {
            // A conflict (the table exists, a unique value repeats) keeps
            // the server's words.
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                Err(ClientError::managed_service(format!("API request failed: {e}")).with_source(e))
            }
            Err(_) => Err(ClientError::managed_service(format!(
                "API request failed: no answer {}s after the last rows",
                UPLOAD_STALL.as_secs()
            ))
            .with_kind(ErrorKind::Timeout)),
        }
    }

    /// Why the request ended before its body did.
    async fn failure(&mut self) -> ClientError {
        self.tx = None;
        match self.answer().await {
            Err(e) => e,
            Ok(_) => ClientError::managed_service(
                "API request failed: the server answered before the rows were sent",
            ),
        }
    }

    /// Ends the upload without its end-of-stream marker, so the server
    /// writes nothing after its last commit, and waits for the server to
    /// stop: once this returns, the table no longer changes for it.
    pub async fn abort(mut self) {
        self.complete.store(true, Ordering::Release);
        self.tx = None;
        if self.sent.is_some() {
            let _ = self.answer().await;
        }
    }

    /// Ends the stream and waits for the server's count of rows written.
    pub async fn finish(mut self) -> Result<u64> {
        let tail = std::mem::take(&mut self.encoder).finish()?;
        if !tail.is_empty() {
            self.queue(tail).await?;
        }
        self.complete.store(true, Ordering::Release);
        self.tx = None;
        let r = self.answer().await?;
        Ok(parse_json(&r)?
            .get("row_count")
            .and_then(Json::as_u64)
            .unwrap_or(0))
    }
}

/// A table operation's failure reported as a `TableError`, keeping its kind.
fn as_table_error(e: ClientError) -> ClientError {
    match e.error_class() {
        ErrorClass::ManagedService => e.with_class(ErrorClass::Table),
        _ => e,
    }
}
