//! The SQL surface: sqllogictest-style files under `tests/sql/` run
//! against a fixture workspace, plus the spec's queries verbatim, the
//! fluent builder, parameters and error classes.

use std::path::Path;

use crate::common::{client_at, col};
use deeplake_client::{Client, ClientError, IngestOptions, Value};

/// Three small tables the `.slt` files query.
fn fixture(dir: &Path) -> Client {
    let client = client_at(dir);
    let s = |v: &str| Value::Str(v.to_string());
    let docs = vec![
        col("id", (1..=6).map(Value::Int).collect()),
        col(
            "text",
            [
                "Machine learning finds patterns in data",
                "Neural networks are machine learning models",
                "Databases store data in tables",
                "The cat sat on the mat",
                "Deep neural networks learn representations",
                "SQL queries read tables in databases",
            ]
            .map(s)
            .to_vec(),
        ),
        col(
            "embedding",
            vec![
                vec![1.0, 0.0, 0.0].into(),
                vec![0.9, 0.1, 0.0].into(),
                vec![0.0, 1.0, 0.0].into(),
                vec![0.0, 0.0, 1.0].into(),
                vec![0.7, 0.3, 0.1].into(),
                vec![0.1, 0.9, 0.2].into(),
            ],
        ),
        col(
            "label",
            ["ml", "ml", "db", "other", "ml", "db"].map(s).to_vec(),
        ),
        col(
            "score",
            vec![
                Value::Float(0.5),
                Value::Float(1.5),
                Value::Float(2.5),
                Value::Null,
                Value::Float(4.5),
                Value::Float(5.5),
            ],
        ),
        col(
            "meta",
            [
                r#"{"kind": "article", "year": 2020, "tags": ["a", "b"]}"#,
                r#"{"kind": "paper", "year": 2021, "tags": ["b"]}"#,
                r#"{"kind": "article", "year": 2019, "tags": []}"#,
                r#"{"kind": "note", "year": 2022, "tags": ["c"]}"#,
                r#"{"kind": "paper", "year": 2023, "tags": ["a"]}"#,
                r#"{"kind": "article", "year": 2018, "tags": ["d"]}"#,
            ]
            .map(s)
            .to_vec(),
        ),
        col(
            "multi",
            vec![
                vec![vec![1.0, 0.0], vec![0.0, 1.0]].into(),
                vec![vec![1.0, 0.0]].into(),
                vec![vec![0.0, 1.0]].into(),
                vec![vec![0.6, 0.8], vec![-1.0, 0.0]].into(),
                vec![vec![0.0, -1.0]].into(),
                vec![vec![0.5, 0.5], vec![0.5, -0.5], vec![1.0, 1.0]].into(),
            ],
        ),
        col(
            "blob",
            vec![
                Value::Bytes(vec![0, 1]),
                Value::Bytes(vec![255]),
                Value::Null,
                Value::Bytes(vec![]),
                Value::Bytes(b"hi".to_vec()),
                Value::Bytes(vec![16, 32]),
            ],
        ),
    ];
    client
        .ingest("docs", docs, IngestOptions::default())
        .unwrap();
    let videos = vec![
        col(
            "id",
            (0..8)
                .map(|i| s(&format!("f{}_{}", i / 4, i % 4)))
                .collect(),
        ),
        col(
            "file_id",
            (0..8)
                .map(|i| s(if i < 4 { "abc" } else { "xyz" }))
                .collect(),
        ),
        col("chunk_index", (0..8).map(|i| Value::Int(i % 4)).collect()),
        col(
            "start_time",
            (0..8)
                .map(|i| Value::Float(f64::from(i % 4) * 30.0))
                .collect(),
        ),
        col(
            "end_time",
            (0..8)
                .map(|i| Value::Float(f64::from(i % 4) * 30.0 + 30.0))
                .collect(),
        ),
        col(
            "text",
            (0..8)
                .map(|i| s(&format!("Video segment {}: {}s", i % 4, (i % 4) * 30)))
                .collect(),
        ),
    ];
    client
        .ingest("videos", videos, IngestOptions::default())
        .unwrap();
    let labels = vec![
        col("label", ["ml", "db", "vision"].map(s).to_vec()),
        col(
            "description",
            ["Machine learning", "Databases", "Computer vision"]
                .map(s)
                .to_vec(),
        ),
    ];
    client
        .ingest("labels", labels, IngestOptions::default())
        .unwrap();
    client
}

