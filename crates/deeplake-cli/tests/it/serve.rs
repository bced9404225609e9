//! `deeplake serve` as a user runs it: the real binary on a loopback port,
//! tokens from `deeplake token create`, and plain HTTP on every path of
//! the REST API, its error statuses and its security checks.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use deeplake_cli::served::Served;
use deeplake_server::auth::{new_claims, now};
use deeplake_server::Secret;
use serde_json::{json, Value};

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deeplake"));
    c.env("DEEPLAKE_JWT_SECRET", SECRET)
        .env_remove("DEEPLAKE_ROOT")
        .env_remove("DEEPLAKE_API_KEY")
        .env_remove("DEEPLAKE_API_URL");
    c
}

/// The real binary serving `root` on a loopback port.
fn serve(root: &Path, extra: &[&str]) -> Served {
    Served::start(
        Path::new(env!("CARGO_BIN_EXE_deeplake")),
        root,
        SECRET,
        extra,
    )
    .unwrap()
}

fn token(args: &[&str]) -> String {
    let out = bin().args(["token", "create"]).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A tiny blocking HTTP client over reqwest's async one.
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

struct Reply {
    status: u16,
    body: Value,
    bytes: Vec<u8>,
}

impl Http {
    fn new() -> Http {
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.rt.block_on(async {
            let mut req = self
                .client
                .request(method.parse().unwrap(), url)
                .header("Content-Type", "application/json");
            if let Some(t) = token {
                req = req.header("Authorization", format!("Bearer {t}"));
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.body(b);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.unwrap().to_vec();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Reply {
                status,
                body,
                bytes,
            }
        })
    }

    fn get(&self, url: &str, token: Option<&str>) -> Reply {
        self.send("GET", url, token, None, &[])
    }
    fn post(&self, url: &str, token: Option<&str>, body: Value) -> Reply {
        self.send("POST", url, token, Some(body.to_string().into_bytes()), &[])
    }
    fn delete(&self, url: &str, token: Option<&str>) -> Reply {
        self.send("DELETE", url, token, None, &[])
    }
}

fn error_of(r: &Reply) -> &str {
    r.body["error"].as_str().unwrap_or_else(|| {
        panic!(
            "no error body (status {}): {}",
            r.status,
            String::from_utf8_lossy(&r.bytes)
        )
    })
}

#[test]
fn serve_refuses_to_start_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .env_remove("DEEPLAKE_JWT_SECRET")
        .args(["serve", "--http", "127.0.0.1:0", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no JWT signing secret"), "{err}");
    assert!(err.contains("DEEPLAKE_JWT_SECRET"), "{err}");
    // A short secret is refused too.
    let out = bin()
        .env("DEEPLAKE_JWT_SECRET", "short")
        .args(["serve", "--http", "127.0.0.1:0", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
}

#[test]
fn rest_api_paths_bodies_and_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let http = Http::new();
    let t = token(&["--org", "acme", "--user", "alice", "--name", "Alice"]);
    let tok = Some(t.as_str());

    let r = http.get(&server.url("/health"), None);
    assert_eq!((r.status, r.body.clone()), (200, json!({"status": "ok"})));
    assert_eq!(http.get(&server.url("/ready"), None).status, 200);

    // The OpenAPI document names every path served.
    let doc = http.get(&server.url("/openapi.json"), None).body;
    for path in [
        "/me",
        "/organizations",
        "/workspaces",
        "/workspaces/{ws}/storage-path",
        "/workspaces/{ws}/credentials/generate",
        "/workspaces/{ws}/tables",
        "/workspaces/{ws}/tables/query",
        "/workspaces/{ws}/tables/query/arrow",
        "/workspaces/{ws}/tables/{name}",
        "/workspaces/{ws}/tables/{name}/rows",
        "/workspaces/{ws}/files/{path}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not in openapi");
    }

    let me = http.get(&server.url("/me"), tok).body;
    assert_eq!(me["id"], "alice");
    assert_eq!(me["organizations"], json!(["acme"]));
    let orgs = http.get(&server.url("/organizations"), tok).body;
    assert_eq!(orgs["organizations"][0]["id"], "acme");

    // A workspace that does not exist is a 404 on reads.
    let r = http.get(&server.url("/workspaces/ws1/tables"), tok);
    assert_eq!(r.status, 404);
    assert!(error_of(&r).contains("Workspace 'ws1' not found"));
    let r = http.post(&server.url("/workspaces"), tok, json!({"name": "ws1"}));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http.post(&server.url("/workspaces"), tok, json!({"name": "ws1"}));
    assert_eq!(r.status, 409);
    assert!(error_of(&r).contains("already exists"));
    let r = http.post(&server.url("/workspaces"), tok, json!({"nom": "x"}));
    assert_eq!(r.status, 400);
    let ws = http.get(&server.url("/workspaces"), tok).body;
    assert_eq!(ws["workspaces"][0]["name"], "ws1");

    let r = http.get(&server.url("/workspaces/ws1/storage-path"), tok);
    let want = format!("{}/acme/ws1", dir.path().display());
    assert_eq!(r.body["storage_path"], want.as_str());
    let r = http.post(
        &server.url("/workspaces/ws1/credentials/generate"),
        tok,
        json!({"mode": "read"}),
    );
    assert_eq!((r.status, r.body["mode"].clone()), (200, json!("read")));
    // No keys: where the prefix is, and the server-proxied path.
    assert_eq!(r.body["creds"], json!({}));
    assert_eq!(
        r.body["storage"],
        json!({"kind": "local", "path": want.as_str()})
    );
    assert_eq!(r.body["files_path"], "/workspaces/ws1/files/");
    let r = http.post(
        &server.url("/workspaces/ws1/credentials/generate"),
        tok,
        json!({"mode": "admin"}),
    );
    assert_eq!(r.status, 400);

    // create table: SQL type names as clients send them, columns sorted.
    let schema = json!({
        "id": "BIGINT", "text": "TEXT", "emb": "EMBEDDING(3)", "img": "IMAGE",
        "pt": "DEEPLAKE_POINT", "meta": "JSONB", "raw": "bytea", "score": "float4"
    });
    let create = json!({"table_name": "docs", "table_schema": schema});
    let r = http.post(&server.url("/workspaces/ws1/tables"), tok, create.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["created"], true);
    let r = http.post(&server.url("/workspaces/ws1/tables"), tok, create);
    assert_eq!(r.status, 409);
    assert!(error_of(&r).contains("already exists"), "{}", r.body);
    for (bad, why) in [
        (
            json!({"table_name": "t2", "table_schema": {"a": "NOPE"}}),
            "Invalid type for column 'a'",
        ),
        (json!({"table_name": "t2"}), "table_schema is required"),
        (
            json!({"table_name": "../t2", "table_schema": {"a": "TEXT"}}),
            "Invalid table name",
        ),
        (
            json!({"table_name": "t2", "table_schema": {"a": "FILE"}}),
            "FILE",
        ),
    ] {
        let r = http.post(&server.url("/workspaces/ws1/tables"), tok, bad);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(error_of(&r).contains(why), "{}", r.body);
    }
    let r = http.get(&server.url("/workspaces/ws1/tables"), tok);
    assert_eq!(r.body, json!({"tables": [{"table_name": "docs"}]}));
    let d = http
        .get(&server.url("/workspaces/ws1/tables/docs"), tok)
        .body;
    let names: Vec<&str> = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["emb", "id", "img", "meta", "pt", "raw", "score", "text"]
    );
    assert_eq!(d["columns"][0]["type"], "float4[3]");
    assert_eq!(d["columns"][0]["spec_type"], "EMBEDDING(3)");
    assert_eq!(d["columns"][4]["type"], "DEEPLAKE_POINT");
    assert_eq!(
        (d["row_count"].clone(), d["version"].clone()),
        (json!(0), json!(1))
    );

    // SQL: parameters typed from JSON, cells as the reference returns them.
    let q = |sql: &str, params: Value| {
        http.post(
            &server.url("/workspaces/ws1/tables/query"),
            tok,
            json!({"query": sql, "params": params}),
        )
    };
    let r = q(
        "INSERT INTO docs (id, text, emb, meta, raw, score, pt) VALUES \
         (1, 'a cat', '{1,0,0}'::float4[], '{\"k\": 1}', decode('0102', 'hex'), 0.5, '{1,2}'::float4[]), \
         (2, 'a dog', '{0,1,0}'::float4[], '[1,2]', decode('ff', 'hex'), 1.5, '{3,4}'::float4[])",
        json!([]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = q(
        "SELECT id, text, meta, raw, emb, emb <#> $1::float4[] AS score FROM docs \
         WHERE id >= $2 ORDER BY score DESC",
        json!(["{1,0,0}", 1]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["columns"],
        json!(["id", "text", "meta", "raw", "emb", "score"])
    );
    let rows = r.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], 1);
    assert_eq!(rows[0][2], json!({"k": 1}));
    assert_eq!(rows[0][3], STANDARD.encode([1u8, 2]));
    assert_eq!(rows[0][4], json!([1.0, 0.0, 0.0]));
    assert!((rows[0][5].as_f64().unwrap() - 1.0).abs() < 1e-6);
    // A vector parameter given as a JSON array works as well.
    let r = q(
        "SELECT id FROM docs ORDER BY emb <#> $1::float4[] DESC LIMIT 1",
        json!([[0.0, 1.0, 0.0]]),
    );
    assert_eq!(r.body["rows"], json!([[2]]), "{}", r.body);
    let r = q("SELEC nonsense", json!([]));
    assert_eq!(r.status, 400);
    assert!(error_of(&r).starts_with("Query failed: "), "{}", r.body);
    let r = q("SELECT * FROM missing_table", json!([]));
    assert_eq!(r.status, 404);
    let r = http.post(
        &server.url("/workspaces/ws1/tables/query"),
        tok,
        json!({"sql": "x"}),
    );
    assert_eq!(r.status, 400);

    // The Arrow data plane: rows in as an IPC stream, results out as one.
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(Int64Array::from_iter_values(0..5000)),
            std::sync::Arc::new(StringArray::from_iter_values(
                (0..5000).map(|i| format!("row {i}")),
            )),
        ],
    )
    .unwrap();
    let ipc = deeplake_client::ipc::write_stream(&schema, &[batch]).unwrap();
    let rows_url = server.url("/workspaces/ws2/tables/nums/rows");
    let r = http.send("POST", &rows_url, tok, Some(ipc.clone()), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["row_count"], 5000);
    // The workspace was made on first table creation.
    let ws = http.get(&server.url("/workspaces"), tok).body;
    assert_eq!(ws["workspaces"].as_array().unwrap().len(), 2);
    let r = http.send("POST", &rows_url, tok, Some(ipc.clone()), &[]);
    assert_eq!(r.status, 409, "{}", r.body);
    let r = http.send(
        "POST",
        &format!("{rows_url}?mode=append"),
        tok,
        Some(ipc),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http.send("POST", &rows_url, tok, Some(b"not arrow".to_vec()), &[]);
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("not an Arrow IPC stream"));
    let d = http
        .get(&server.url("/workspaces/ws2/tables/nums"), tok)
        .body;
    assert_eq!(d["row_count"], 10000);
    let r = http.post(
        &server.url("/workspaces/ws2/tables/query/arrow"),
        tok,
        json!({"query": "SELECT count(*) AS c, max(n) AS m FROM nums"}),
    );
    assert_eq!(r.status, 200);
    let batches = deeplake_client::ipc::read_stream(&r.bytes).unwrap();
    let c = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(c.value(0), 10000);

    // drop: 200, then 404 (which the reference client reads as "not found").
    let r = http.delete(&server.url("/workspaces/ws1/tables/docs"), tok);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http.delete(&server.url("/workspaces/ws1/tables/docs"), tok);
    assert_eq!(r.status, 404);
    assert!(error_of(&r).contains("does not exist"));
    let r = http.get(&server.url("/workspaces/ws1/tables/docs"), tok);
    assert_eq!(r.status, 404);
}

/// A token with a chosen header and payload, signed (or not) as given.
/// Each kind of statement failure answers with its own status, chosen
/// from the engine's error kind, and the engine's message in the body.
#[test]
fn statement_failures_answer_with_their_kinds_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let http = Http::new();
    let t = token(&["--org", "acme", "--user", "alice"]);
    let tok = Some(t.as_str());
    let q = |body: Value| http.post(&server.url("/workspaces/ws1/tables/query"), tok, body);
    let sql = |text: &str| q(json!({ "query": text }));
    for table in ["docs", "big"] {
        let create = json!({"table_name": table, "table_schema": {"id": "BIGINT"}});
        let r = http.post(&server.url("/workspaces/ws1/tables"), tok, create);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let thousand: Vec<String> = (0..1000).map(|i| format!("({i})")).collect();
    let fill = format!("INSERT INTO big (id) VALUES {}", thousand.join(", "));
    for text in [
        fill.as_str(),
        "INSERT INTO docs (id) VALUES (1), (2), (3)",
        "CREATE INDEX docs_id ON docs USING deeplake_index (id) WITH (index_type = 'unique')",
    ] {
        let r = sql(text);
        assert_eq!(r.status, 200, "{text}: {}", r.body);
    }
    let cases = [
        ("SELEC 1", 400, "syntax error"),
        ("SELECT id / 0 FROM docs", 400, "Divide by zero"),
        (
            "SELECT * FROM missing",
            404,
            "relation \"missing\" does not exist",
        ),
        (
            "CREATE INDEX m ON missing USING deeplake_index (id)",
            404,
            "relation \"missing\" does not exist",
        ),
        (
            "INSERT INTO docs (id) VALUES (9), (2)",
            409,
            "duplicate key value violates unique constraint \"docs_id\"",
        ),
        ("COPY docs TO '/tmp/out.csv'", 422, "COPY is not supported"),
    ];
    for (text, status, words) in cases {
        let r = sql(text);
        assert_eq!(r.status, status, "{text}: {}", r.body);
        let e = error_of(&r);
        assert!(
            e.starts_with("Query failed: ") && e.contains(words),
            "{text}: {e}"
        );
    }
    let r = sql("SELECT count(*) AS n FROM docs");
    assert_eq!(
        r.body["rows"],
        json!([[3]]),
        "the refused INSERT wrote nothing"
    );

    // A statement past its budget (a billion-row cross join) is a 408 in
    // PostgreSQL's words.
    let r = q(json!({
        "query": "SELECT count(*) FROM big a, big b, big c",
        "timeout_ms": 200,
    }));
    assert_eq!(r.status, 408, "{}", r.body);
    assert!(error_of(&r).contains("statement timeout"), "{}", r.body);

    // A value past PostgreSQL's 1 GB limit is refused before it is built
    // (DataFusion would spend seconds building it in one step).
    for text in [
        "SELECT length(repeat('x', 2000000000))",
        "SELECT length(lpad('x', 1000000000, 'y'))",
    ] {
        let r = sql(text);
        assert_eq!(r.status, 400, "{text}: {}", r.body);
        assert!(
            error_of(&r).contains("requested length too large"),
            "{}",
            r.body
        );
    }

    // Heavy statements hold the statement runtime, never the server:
    // while four run to their deadline, a health check and a point query
    // on another table are answered, before any of the four ends.
    let first_heavy_done = std::sync::atomic::AtomicBool::new(false);
    let query_url = server.url("/workspaces/ws1/tables/query");
    std::thread::scope(|s| {
        let heavy: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let r = Http::new().post(
                        &query_url,
                        tok,
                        json!({
                            "query": "SELECT sum(a.id * b.id + c.id) FROM big a, big b, big c",
                            "timeout_ms": 6000,
                        }),
                    );
                    first_heavy_done.store(true, std::sync::atomic::Ordering::SeqCst);
                    r.status
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let health = Http::new().get(&server.url("/health"), None);
        let point = sql("SELECT id FROM docs WHERE id = 2");
        let answered_first = !first_heavy_done.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!((health.status, point.status), (200, 200), "{}", point.body);
        assert_eq!(point.body["rows"], json!([[2]]));
        assert!(
            answered_first,
            "the server answered only after a heavy statement ended"
        );
        for h in heavy {
            assert_eq!(h.join().unwrap(), 408);
        }
    });

    // Storage that fails under a statement is the server's fault (5xx),
    // never the caller's (4xx): here a table whose data files are gone
    // before anything read them.
    let create = json!({"table_name": "lost", "table_schema": {"id": "BIGINT"}});
    assert_eq!(
        http.post(&server.url("/workspaces/ws1/tables"), tok, create)
            .status,
        201
    );
    assert_eq!(sql("INSERT INTO lost (id) VALUES (1)").status, 200);
    let data = std::fs::read_dir(
        dir.path()
            .join("acme")
            .join("ws1")
            .join("lost")
            .join("data"),
    )
    .unwrap();
    for f in data {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let r = sql("SELECT sum(id) FROM lost");
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(error_of(&r).starts_with("Query failed: "), "{}", r.body);
}

fn raw_token(header: Value, payload: Value, signature: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{h}.{p}.{signature}")
}

#[test]
fn tokens_tenancy_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--max-body-mb", "1"]);
    let http = Http::new();
    let acme = token(&["--org", "acme", "--user", "alice"]);
    let beta = token(&["--org", "beta", "--user", "bob"]);

    // beta keeps a secret table.
    let r = http.post(
        &server.url("/workspaces/shared/tables"),
        Some(&beta),
        json!({"table_name": "secret", "table_schema": {"v": "TEXT"}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = http.post(
        &server.url("/workspaces/shared/tables/query"),
        Some(&beta),
        json!({"query": "INSERT INTO secret VALUES ('beta only')"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Bad tokens: 401, whatever the path.
    let now = now();
    let claims = json!({"OrgID": "beta", "UserID": "bob", "Exp": now + 3600, "Iat": now});
    let other = Secret::new("another-secret-0123456789abcdef012345678").unwrap();
    let forged = other
        .sign(&new_claims(Some("beta"), Some("bob"), None, 3600, now))
        .unwrap();
    let expired = Secret::new(SECRET)
        .unwrap()
        .sign(&new_claims(Some("beta"), Some("bob"), None, -10, now))
        .unwrap();
    let no_exp = Secret::new(SECRET)
        .unwrap()
        .sign(&deeplake_server::Claims {
            exp: None,
            ..new_claims(Some("beta"), None, None, 1, now)
        })
        .unwrap();
    let alg_none = raw_token(json!({"alg": "none", "typ": "JWT"}), claims.clone(), "");
    let hs512 = raw_token(json!({"alg": "HS512", "typ": "JWT"}), claims, "c2ln");
    let tampered = {
        // beta's valid signature over a payload changed to another org.
        let parts: Vec<&str> = beta.split('.').collect();
        let p = URL_SAFE_NO_PAD
            .encode(json!({"OrgID": "acme", "UserID": "bob", "Exp": now + 3600}).to_string());
        format!("{}.{p}.{}", parts[0], parts[2])
    };
    for (name, bad) in [
        ("forged", forged.as_str()),
        ("expired", expired.as_str()),
        ("no Exp", no_exp.as_str()),
        ("alg none", alg_none.as_str()),
        ("HS512", hs512.as_str()),
        ("tampered", tampered.as_str()),
        ("garbage", "not-a-token"),
    ] {
        for path in ["/me", "/workspaces/shared/tables", "/workspaces"] {
            let r = http.get(&server.url(path), Some(bad));
            assert_eq!(r.status, 401, "{name} on {path}: {}", r.body);
            assert!(error_of(&r).starts_with("Unauthorized"), "{}", r.body);
        }
    }
    let r = http.get(&server.url("/workspaces"), None);
    assert_eq!(r.status, 401);
    assert!(error_of(&r).contains("Token required"));

    // Another org's workspace is simply not there for acme; its data never shows.
    for path in [
        "/workspaces/shared/tables",
        "/workspaces/shared/tables/secret",
        "/workspaces/shared/storage-path",
    ] {
        let r = http.get(&server.url(path), Some(&acme));
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!String::from_utf8_lossy(&r.bytes).contains("beta only"));
    }
    let r = http.post(
        &server.url("/workspaces/shared/tables/query"),
        Some(&acme),
        json!({"query": "SELECT * FROM secret"}),
    );
    assert_eq!(r.status, 404);
    // A token naming one org cannot act in another through the header.
    let r = http.send(
        "GET",
        &server.url("/workspaces/shared/tables"),
        Some(&acme),
        None,
        &[("X-Activeloop-Org-Id", "beta")],
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // Names that try to leave the workspace: refused, nothing written.
    http.post(
        &server.url("/workspaces"),
        Some(&acme),
        json!({"name": "mine"}),
    );
    for path in [
        "/workspaces/..%2Fbeta/tables",
        "/workspaces/..%2F..%2Fbeta%2Fshared/tables",
        "/workspaces/mine/tables/..%2F..%2F..%2Fbeta%2Fshared%2Fsecret",
        "/workspaces/mine/tables/_versions",
        "/workspaces/.hidden/tables",
    ] {
        let r = http.get(&server.url(path), Some(&acme));
        assert!(
            r.status == 400 || r.status == 404,
            "{path}: {} {}",
            r.status,
            r.body
        );
        assert!(!String::from_utf8_lossy(&r.bytes).contains("beta only"));
    }
    let r = http.post(
        &server.url("/workspaces/mine/tables"),
        Some(&acme),
        json!({"table_name": "..%2F..%2Fbeta", "table_schema": {"v": "TEXT"}}),
    );
    assert_eq!(r.status, 400);
    // SQL that names other workspaces, other orgs or files.
    // Other schemas and catalogs do not resolve (400); names that would be
    // paths are tables that do not exist (404); statements that reach
    // files are not offered (422).
    for (sql, status) in [
        ("SELECT * FROM shared.secret", 400),
        ("SELECT * FROM beta.shared.secret", 400),
        ("SELECT * FROM \"../../beta/shared/secret\"", 404),
        ("SELECT * FROM '/etc/passwd'", 404),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            422,
        ),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", 422),
    ] {
        let r = http.post(
            &server.url("/workspaces/mine/tables/query"),
            Some(&acme),
            json!({"query": sql}),
        );
        assert_eq!(r.status, status, "{sql}: {}", r.body);
        assert!(!String::from_utf8_lossy(&r.bytes).contains("beta only"));
    }
    assert!(!dir.path().join("acme").join("beta").exists());
    let beta_rows = http.post(
        &server.url("/workspaces/shared/tables/query"),
        Some(&beta),
        json!({"query": "SELECT count(*) AS n FROM secret"}),
    );
    assert_eq!(beta_rows.body["rows"], json!([[1]]));

    // Oversized bodies: 413, nothing created.
    let big =
        json!({"table_name": "big", "table_schema": {"v": "TEXT"}, "pad": "x".repeat(2 << 20)});
    let r = http.post(&server.url("/workspaces/mine/tables"), Some(&acme), big);
    assert_eq!(r.status, 413);
    let r = http.get(&server.url("/workspaces/mine/tables"), Some(&acme));
    assert_eq!(r.body, json!({"tables": []}));
    // An upload is limited per message, not as a whole: 3 MB in small
    // batches is written; one batch over the limit is 413, nothing left.
    let text = |n: usize, lo: usize| {
        let schema = std::sync::Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let col = StringArray::from_iter_values((lo..lo + n).map(|i| format!("{i:0>100}")));
        RecordBatch::try_new(schema, vec![std::sync::Arc::new(col)]).unwrap()
    };
    let small: Vec<RecordBatch> = (0..30).map(|i| text(1000, i * 1000)).collect();
    let ipc = deeplake_client::ipc::write_stream(&small[0].schema(), &small).unwrap();
    assert!(ipc.len() > 2 << 20);
    let up = server.url("/workspaces/mine/tables/up/rows?commit_every=10000");
    let r = http.send("POST", &up, Some(&acme), Some(ipc.clone()), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["row_count"], 30_000);
    let big = text(12_000, 0);
    let one = deeplake_client::ipc::write_stream(&big.schema(), &[big]).unwrap();
    let bigger = server.url("/workspaces/mine/tables/bigger/rows");
    let r = http.send("POST", &bigger, Some(&acme), Some(one), &[]);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(error_of(&r).contains("send smaller batches"), "{}", r.body);
    // A stream that ends without its end-of-stream marker is a cut-off
    // upload: 400, its whole commits kept and nothing after them.
    let cut = &ipc[..ipc.len() - 8];
    let append = server.url("/workspaces/mine/tables/up/rows?mode=append&commit_every=7000");
    let r = http.send("POST", &append, Some(&acme), Some(cut.to_vec()), &[]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(error_of(&r).contains("end-of-stream marker"), "{}", r.body);
    let r = http.get(&server.url("/workspaces/mine/tables"), Some(&acme));
    assert_eq!(r.body, json!({"tables": [{"table_name": "up"}]}));
    let n = http.post(
        &server.url("/workspaces/mine/tables/query"),
        Some(&acme),
        json!({"query": "SELECT count(*) AS n FROM up"}),
    );
    // 4 commits of 7000 rows; the last 2000 were never committed.
    assert_eq!(n.body["rows"], json!([[58_000]]));
    let r = http.delete(&server.url("/workspaces/mine/tables/up"), Some(&acme));
    assert_eq!(r.status, 200);

    // A token without OrgID: /me answers from the server's record of the
    // user's orgs, and the first of them is the org it acts in.
    let root = dir.path().display().to_string();
    let carol = token(&[
        "--org",
        "acme",
        "--user",
        "carol",
        "--no-org-claim",
        "--root",
        &root,
    ]);
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(carol.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(payload.get("OrgID").is_none(), "{payload}");
    let me = http.get(&server.url("/me"), Some(&carol)).body;
    assert_eq!(me["organizations"], json!(["acme"]));
    let r = http.get(&server.url("/workspaces/mine/tables"), Some(&carol));
    assert_eq!(r.status, 200, "{}", r.body);
    // ...but not an org it is not a member of.
    let r = http.send(
        "GET",
        &server.url("/workspaces/shared/tables"),
        Some(&carol),
        None,
        &[("X-Activeloop-Org-Id", "beta")],
    );
    assert_eq!(r.status, 403);
    // A user with no recorded org is forbidden, not shown anything.
    let dave = token(&["--user", "dave"]);
    assert_eq!(
        http.get(&server.url("/me"), Some(&dave)).body["organizations"],
        json!([])
    );
    assert_eq!(
        http.get(&server.url("/workspaces"), Some(&dave)).status,
        403
    );
}

#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path(), &[]);
    let http = Http::new();
    let t = token(&["--org", "acme"]);
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![std::sync::Arc::new(Int64Array::from_iter_values(0..4000))],
    )
    .unwrap();
    let ipc = deeplake_client::ipc::write_stream(&schema, &[batch]).unwrap();
    let r = http.send(
        "POST",
        &server.url("/workspaces/ws/tables/n/rows"),
        Some(&t),
        Some(ipc),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A statement that takes a while (216M joined rows), then SIGTERM while it runs.
    let url = server.url("/workspaces/ws/tables/query");
    let tok = t.clone();
    let slow = std::thread::spawn(move || {
        let r = Http::new().post(
            &url,
            Some(&tok),
            json!({"query": "SELECT count(*) AS c, sum(a.n - b.n) AS s FROM n a, n b, n c \
                WHERE a.n < 600 AND b.n < 600 AND c.n < 600"}),
        );
        (r, std::time::Instant::now())
    });
    std::thread::sleep(Duration::from_millis(150));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let killed = std::time::Instant::now();
    let (r, answered) = slow.join().unwrap();
    // The answer came after the signal: the request was in flight.
    assert!(answered > killed, "the statement finished before SIGTERM");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rows"], json!([[216_000_000, 0]]));
    let mut exited = None;
    for _ in 0..200 {
        if let Ok(Some(status)) = server.child.try_wait() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = exited.expect("the server did not exit within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_rust_client_speaks_to_the_server() {
    use deeplake_client::{Client, Column, IngestOptions, Mode, SpecType, Value};

    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let t = token(&["--org", "acme", "--user", "alice"]);
    let c = Client::new(Some(&t), Some("ws"), Some(&server.url)).unwrap();
    assert!(c.is_remote());
    assert_eq!(c.org_id(), "acme");
    assert!(c.list_tables().unwrap().is_empty());
    let rows = 4500;
    let mut seen = vec![];
    let mut progress = |done: u64, total: i64| {
        seen.push((done, total));
        Ok(())
    };
    let data = vec![
        (
            "n".to_string(),
            Column::Values((0..rows).map(Value::Int).collect()),
        ),
        (
            "v".to_string(),
            Column::Values(
                (0..rows)
                    .map(|i| Value::Floats(vec![i as f64, 1.0]))
                    .collect(),
            ),
        ),
    ];
    let r = c
        .ingest(
            "t",
            data,
            IngestOptions {
                on_progress: Some(&mut progress),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.row_count, rows as u64);
    assert_eq!(seen.len(), 23, "progress every 200 rows");
    assert_eq!(seen.last(), Some(&(rows as u64, rows)));
    // Three requests of at most 2000 rows: three commits after the create.
    let info = c.describe_table("t").unwrap();
    assert_eq!((info.row_count, info.version), (rows as u64, 4));
    assert_eq!(info.columns[1].spec_type, "EMBEDDING(2)");
    let err = c
        .ingest(
            "t",
            vec![("n".into(), Column::Values(vec![Value::Int(1)]))],
            IngestOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.class(), "TableError");
    assert!(err.message().contains("Table already exists"), "{err}");
    let append = IngestOptions {
        mode: Mode::Append,
        ..Default::default()
    };
    c.ingest(
        "t",
        vec![("n".into(), Column::Values(vec![Value::Int(-1)]))],
        append,
    )
    .unwrap();
    let out = c
        .query("SELECT count(*) AS c, min(n) AS m FROM t", &[])
        .unwrap();
    assert_eq!(out[0].values(), &[Value::Int(rows + 1), Value::Int(-1)]);
    let top = c
        .query(
            "SELECT n FROM t WHERE v IS NOT NULL ORDER BY v <#> $1::float4[] DESC LIMIT 1",
            &[Value::Floats(vec![0.0, 1.0])],
        )
        .unwrap();
    assert_eq!(top[0].get("n"), Some(&Value::Int(0)));
    let err = c.query("SELEC 1", &[]).unwrap_err();
    assert_eq!(err.class(), "TableError");
    assert!(
        err.message().starts_with("Query failed: syntax error"),
        "{err}"
    );
    c.create_table("empty", &[("a".into(), SpecType::Text)])
        .unwrap();
    let err = c
        .create_table("empty", &[("a".into(), SpecType::Text)])
        .unwrap_err();
    assert_eq!(err.kind(), deeplake_client::ErrorKind::Conflict);
    // Reads go straight to the storage the server names.
    let ds = c.open_table("t").unwrap();
    assert_eq!(ds.len(), rows as u64 + 1);
    assert_eq!(ds.get(7).unwrap().get("n"), Some(&Value::Int(7)));
    c.drop_table("t", false).unwrap();
    let err = c.drop_table("t", false).unwrap_err();
    assert_eq!(err.kind(), deeplake_client::ErrorKind::NotFound);
    assert_eq!(c.list_tables().unwrap(), vec!["empty"]);
    // A stopped server is a ManagedServiceError naming the failure.
    drop(server);
    let err = c.list_tables().unwrap_err();
    assert_eq!(err.class(), "ManagedServiceError");
    assert!(err.message().starts_with("API request failed: "), "{err}");
}

/// What an operator sets on the command line holds: the JWT secret from
/// `--jwt-secret-file` (the environment's is then not accepted), no
/// workspace made on first use under `--no-auto-workspaces` until
/// `deeplake workspace create` makes it, and a file range past the end
/// answered 416.
#[test]
fn operator_settings_hold() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let secret_file = dir.path().join("jwt-secret");
    let file_secret = "file-secret-0123456789abcdef0123456789abcdef";
    std::fs::write(&secret_file, file_secret).unwrap();
    let server = serve(
        &root,
        &[
            "--jwt-secret-file",
            secret_file.to_str().unwrap(),
            "--no-auto-workspaces",
        ],
    );
    let http = Http::new();
    let signed = Secret::new(file_secret)
        .unwrap()
        .sign(&new_claims(Some("acme"), Some("alice"), None, 3600, now()))
        .unwrap();
    let tok = Some(signed.as_str());
    let from_env = token(&["--org", "acme", "--user", "alice"]);
    assert_eq!(http.get(&server.url("/me"), Some(&from_env)).status, 401);
    assert_eq!(http.get(&server.url("/me"), tok).status, 200);

    let create = || {
        let body = json!({"table_name": "t", "table_schema": {"id": "BIGINT"}});
        http.post(&server.url("/workspaces/ws1/tables"), tok, body)
    };
    let r = create();
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        error_of(&r).contains("Workspace 'ws1' not found"),
        "{}",
        r.body
    );
    let out = bin()
        .args(["workspace", "create", "--org", "acme", "--root"])
        .arg(&root)
        .arg("ws1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created workspace ws1 in org acme"));
    let again = bin()
        .args(["workspace", "create", "--org", "acme", "--root"])
        .arg(&root)
        .arg("ws1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists already"));
    assert_eq!(create().status, 201);
    // Another org's workspace of the same name was not made.
    let other = Secret::new(file_secret)
        .unwrap()
        .sign(&new_claims(Some("beta"), Some("bob"), None, 3600, now()))
        .unwrap();
    let body = json!({"table_name": "t", "table_schema": {"id": "BIGINT"}});
    let r = http.post(&server.url("/workspaces/ws1/tables"), Some(&other), body);
    assert_eq!(r.status, 404, "{}", r.body);

    let q = json!({"query": "INSERT INTO t (id) VALUES (1), (2)"});
    assert_eq!(
        http.post(&server.url("/workspaces/ws1/tables/query"), tok, q)
            .status,
        200
    );
    let latest = server.url("/workspaces/ws1/files/t/_latest");
    let r = http.send("GET", &latest, tok, None, &[("Range", "bytes=0-0")]);
    assert_eq!(r.status, 206);
    let r = http.send("GET", &latest, tok, None, &[("Range", "bytes=1000000-")]);
    assert_eq!(r.status, 416, "{}", String::from_utf8_lossy(&r.bytes));
}

/// Readiness says whether the storage answers, within a probe's time: a
/// root on an object store nobody listens for is a 503, not a hang.
#[test]
fn ready_is_503_while_the_storage_does_not_answer() {
    // A loopback port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let server = Served::start_with(
        Path::new(env!("CARGO_BIN_EXE_deeplake")),
        Path::new("s3://nobody/root"),
        SECRET,
        &[],
        &[
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "none"),
            ("AWS_SECRET_ACCESS_KEY", "none"),
        ],
    )
    .unwrap();
    let http = Http::new();
    assert_eq!(http.get(&server.url("/health"), None).status, 200);
    let r = http.get(&server.url("/ready"), None);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        error_of(&r).contains("storage is not reachable"),
        "{}",
        r.body
    );
}
