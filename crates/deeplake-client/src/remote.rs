//! The REST side of the remote client: one workspace on a `deeplake serve`
//! (or any server speaking the reference's protocol), with HTTP failures
//! mapped onto the error classes as the reference client maps them.
//!
//! Rows travel as Arrow IPC streams (`POST .../tables/{name}/rows` up,
//! `POST .../tables/query/arrow` down), so types survive the trip and no
//! value is re-parsed from JSON.

use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use deeplake_sql::QueryOutput;
use deeplake_storage::Location;
use deeplake_types::{SpecType, Value};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::error::{ClientError, ErrorClass, ErrorKind, Result};
use crate::ingest::Mode;
use crate::ipc::{read_stream, write_stream, ARROW_STREAM};
use crate::workspace::{ColumnInfo, TableInfo};
use crate::writer::Written;

/// What a request may take beyond its statement's own time budget.
const SLACK: Duration = Duration::from_secs(30);
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
    Arrow(Vec<u8>),
}

fn network(e: reqwest::Error) -> ClientError {
    ClientError::managed_service(format!("API request failed: {e}"))
        .with_kind(ErrorKind::Unavailable)
        .with_source(e)
}

/// A failed response as the reference client reports it.
fn status_error(status: StatusCode, path: &str, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|j| j.get("error").and_then(Json::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
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
                400 | 413 | 422 => ErrorKind::BadInput,
                408 => ErrorKind::Timeout,
                503 => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            };
            ClientError::managed_service(format!("API request failed: HTTP {code}: {message}"))
                .with_kind(kind)
        }
    }
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
    pub fn base(&self) -> &str {
        &self.base
    }

    fn ws_path(&self, rest: &str) -> String {
        format!("/workspaces/{}{rest}", self.workspace)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        timeout: Option<Duration>,
    ) -> Result<bytes::Bytes> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("X-Activeloop-Org-Id", &self.org)
            .timeout(timeout.unwrap_or(DEFAULT_TIMEOUT));
        req = match body {
            Body::None => req.header("Content-Type", "application/json"),
            Body::Json(j) => req
                .header("Content-Type", "application/json")
                .body(j.to_string()),
            Body::Arrow(b) => req.header("Content-Type", ARROW_STREAM).body(b),
        };
        let resp = req.send().await.map_err(network)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(network)?;
        if !status.is_success() {
            return Err(status_error(status, path, &bytes));
        }
        Ok(bytes)
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Body,
        timeout: Option<Duration>,
    ) -> Result<Json> {
        let bytes = self.send(method, path, body, timeout).await?;
        match bytes.is_empty() {
            true => Ok(json!({})),
            false => serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::managed_service(format!(
                    "API request failed: invalid JSON response: {e}"
                ))
                .with_source(e)
            }),
        }
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
            .map_err(|e| {
                let message = e.message();
                let inner = message
                    .split_once("Query failed: ")
                    .map(|(_, m)| m.to_string())
                    .unwrap_or_else(|| message.to_string());
                ClientError::table(format!("Query failed: {inner}")).with_kind(e.kind())
            })?;
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

    /// Writes typed batches into `table` under `mode`.
    pub async fn write(&self, table: &str, mode: Mode, batches: &[RecordBatch]) -> Result<Written> {
        let Some(first) = batches.first() else {
            return Ok(Written::default());
        };
        let bytes = write_stream(&first.schema(), batches)?;
        let mode = match mode {
            Mode::Create => "create",
            Mode::Append => "append",
            Mode::Overwrite => "overwrite",
        };
        let path = self.ws_path(&format!("/tables/{table}/rows?mode={mode}"));
        let r = self
            .json(
                Method::POST,
                &path,
                Body::Arrow(bytes),
                Some(Duration::from_secs(600)),
            )
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Conflict => ClientError::table_exists(table),
                _ => e,
            })?;
        let loose = r
            .get("uncompacted")
            .and_then(Json::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Written {
            rows: r.get("row_count").and_then(Json::as_u64).unwrap_or(0),
            loose,
        })
    }

    /// Has the server merge the given fragments of `table` (files of their
    /// own that earlier writes left) into ones of about `target_rows` rows;
    /// returns how many it replaced.
    pub async fn compact(
        &self,
        table: &str,
        fragments: &[String],
        target_rows: usize,
    ) -> Result<u64> {
        let path = self.ws_path(&format!("/tables/{table}/compact"));
        let body = json!({ "fragments": fragments, "target_rows": target_rows });
        let r = self
            .json(
                Method::POST,
                &path,
                Body::Json(body),
                Some(Duration::from_secs(600)),
            )
            .await
            .map_err(as_table_error)?;
        Ok(r.get("replaced").and_then(Json::as_u64).unwrap_or(0))
    }
}

/// A table operation's failure reported as a `TableError`, keeping its kind.
fn as_table_error(e: ClientError) -> ClientError {
    match e.error_class() {
        ErrorClass::ManagedService => e.with_class(ErrorClass::Table),
        _ => e,
    }
}