fn fmt_float(x: f64) -> String {
    let s = format!("{x:.4}");
    if s == "-0.0000" {
        "0.0000".into()
    } else {
        s
    }
}

/// One value as the `.slt` files spell it.
fn fmt(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => fmt_float(*f),
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => format!(
            "\\x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        Value::Floats(v) => format!(
            "[{}]",
            v.iter()
                .map(|x| fmt_float(*x))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::FloatRows(r) => format!(
            "[{}]",
            r.iter()
                .map(|v| fmt(&Value::Floats(v.clone())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Json(j) => j.to_string(),
    }
}

enum Record {
    Statement {
        sql: String,
        error: Option<String>,
    },
    Query {
        sql: String,
        sort: bool,
        expected: Vec<String>,
    },
}

/// Parses the sqllogictest subset used here: `statement ok`,
/// `statement error <substring>`, `query [rowsort]` with `----` and one
/// result row per line (values joined by ` | `). `#` starts a comment.
fn parse_slt(text: &str) -> Vec<(usize, Record)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let head = line.to_string();
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let sql = sql.join("\n");
        if let Some(rest) = head.strip_prefix("statement") {
            let rest = rest.trim();
            let error = match rest {
                "ok" => None,
                r => Some(
                    r.strip_prefix("error")
                        .expect("statement ok|error")
                        .trim()
                        .to_string(),
                ),
            };
            out.push((start, Record::Statement { sql, error }));
        } else if let Some(rest) = head.strip_prefix("query") {
            let mut expected = Vec::new();
            if i < lines.len() && lines[i].trim() == "----" {
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    expected.push(lines[i].trim_end().to_string());
                    i += 1;
                }
            }
            out.push((
                start,
                Record::Query {
                    sql,
                    sort: rest.contains("rowsort"),
                    expected,
                },
            ));
        } else {
            panic!("line {start}: unknown record '{head}'");
        }
    }
    out
}

fn run_slt(path: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let client = fixture(dir.path());
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    for (line, record) in parse_slt(&text) {
        match record {
            Record::Statement { sql, error } => match (client.query(&sql, &[]), error) {
                (Ok(_), None) => {}
                (Err(e), None) => panic!("{name}:{line}: {sql}\nfailed: {e}"),
                (Ok(_), Some(want)) => {
                    panic!("{name}:{line}: {sql}\nsucceeded, expected error '{want}'")
                }
                (Err(e), Some(want)) => {
                    assert_eq!(e.class(), "TableError", "{name}:{line}");
                    assert!(
                        e.message().starts_with("Query failed: "),
                        "{name}:{line}: {e}"
                    );
                    assert!(
                        e.message().contains(&want),
                        "{name}:{line}: {sql}\nerror '{e}' lacks '{want}'"
                    );
                }
            },
            Record::Query {
                sql,
                sort,
                expected,
            } => {
                let rows = client
                    .query(&sql, &[])
                    .unwrap_or_else(|e| panic!("{name}:{line}: {sql}\nfailed: {e}"));
                let mut got: Vec<String> = rows
                    .iter()
                    .map(|r| r.values().iter().map(fmt).collect::<Vec<_>>().join(" | "))
                    .collect();
                let mut want = expected.clone();
                if sort {
                    got.sort();
                    want.sort();
                }
                assert_eq!(got, want, "{name}:{line}: {sql}");
            }
        }
    }
}

#[test]
fn sqllogictest_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "no .slt files in {}", dir.display());
    for f in files {
        run_slt(&f);
    }
}

fn table_error(e: ClientError) -> String {
    assert_eq!(e.class(), "TableError", "{e}");
    e.message().to_string()
}

fn emb_pg(v: &[f64]) -> String {
    format!(
        "{{{}}}",
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// `documents`/`embeddings`/`search_index`-style table: id, text, embedding.
fn search_table(client: &Client, name: &str) {
    let texts = [
        "Doc about AI",
        "Doc about ML",
        "Doc about databases",
        "neural networks learn from data",
        "artificial intelligence and neural networks",
    ];
    let embs: Vec<Value> = vec![
        vec![0.9, 0.1, 0.0].into(),
        vec![0.7, 0.3, 0.0].into(),
        vec![0.0, 0.2, 0.9].into(),
        vec![0.5, 0.5, 0.1].into(),
        vec![0.95, 0.2, 0.05].into(),
    ];
    client
        .ingest(
            name,
            vec![
                col("id", (1..=5).map(Value::Int).collect()),
                col("text", texts.iter().map(|t| Value::from(*t)).collect()),
                col("embedding", embs),
                col("label", ["A", "B", "C", "D", "E"].map(Value::from).to_vec()),
            ],
            IngestOptions::default(),
        )
        .unwrap();
}

fn ints_of(rows: &[deeplake_client::Row], column: &str) -> Vec<i64> {
    rows.iter()
        .map(|r| match r.get(column) {
            Some(Value::Int(i)) => *i,
            other => panic!("{column}: {other:?}"),
        })
        .collect()
}

fn strs_of(rows: &[deeplake_client::Row], column: &str) -> Vec<String> {
    rows.iter()
        .map(|r| match r.get(column) {
            Some(Value::Str(s)) => s.clone(),
            other => panic!("{column}: {other:?}"),
        })
        .collect()
}

#[test]
fn spec_quick_reference_and_workflow_queries_run_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let client = fixture(dir.path());
    search_table(&client, "embeddings");
    search_table(&client, "documents");
    search_table(&client, "search_index");

    // Fluent query API
    let results = client
        .table("videos")
        .select(["id", "text"])
        .limit(10)
        .execute()
        .unwrap();
    assert_eq!(results.len(), 8);
    assert_eq!(results[0].columns(), ["id", "text"]);

    // Fluent query with filters
    let results = client
        .table("videos")
        .select(["id", "text", "start_time"])
        .where_("file_id = $1", vec!["abc".into()])
        .where_("start_time > 60", vec![])
        .order_by("start_time")
        .limit(10)
        .execute()
        .unwrap();
    assert_eq!(strs_of(&results, "id"), ["f0_3"]);
    assert_eq!(results[0].get("start_time"), Some(&Value::Float(90.0)));

    let results = client
        .table("videos")
        .select(["id", "text", "start_time"])
        .where_("file_id = $1", vec!["abc".into()])
        .order_by("start_time ASC")
        .limit(10)
        .execute()
        .unwrap();
    assert_eq!(strs_of(&results, "id"), ["f0_0", "f0_1", "f0_2", "f0_3"]);

    // Raw SQL still works
    let results = client.query("SELECT * FROM videos LIMIT 10", &[]).unwrap();
    assert_eq!(results.len(), 8);
    assert_eq!(results[0].columns().len(), 6);

    // Vector similarity search (raw SQL)
    let query_embedding = [1.0, 0.1, 0.0];
    let results = client
        .query(
            "
SELECT id, text, embedding <#> $1::float4[] AS similarity
FROM embeddings
ORDER BY similarity DESC
LIMIT 10
",
            &[emb_pg(&query_embedding).into()],
        )
        .unwrap();
    assert_eq!(ints_of(&results, "id"), [1, 5, 2, 4, 3]);

    // Hybrid (client.query() example and decision tree)
    let hybrid = "
SELECT id, text,
(embedding, text)::deeplake_hybrid_record <#>
deeplake_hybrid_record($1::float4[], $2, 0.7, 0.3) AS score
FROM documents
ORDER BY score DESC LIMIT 10
";
    let results = client
        .query(
            hybrid,
            &[emb_pg(&[0.9, 0.3, 0.0]).into(), "neural networks".into()],
        )
        .unwrap();
    assert_eq!(results.len(), 5);
    let best = ints_of(&results, "id")[0];
    assert!(best == 5 || best == 1, "{results:?}");

    // BM25 (search examples)
    let results = client
        .query(
            "SELECT id, text, text <#> $1 AS score FROM documents ORDER BY score DESC LIMIT 10",
            &["neural networks".into()],
        )
        .unwrap();
    assert_eq!(&ints_of(&results, "id")[..2], [4, 5]);

    // Decision tree templates (with a real table name for `table`)
    for (sql, params) in [
        ("SELECT *, embedding <#> $1::float4[] AS score FROM documents ORDER BY score DESC LIMIT 10", vec![emb_pg(&[0.0, 0.0, 1.0]).into()]),
        ("SELECT *, text <#> $1 AS score FROM documents ORDER BY score DESC LIMIT 10", vec!["databases".into()]),
    ] {
        let rows = client.query(sql, &params).unwrap();
        assert_eq!(ints_of(&rows, "id")[0], 3, "{sql}");
        assert_eq!(rows[0].columns().last().map(String::as_str), Some("score"));
    }
    let rows = client
        .query(
            "SELECT *, (embedding, text)::deeplake_hybrid_record <#>
      deeplake_hybrid_record($1::float4[], $2, 0.7, 0.3) AS score
      FROM documents ORDER BY score DESC LIMIT 10",
            &[emb_pg(&[0.0, 0.2, 0.9]).into(), "databases".into()],
        )
        .unwrap();
    assert_eq!(ints_of(&rows, "id")[0], 3);
    assert_eq!(
        client
            .query("SELECT * FROM documents LIMIT 100", &[])
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        client
            .table("documents")
            .select(["id", "text"])
            .limit(100)
            .execute()
            .unwrap()
            .len(),
        5
    );

    // Workflow 1: fluent query for segments
    let segments = client
        .table("videos")
        .select(["id", "file_id", "start_time", "end_time", "text"])
        .where_("start_time > 60", vec![])
        .limit(10)
        .execute()
        .unwrap();
    assert_eq!(segments.len(), 2);
    for seg in &segments {
        assert_eq!(seg.get("start_time"), Some(&Value::Float(90.0)));
        assert_eq!(seg.get("end_time"), Some(&Value::Float(120.0)));
    }

    // Workflow 2: semantic search
    let results = client
        .query(
            "
SELECT text, embedding <#> $1::float4[] AS similarity
FROM search_index
ORDER BY similarity DESC
LIMIT 5
",
            &[emb_pg(&[0.8, 0.2, 0.0]).into()],
        )
        .unwrap();
    assert_eq!(results.len(), 5);
    let sims: Vec<f64> = results
        .iter()
        .map(|r| match r.get("similarity") {
            Some(Value::Float(f)) => *f,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(sims.windows(2).all(|w| w[0] >= w[1]), "{sims:?}");

    // Workflow 3: search within PDFs (a manuals-shaped table)
    client
        .ingest(
            "manuals",
            vec![
                col("file_id", ["m1", "m1", "m2"].map(Value::from).to_vec()),
                col(
                    "page_index",
                    vec![Value::Int(0), Value::Int(1), Value::Int(0)],
                ),
                col(
                    "text",
                    [
                        "Contents",
                        "Run the installation script",
                        "installation notes",
                    ]
                    .map(Value::from)
                    .to_vec(),
                ),
            ],
            IngestOptions::default(),
        )
        .unwrap();
    let pages = client
        .query(
            "
SELECT file_id, page_index, text
FROM manuals
WHERE text LIKE '%installation%'
",
            &[],
        )
        .unwrap();
    assert_eq!(strs_of(&pages, "file_id"), ["m1", "m2"]);
    assert_eq!(ints_of(&pages, "page_index"), [1, 0]);

    // Workflow 5: panoptic-shaped rows; segments_info comes back as JSON.
    client
        .ingest(
            "panoptic_train",
            vec![
                col("image_id", vec![Value::Int(9)]),
                col("filename", vec!["000009.jpg".into()]),
                col("segments_info", vec![r#"[{"id": 1}, {"id": 2}]"#.into()]),
            ],
            IngestOptions::default(),
        )
        .unwrap();
    let rows = client
        .query(
            "
SELECT image_id, filename, segments_info
FROM panoptic_train
LIMIT 10
",
            &[],
        )
        .unwrap();
    assert_eq!(
        rows[0].get("segments_info"),
        Some(&Value::Json(serde_json::json!([{"id": 1}, {"id": 2}])))
    );
}

#[test]
fn vector_parameters_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    let client = fixture(dir.path());
    let q = [1.0, 0.2, 0.0];
    let forms: Vec<(&str, Value)> = vec![
        ("embedding <#> $1::float4[]", emb_pg(&q).into()),
        ("embedding <#> $1::float4[]", "[1, 0.2, 0]".into()),
        ("embedding <#> $1::float4[]", Value::Floats(q.to_vec())),
        ("embedding <#> $1", Value::Floats(q.to_vec())),
        ("embedding <#> $1", emb_pg(&q).into()),
        ("embedding <#> CAST($1 AS real[])", emb_pg(&q).into()),
        ("$1::float4[] <#> embedding", emb_pg(&q).into()),
    ];
    for (expr, p) in forms {
        let sql = format!("SELECT id, {expr} AS s FROM docs ORDER BY s DESC LIMIT 3");
        let rows = client
            .query(&sql, std::slice::from_ref(&p))
            .unwrap_or_else(|e| panic!("{expr} {p:?}: {e}"));
        assert_eq!(ints_of(&rows, "id"), [2, 1, 5], "{expr} {p:?}");
    }
    // Multi-vector parameter.
    let rows = client
        .query(
            "SELECT id FROM docs ORDER BY multi <#> $1::float4[][] DESC, id LIMIT 1",
            &[Value::FloatRows(vec![vec![1.0, 0.0], vec![0.0, 1.0]])],
        )
        .unwrap();
    assert_eq!(ints_of(&rows, "id"), [1]);
}

#[test]
fn scalar_parameters_are_typed_from_context() {
    let dir = tempfile::tempdir().unwrap();
    let client = fixture(dir.path());
    let ids = |sql: &str, params: &[Value]| ints_of(&client.query(sql, params).unwrap(), "id");
    assert_eq!(
        ids(
            "SELECT id FROM docs WHERE score > $1 ORDER BY id",
            &[Value::Int(4)]
        ),
        [5, 6]
    );
    assert_eq!(
        ids("SELECT id FROM docs WHERE id = $1", &[Value::Float(3.0)]),
        [3]
    );
    assert_eq!(
        ids(
            "SELECT id FROM docs WHERE id IN ($1, $2) ORDER BY id",
            &[Value::Int(2), Value::Int(5)]
        ),
        [2, 5]
    );
    assert_eq!(
        ids(
            "SELECT id FROM docs WHERE label = $1 AND id > $2 ORDER BY id",
            &["ml".into(), Value::Int(1)]
        ),
        [2, 5]
    );
    assert_eq!(
        ids(
            "SELECT id FROM docs WHERE score < $1 ORDER BY id",
            &[Value::Float(-1.5)]
        ),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(
            "SELECT id FROM docs WHERE blob = $1",
            &[Value::Bytes(b"hi".to_vec())]
        ),
        [5]
    );
    assert_eq!(
        ids("SELECT id FROM docs ORDER BY id LIMIT $1", &[Value::Int(2)]),
        [1, 2]
    );
    assert_eq!(
        ids(
            "SELECT id FROM docs WHERE text = $1",
            &["it's; DROP TABLE docs; --".into()]
        ),
        Vec::<i64>::new()
    );
    let rows = client
        .query("SELECT $1 IS NULL AS n", &[Value::Null])
        .unwrap();
    assert_eq!(rows[0].get("n"), Some(&Value::Bool(true)));

    let err = |sql: &str, params: &[Value]| table_error(client.query(sql, params).unwrap_err());
    assert_eq!(
        err(
            "SELECT id FROM docs WHERE id = $1",
            &[Value::Int(1), Value::Int(2)]
        ),
        "Query failed: the query has 1 parameter placeholder(s) but 2 parameter(s) were given"
    );
    assert!(err("SELECT id FROM docs WHERE id = $2", &[Value::Int(1)]).contains("placeholder"));
    assert!(err("SELECT $1::float4[]", &[Value::Floats(vec![f64::NAN])])
        .contains("not a finite number"));
}

#[test]
fn fluent_builder_errors_and_renumbering() {
    let dir = tempfile::tempdir().unwrap();
    let client = fixture(dir.path());
    // Local numbering in the second condition, global in the third.
    let rows = client
        .table("docs")
        .select(["id"])
        .where_("label = $1", vec!["ml".into()])
        .where_("id > $1", vec![Value::Int(1)])
        .where_("score < $3", vec![Value::Float(3.0)])
        .order_by("id")
        .execute()
        .unwrap();
    assert_eq!(ints_of(&rows, "id"), [2]);
    let e = client
        .table("docs")
        .where_("id = $1", vec![Value::Int(1)])
        .where_("id = $5", vec![Value::Int(2)])
        .limit(1)
        .execute()
        .unwrap_err();
    assert!(table_error(e).contains("uses $5 but passes 1 parameter(s)"));
    let e = client.table("nope").execute().unwrap_err();
    assert!(table_error(e).contains("nope"));
    let e = client
        .table("docs")
        .select(["nosuch"])
        .execute()
        .unwrap_err();
    assert!(table_error(e).contains("nosuch"));
}

#[test]
fn new_commits_are_visible_to_the_next_query() {
    let dir = tempfile::tempdir().unwrap();
    let client = fixture(dir.path());
    let other = client_at(dir.path());
    other
        .ingest(
            "fresh",
            vec![col("x", vec![Value::Int(1)])],
            IngestOptions::default(),
        )
        .unwrap();
    let count = |c: &Client| client_count(c, "fresh");
    assert_eq!(count(&client), 1);
    other
        .ingest(
            "fresh",
            vec![col("x", vec![Value::Int(2)])],
            IngestOptions {
                mode: deeplake_client::Mode::Append,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(count(&client), 2);
    client.query("INSERT INTO fresh VALUES (3)", &[]).unwrap();
    assert_eq!(count(&other), 3);
    assert_eq!(other.open_table("fresh").unwrap().len(), 3);
}

fn client_count(c: &Client, table: &str) -> i64 {
    let rows = c
        .query(&format!("SELECT count(*) AS n FROM {table}"), &[])
        .unwrap();
    ints_of(&rows, "n")[0]
}

#[test]
fn top_k_over_partitions_matches_brute_force() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let client = client_at(dir.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let n = 60_000;
    let vecs: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..8).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    client
        .ingest(
            "big",
            vec![
                col("id", (0..n as i64).map(Value::Int).collect()),
                col("v", vecs.iter().map(|v| Value::Floats(v.clone())).collect()),
            ],
            IngestOptions {
                schema: vec![("v".into(), "EMBEDDING(8)".into())],
                // 30 fragments, so the scan runs as parallel partitions.
                write: deeplake_client::WriteOptions {
                    compact_to_bytes: 0,
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
    let q: Vec<f64> = (0..8).map(|_| rng.random_range(-1.0..1.0)).collect();
    let cos = |a: &[f64]| {
        let d: f64 = a.iter().zip(&q).map(|(x, y)| x * y).sum();
        d / (a.iter().map(|x| x * x).sum::<f64>().sqrt()
            * q.iter().map(|x| x * x).sum::<f64>().sqrt())
    };
    let mut want: Vec<(f64, i64)> = vecs
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(i, v)| (cos(v), i as i64))
        .collect();
    want.sort_by(|a, b| b.0.total_cmp(&a.0));
    let rows = client
        .query(
            "SELECT id, v <#> $1 AS s FROM big WHERE id % 3 = 0 ORDER BY s DESC LIMIT 10",
            &[Value::Floats(q.clone())],
        )
        .unwrap();
    assert_eq!(
        ints_of(&rows, "id"),
        want[..10].iter().map(|w| w.1).collect::<Vec<_>>()
    );
    for (r, w) in rows.iter().zip(&want) {
        let Some(Value::Float(s)) = r.get("s") else {
            panic!()
        };
        assert!((s - w.0).abs() < 1e-5);
    }
}

#[test]
fn hybrid_two_argument_form_weighs_both_sides_equally() {
    let dir = tempfile::tempdir().unwrap();
    let client = fixture(dir.path());
    let run = |record: &str| {
        client
            .query(
                &format!(
                    "SELECT id, (embedding, text)::deeplake_hybrid_record <#> {record} AS s FROM docs ORDER BY s DESC, id LIMIT 4"
                ),
                &[Value::Floats(vec![1.0, 0.2, 0.0]), "neural networks".into()],
            )
            .unwrap()
    };
    let two = run("deeplake_hybrid_record($1::float4[], $2)");
    let four = run("deeplake_hybrid_record($1::float4[], $2, 0.5, 0.5)");
    assert_eq!(two, four);
    // Rows 2 and 5 lead both lists, so they lead the fusion.
    let ids = ints_of(&two, "id");
    assert!(ids[..2].contains(&2) && ids[..2].contains(&5), "{ids:?}");
    let weights = client
        .query(
            "SELECT (embedding, text)::deeplake_hybrid_record <#> deeplake_hybrid_record('{1,0.2,0}'::float4[], 'q', -1, 0.5) FROM docs",
            &[],
        )
        .unwrap_err();
    assert!(table_error(weights).contains("hybrid weights must be constant numbers >= 0"));
}

/// Filters run inside the scan (late materialization): the rows and
/// positions they give must be exactly those of the same filter applied to
/// every row, across fragments of one and several pieces, with deleted
/// rows, NULLs, LIMIT, few passing rows (read row by row) and many.
#[test]
fn filters_inside_the_scan_match_a_filter_over_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_at(dir.path());
    let text = |i: i64| format!("row {i} {}", "x".repeat((i % 13) as usize));
    let val = |i: i64| (i % 5 != 0).then_some(i % 7);
    let columns = |ids: std::ops::Range<i64>| {
        vec![
            col("id", ids.clone().map(Value::Int).collect()),
            col("text", ids.clone().map(|i| Value::Str(text(i))).collect()),
            col(
                "val",
                ids.map(|i| val(i).map_or(Value::Null, Value::Int))
                    .collect(),
            ),
        ]
    };
    // One fragment of 60,000 rows (two scan pieces), then three of 2,000.
    let one_commit = deeplake_client::WriteOptions {
        commit_every: 60_000,
        ..Default::default()
    };
    client
        .ingest(
            "w",
            columns(0..60_000),
            IngestOptions {
                write: one_commit,
                ..Default::default()
            },
        )
        .unwrap();
    client
        .ingest(
            "w",
            columns(60_000..66_000),
            IngestOptions {
                mode: deeplake_client::Mode::Append,
                ..Default::default()
            },
        )
        .unwrap();
    client.query("DELETE FROM w WHERE id % 3 = 0", &[]).unwrap();
    let live: Vec<i64> = (0..66_000).filter(|i| i % 3 != 0).collect();
    let expect = |keep: &dyn Fn(i64) -> bool| -> Vec<i64> {
        live.iter().copied().filter(|i| keep(*i)).collect()
    };
    let ids = |sql: &str| ints_of(&client.query(sql, &[]).unwrap(), "id");

    // Few rows pass: the other columns are read at those rows only.
    let rows = client
        .query(
            "SELECT text, id FROM w WHERE id = $1",
            &[Value::Int(61_001)],
        )
        .unwrap();
    assert_eq!(ints_of(&rows, "id"), vec![61_001]);
    assert_eq!(strs_of(&rows, "text"), vec![text(61_001)]);
    let rows = client
        .query("SELECT text FROM w WHERE id = 40001", &[])
        .unwrap();
    assert_eq!(strs_of(&rows, "text"), vec![text(40_001)]);
    assert!(
        ids("SELECT id FROM w WHERE id = 3").is_empty(),
        "deleted row"
    );
    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(ids("SELECT id FROM w WHERE id < 50 OR id > 65990")),
        expect(&|i| !(50..=65_990).contains(&i))
    );
    // Many rows pass: whole fragments are read and filtered.
    let rows = client
        .query("SELECT id, text FROM w WHERE val IS NULL ORDER BY id", &[])
        .unwrap();
    assert_eq!(ints_of(&rows, "id"), expect(&|i| val(i).is_none()));
    assert_eq!(
        strs_of(&rows, "text"),
        expect(&|i| val(i).is_none())
            .into_iter()
            .map(text)
            .collect::<Vec<_>>()
    );
    // NULL fails a condition, as it does in SQL.
    assert_eq!(
        sorted(ids("SELECT id FROM w WHERE val < 2 OR NOT val >= 2")),
        expect(&|i| val(i).is_some_and(|v| v < 2))
    );
    assert_eq!(
        client_count(&client, "w WHERE length(text) > 12 AND val = 3"),
        expect(&|i| text(i).len() > 12 && val(i) == Some(3)).len() as i64
    );
    // LIMIT counts passing rows, wherever they are.
    let tail = ids("SELECT id FROM w WHERE id > 64000 LIMIT 5");
    assert_eq!(tail.len(), 5);
    assert!(tail.iter().all(|i| *i > 64_000 && i % 3 != 0), "{tail:?}");
    // Whole-row selections keep each passing row's position.
    let ds = client.open_table("w").unwrap();
    let positions = ds
        .row_positions("SELECT * FROM w WHERE val = 6 OR id = 65999", &[])
        .unwrap()
        .unwrap();
    let want: Vec<u64> = live
        .iter()
        .enumerate()
        .filter(|(_, i)| val(**i) == Some(6) || **i == 65_999)
        .map(|(p, _)| p as u64)
        .collect();
    assert_eq!(sorted(positions.iter().map(|p| *p as i64).collect()), {
        want.iter().map(|p| *p as i64).collect::<Vec<_>>()
    });
    let batch = ds.take(&[*want.last().unwrap()], Some(&["id"])).unwrap();
    assert_eq!(crate::common::first_i64s([Ok(batch)]), vec![65_999]);
    // A condition that is not boolean is refused, not taken as a filter.
    let e = client.query("SELECT id FROM w WHERE val", &[]).unwrap_err();
    assert!(table_error(e).contains("boolean"), "not boolean");
}
