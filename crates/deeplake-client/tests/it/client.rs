use std::sync::Arc;

use crate::common::{client_at, col, first_i64s, ints, jwt, opts_schema, texts};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Float32Array, Int64Array};
use deeplake_client::{
    Cancel, Client, ClientError, Column, ErrorKind, IngestOptions, Mode, SpecType, Value,
    WriteOptions,
};

#[test]
fn tokens_name_the_org_directory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let token = jwt(serde_json::json!({"OrgID": "acme", "UserID": "u", "Exp": 4_000_000_000i64}));
    let c = Client::new(Some(&token), Some("my-workspace"), Some(&url)).unwrap();
    assert_eq!(c.org_id(), "acme");
    let r = c
        .ingest("t", vec![ints("x", 0..3)], IngestOptions::default())
        .unwrap();
    assert_eq!(
        r.dataset_path,
        dir.path()
            .join("acme")
            .join("my-workspace")
            .join("t")
            .display()
            .to_string()
    );
    assert!(dir.path().join("acme/my-workspace/t/_versions").is_dir());

    let no_token = client_at(dir.path());
    assert_eq!(no_token.org_id(), "local");
    assert!(
        no_token.list_tables().unwrap().is_empty(),
        "orgs are separate"
    );

    let e = Client::new(Some("abc.def"), Some("ws"), Some(&url))
        .err()
        .unwrap();
    assert_eq!(
        e,
        ClientError::token("Invalid token format: expected JWT with 3 parts")
    );
    assert!(e.is_auth());
    let e = Client::new(
        Some(&jwt(serde_json::json!({"UserID": "u"}))),
        Some("ws"),
        Some(&url),
    )
    .err()
    .unwrap();
    assert_eq!(e, ClientError::token("Token does not contain org_id claim"));
    let e = Client::new(
        Some(&jwt(serde_json::json!({"OrgID": "a", "Exp": 1}))),
        Some("ws"),
        Some(&url),
    )
    .err()
    .unwrap();
    assert_eq!(e, ClientError::auth("Token expired"));
    let e = Client::new(
        Some(&jwt(serde_json::json!({"OrgID": "../etc"}))),
        Some("ws"),
        Some(&url),
    )
    .err()
    .unwrap();
    assert_eq!(e.class(), "TokenError");
    let e = Client::new(None, Some(""), Some(&url)).err().unwrap();
    assert_eq!(e, ClientError::managed_service("workspace_id required"));
    let e = Client::new(None, Some("ws"), Some("ftp://x"))
        .err()
        .unwrap();
    assert_eq!(e.class(), "ManagedServiceError");
    let e = Client::new(None, Some("a/b"), Some(&url)).err().unwrap();
    assert_eq!(e.class(), "WorkspaceError");
}

#[test]
fn every_type_round_trips_through_ingest_and_open_table() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let s = |x: &str| Value::Str(x.into());
    let blob = |b: &[u8]| Value::Bytes(b.to_vec());
    let columns: Vec<(&str, &str, Vec<Value>)> = vec![
        ("text", "TEXT", vec![s("héllo"), Value::Null]),
        ("i32", "INT32", vec![Value::Int(-7), Value::Int(7)]),
        ("i64", "INT64", vec![Value::Int(9_999_999_999), Value::Null]),
        (
            "f32",
            "FLOAT32",
            vec![Value::Float(3.5), Value::Float(-1.25)],
        ),
        (
            "f64",
            "FLOAT64",
            vec![Value::Float(1.000000000001), Value::Null],
        ),
        ("b", "BOOL", vec![Value::Bool(true), Value::Bool(false)]),
        ("bin", "BINARY", vec![blob(b"\x00\x01"), Value::Null]),
        (
            "j",
            "JSON",
            vec![
                Value::Json(serde_json::json!({"a": [1, 2]})),
                Value::Json(serde_json::json!("x")),
            ],
        ),
        ("img", "IMAGE", vec![blob(b"\x89PNG"), blob(b"")]),
        ("vid", "VIDEO", vec![blob(b"vid"), Value::Null]),
        (
            "emb",
            "EMBEDDING(3)",
            vec![Value::Floats(vec![0.5, 1.0, -2.0]), Value::Null],
        ),
        (
            "mv",
            "EMBEDDING_2D(2)",
            vec![
                Value::FloatRows(vec![vec![1.0, 0.0], vec![0.0, 1.0]]),
                Value::FloatRows(vec![vec![0.5, 0.5]]),
            ],
        ),
        ("seg", "SEGMENT_MASK", vec![blob(b"\x01\x02"), Value::Null]),
        ("bm", "BINARY_MASK", vec![blob(b"\x01"), blob(b"\x00")]),
        (
            "bbox",
            "BOUNDING_BOX",
            vec![Value::Floats(vec![1.0, 2.0, 3.0, 4.0]), Value::Null],
        ),
        ("cls", "CLASS_LABEL", vec![Value::Int(3), Value::Int(0)]),
        ("poly", "POLYGON", vec![blob(b"poly"), Value::Null]),
        (
            "pt",
            "POINT",
            vec![Value::Floats(vec![1.0, 2.0]), Value::Floats(vec![3.0, 4.0])],
        ),
        ("mesh", "MESH", vec![blob(b"ply"), Value::Null]),
        ("med", "MEDICAL", vec![blob(b"DICM"), Value::Null]),
    ];
    let schema: Vec<(&str, &str)> = columns.iter().map(|(n, t, _)| (*n, *t)).collect();
    let data = columns.iter().map(|(n, _, v)| col(n, v.clone())).collect();
    let r = c.ingest("all_types", data, opts_schema(&schema)).unwrap();
    assert_eq!(r.row_count, 2);
    assert_eq!(r.table_name, "all_types");

    let ds = c.open_table("all_types").unwrap();
    assert_eq!(ds.len(), 2);
    let types = ds.spec_types().unwrap();
    for ((name, ty), (want_name, want_ty, values)) in types.iter().zip(&columns) {
        assert_eq!(name, want_name);
        assert_eq!(*ty, want_ty.parse::<SpecType>().unwrap());
        for (i, v) in values.iter().enumerate() {
            assert_eq!(
                ds.get(i as u64).unwrap().get(name).unwrap(),
                v,
                "{name} row {i}"
            );
        }
    }
    // Every spec type but FILE appears above.
    assert_eq!(columns.len(), SpecType::ALL.len() - 1);
}

#[test]
fn inference_and_schema_overrides_shape_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest(
        "inferred",
        vec![
            texts("text", &["doc1", "doc2"]),
            col(
                "embedding",
                vec![Value::Floats(vec![0.1, 0.2]), Value::Floats(vec![0.3, 0.4])],
            ),
            ints("n", 0..2),
            col("x", vec![Value::Int(1), Value::Float(2.5)]),
            col("ok", vec![Value::Bool(true), Value::Bool(false)]),
            col("raw", vec![Value::Bytes(vec![1]), Value::Bytes(vec![2])]),
            texts("meta", &[r#"{"k": 1}"#, "[1, 2]"]),
            col(
                "mv",
                vec![
                    Value::FloatRows(vec![vec![1.0, 2.0]]),
                    Value::FloatRows(vec![vec![3.0, 4.0], vec![5.0, 6.0]]),
                ],
            ),
        ],
        IngestOptions::default(),
    )
    .unwrap();
    let types = c.open_table("inferred").unwrap().spec_types().unwrap();
    let names: Vec<String> = types.iter().map(|(_, t)| t.name()).collect();
    assert_eq!(
        names,
        vec![
            "TEXT",
            "EMBEDDING(2)",
            "INT64",
            "FLOAT64",
            "BOOL",
            "BINARY",
            "JSON",
            "EMBEDDING_2D(2)"
        ]
    );
    // Columns keep the caller's order.
    assert_eq!(types[0].0, "text");

    c.ingest(
        "overridden",
        vec![
            ints("n", 0..2),
            col("img", vec![Value::Bytes(vec![1]), Value::Bytes(vec![2])]),
            col(
                "v",
                vec![Value::Floats(vec![1.0]), Value::Floats(vec![2.0])],
            ),
        ],
        opts_schema(&[("n", "INT32"), ("img", "IMAGE"), ("v", "EMBEDDING(1)")]),
    )
    .unwrap();
    let names: Vec<String> = c
        .open_table("overridden")
        .unwrap()
        .spec_types()
        .unwrap()
        .iter()
        .map(|(_, t)| t.name())
        .collect();
    assert_eq!(names, vec!["INT32", "IMAGE", "EMBEDDING(1)"]);
}

#[test]
fn arrow_columns_ingest_without_loose_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let n = 5000;
    let emb: Vec<f32> = (0..n * 8).map(|i| i as f32).collect();
    let emb = arrow_array::FixedSizeListArray::try_new(
        Arc::new(arrow_schema::Field::new(
            "item",
            arrow_schema::DataType::Float32,
            false,
        )),
        8,
        Arc::new(Float32Array::from(emb)),
        None,
    )
    .unwrap();
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
    let r = c
        .ingest(
            "arrow",
            vec![
                ("id".into(), Column::Arrow(ids)),
                ("emb".into(), Column::Arrow(Arc::new(emb))),
            ],
            IngestOptions::default(),
        )
        .unwrap();
    assert_eq!(r.row_count, n as u64);
    let ds = c.open_table("arrow").unwrap();
    assert_eq!(
        ds.get(4321).unwrap().get("emb"),
        Some(&Value::Floats(
            (0..8).map(|k| (4321 * 8 + k) as f64).collect()
        ))
    );
    let slice = ds.column("id", 100, 110).unwrap();
    assert_eq!(
        slice.as_primitive::<Int64Type>().values().to_vec(),
        (100..110).collect::<Vec<i64>>()
    );
}

fn assert_nothing_left(c: &Client, dir: &std::path::Path, table: &str) {
    assert!(
        !c.list_tables().unwrap().contains(&table.to_string()),
        "{table} listed"
    );
    let tdir = dir.join("local").join("ws").join(table);
    let left: Vec<_> = std::fs::read_dir(&tdir)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{table} left files: {left:?}");
}

#[test]
fn bad_input_gets_its_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let ing = |data: Vec<(String, Column)>, schema: &[(&str, &str)]| {
        c.ingest("bad", data, opts_schema(schema)).err().unwrap()
    };
    let cases: Vec<(ClientError, &str)> = vec![
        (ing(vec![], &[]), "data must not be empty."),
        (
            ing(vec![ints("a", 0..1), ints("a", 0..1)], &[]),
            "Column 'a' is given more than once.",
        ),
        (
            ing(vec![ints("", 0..1)], &[]),
            "Column names must not be empty.",
        ),
        (
            ing(vec![ints("a", 0..3), ints("b", 0..2)], &[]),
            "All columns must have the same length: 'a' has 3 rows but 'b' has 2.",
        ),
        (
            ing(
                vec![col("a", vec![Value::Int(1), Value::Str("x".into())])],
                &[],
            ),
            "Column 'a' mixes types: int and str",
        ),
        (
            ing(
                vec![col(
                    "e",
                    vec![Value::Floats(vec![1.0, 2.0]), Value::Floats(vec![1.0])],
                )],
                &[],
            ),
            "Column 'e' has vectors of varying sizes: 2 and 1",
        ),
        (
            ing(
                vec![col("e", vec![Value::Floats(vec![1.0, f64::NAN])])],
                &[],
            ),
            "Column 'e' row 0: EMBEDDING(2) values must be finite, got NaN",
        ),
        (
            ing(
                vec![col("e", vec![Value::Floats(vec![f64::INFINITY])])],
                &[],
            ),
            "Column 'e' row 0: EMBEDDING(1) values must be finite, got inf",
        ),
        (
            ing(vec![ints("a", 0..0)], &[]),
            "data must contain at least one row.",
        ),
        (
            ing(vec![col("a", vec![Value::Null])], &[]),
            "Cannot infer the type of column 'a': it has no non-null values",
        ),
        (
            ing(vec![ints("a", 0..1)], &[("zz", "TEXT")]),
            "Schema declares 'zz' but column not in data.",
        ),
        (
            ing(vec![ints("a", 0..1)], &[("a", "VECTOR")]),
            "Invalid schema for column 'a': Unknown schema type 'VECTOR'",
        ),
        (
            ing(vec![ints("a", 0..1)], &[("a", "TEXT")]),
            "Column 'a' row 0: expected TEXT, got int",
        ),
        (
            ing(vec![ints("a", 0..1)], &[("a", "EMBEDDING(4)")]),
            "Column 'a' row 0: expected EMBEDDING(4), got int",
        ),
        (
            ing(
                vec![(
                    "a".into(),
                    Column::Arrow(Arc::new(arrow_array::StringArray::from(vec!["x"]))),
                )],
                &[("a", "IMAGE")],
            ),
            "Column 'a' row 0: expected IMAGE, got Utf8",
        ),
        (
            ing(
                vec![col("a", vec![Value::Floats(vec![1.0])])],
                &[("a", "EMBEDDING(3)")],
            ),
            "Column 'a' has vectors of varying sizes: 3 and 1",
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err, ClientError::ingest(want), "{want}");
        assert_nothing_left(&c, dir.path(), "bad");
    }
    // A struct column (a wrong container) is refused with a clear message.
    let fields = arrow_schema::Fields::from(vec![arrow_schema::Field::new(
        "x",
        arrow_schema::DataType::Int64,
        false,
    )]);
    let st = arrow_array::StructArray::new(
        fields,
        vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef],
        None,
    );
    let err = ing(vec![("s".into(), Column::Arrow(Arc::new(st)))], &[]);
    assert_eq!(err.class(), "IngestError");
    assert!(err.message().contains("no Deeplake equivalent"), "{err}");
    assert_nothing_left(&c, dir.path(), "bad");

    let long = "t".repeat(64);
    for name in [
        "",
        long.as_str(),
        "a/b",
        "a\\b",
        "..",
        "x..y",
        "_versions",
        "pg_class",
        "information_schema",
        "has space",
    ] {
        let err = c
            .ingest(name, vec![ints("a", 0..1)], IngestOptions::default())
            .err()
            .unwrap();
        assert_eq!(err.class(), "TableError", "{name:?}");
        assert!(
            err.message()
                .starts_with(&format!("Invalid table name '{name}'")),
            "{err}"
        );
    }
    assert!(c.list_tables().unwrap().is_empty());
    assert!(
        std::fs::read_dir(dir.path().join("local/ws")).map_or(true, |mut d| d.next().is_none()),
        "nothing written anywhere"
    );
    assert!(c
        .ingest(
            &"t".repeat(63),
            vec![ints("a", 0..1)],
            IngestOptions::default()
        )
        .is_ok());
}

#[test]
fn existing_tables_need_an_explicit_mode() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest(
        "t",
        vec![ints("id", 0..3), texts("s", &["a", "b", "c"])],
        IngestOptions::default(),
    )
    .unwrap();
    let err = c
        .ingest("t", vec![ints("id", 3..4)], IngestOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        err,
        ClientError::table("Table already exists: 't'").with_kind(ErrorKind::Conflict)
    );

    // Append: missing columns become null, types follow the table.
    let append = || IngestOptions {
        mode: Mode::Append,
        ..Default::default()
    };
    c.ingest("t", vec![ints("id", 3..5)], append()).unwrap();
    let ds = c.open_table("t").unwrap();
    assert_eq!(ds.len(), 5);
    assert_eq!(ds.get(4).unwrap().get("s"), Some(&Value::Null));
    let v_before = ds.version();

    let err = c
        .ingest("t", vec![ints("id", 0..1), ints("other", 0..1)], append())
        .err()
        .unwrap();
    assert_eq!(err.class(), "TableError");
    assert_eq!(
        err.message(),
        "Cannot append to table 't': column 'other' is not in the table (its columns: id, s)."
    );
    let err = c
        .ingest("t", vec![texts("id", &["x"])], append())
        .err()
        .unwrap();
    assert_eq!(
        err,
        ClientError::table(
            "Cannot append to table 't': Column 'id' row 0: expected INT64, got str"
        )
    );
    assert_eq!(
        c.open_table("t").unwrap().version(),
        v_before,
        "failed appends commit nothing"
    );

    // Overwrite: one new version with only the new rows and schema.
    let r = c
        .ingest(
            "t",
            vec![col("v", vec![Value::Floats(vec![1.0, 0.0])])],
            IngestOptions {
                mode: Mode::Overwrite,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.row_count, 1);
    let ds = c.open_table("t").unwrap();
    assert_eq!(ds.version(), v_before + 1);
    assert_eq!(
        ds.spec_types().unwrap(),
        vec![("v".to_string(), SpecType::Embedding(Some(2)))]
    );
    assert_eq!(ds.checkout(v_before).unwrap().len(), 5);

    // Append onto a missing table creates it.
    c.ingest("fresh", vec![ints("id", 0..2)], append()).unwrap();
    assert_eq!(
        c.list_tables().unwrap(),
        vec!["fresh".to_string(), "t".to_string()]
    );
}

#[test]
fn writes_are_buffered_and_committed_on_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let mut calls: Vec<(u64, i64)> = Vec::new();
    let mut progress = |done: u64, total: i64| {
        calls.push((done, total));
        Ok(())
    };
    let r = c
        .ingest(
            "t",
            vec![ints("id", 0..1050)],
            IngestOptions {
                write: WriteOptions {
                    flush_every: 100,
                    commit_every: 300,
                    ..Default::default()
                },
                on_progress: Some(&mut progress),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(r.row_count, 1050);
    let flushes: Vec<u64> = calls.iter().map(|c| c.0).collect();
    assert_eq!(
        flushes,
        vec![100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1050]
    );
    assert!(
        calls.iter().all(|c| c.1 == 1050),
        "total is known for column data"
    );
    let mut ds = c.open_table("t").unwrap();
    // create + commits at 300, 600, 900 and the final 150 rows; on local
    // disk the four commits lie in one data file, so nothing is rewritten.
    assert_eq!(ds.versions().unwrap(), vec![1, 2, 3, 4, 5]);
    assert_eq!(ds.checkout(2).unwrap().len(), 300);
    let frags = &ds.table().manifest().fragments;
    assert_eq!(frags.len(), 4);
    assert!(frags.iter().all(|f| f.file() == frags[0].file()));
    assert_eq!(ds.table().manifest().operation, "append");
    let ids = first_i64s(ds.scan(None).unwrap());
    assert_eq!(ids, (0..1050).collect::<Vec<_>>());
    // An explicit compaction still merges them.
    ds.compact(10_000).unwrap();
    let ds = c.open_table("t").unwrap();
    assert_eq!(ds.table().manifest().operation, "compact");
    assert_eq!(ds.table().manifest().fragments.len(), 1);

    // Appends keep their own fragments.
    let append_small = || IngestOptions {
        mode: Mode::Append,
        write: WriteOptions {
            flush_every: 10,
            commit_every: 10,
            compact_to_bytes: 0,
        },
        ..Default::default()
    };
    c.ingest("t", vec![ints("id", 1050..1080)], append_small())
        .unwrap();
    let ds = c.open_table("t").unwrap();
    let rows: Vec<u64> = ds
        .table()
        .manifest()
        .fragments
        .iter()
        .map(|f| f.rows)
        .collect();
    assert_eq!(rows, vec![1050, 10, 10, 10]);
    let bad = WriteOptions {
        flush_every: 0,
        ..Default::default()
    };
    let err = c
        .ingest(
            "u",
            vec![ints("id", 0..1)],
            IngestOptions {
                write: bad,
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(err.class(), "IngestError");
    assert_nothing_left(&c, dir.path(), "u");
}

#[test]
fn drop_list_open_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let other = client_at(dir.path());
    c.ingest("b", vec![ints("id", 0..10)], IngestOptions::default())
        .unwrap();
    c.ingest("a", vec![ints("id", 0..10)], IngestOptions::default())
        .unwrap();
    assert_eq!(other.list_tables().unwrap(), vec!["a", "b"]);
    let mut ds = other.open_table("a").unwrap();
    c.ingest(
        "a",
        vec![ints("id", 10..15)],
        IngestOptions {
            mode: Mode::Append,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.len(), 10, "an open dataset keeps its version");
    assert!(ds.refresh().unwrap());
    assert_eq!(ds.len(), 15);

    let sizes: Vec<usize> = ds
        .batches(4, false, None)
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .collect();
    assert_eq!(sizes, vec![4, 4, 4, 3]);
    let sizes: Vec<usize> = ds
        .batches(4, true, Some(&["id"]))
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .collect();
    assert_eq!(sizes, vec![4, 4, 4]);
    let all = first_i64s(ds.batches(6, false, None).unwrap());
    assert_eq!(all, (0..15).collect::<Vec<_>>());
    assert_eq!(
        ds.batches(0, false, None).err().unwrap().class(),
        "TableError"
    );
    assert_eq!(
        ds.take(&[0], Some(&["nope"])).err().unwrap(),
        ClientError::table("Column 'nope' does not exist in table 'a'")
    );
    assert_eq!(ds.get(15).err().unwrap().class(), "TableError");

    c.drop_table("a", true).unwrap();
    c.drop_table("a", true).unwrap();
    assert_eq!(
        c.drop_table("a", false).err().unwrap(),
        ClientError::table("Table 'a' does not exist").with_kind(ErrorKind::NotFound)
    );
    assert_eq!(
        c.open_table("a").err().unwrap(),
        ClientError::table_missing("a")
    );
    assert_eq!(c.list_tables().unwrap(), vec!["b"]);
}

/// The sum of the `id` column a statement returns as its one cell.
fn sum_of(rows: Vec<deeplake_client::Row>) -> i64 {
    match rows.as_slice() {
        [row] => match row.values() {
            [Value::Int(n)] => *n,
            other => panic!("expected one integer, got {other:?}"),
        },
        other => panic!("expected one row, got {other:?}"),
    }
}

#[test]
fn a_dataset_queries_its_own_version() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest("t", vec![ints("id", 0..10)], IngestOptions::default())
        .unwrap();
    c.ingest("u", vec![ints("id", 0..3)], IngestOptions::default())
        .unwrap();
    let append = || IngestOptions {
        mode: Mode::Append,
        ..Default::default()
    };
    let mut ds = c.open_table("t").unwrap();
    let first = ds.version();
    c.ingest("t", vec![ints("id", 10..20)], append()).unwrap();
    c.ingest("u", vec![ints("id", 3..4)], append()).unwrap();

    let sum = "SELECT SUM(id) FROM t";
    assert_eq!(
        sum_of(ds.query(sum, &[]).unwrap()),
        45,
        "pinned to its version"
    );
    assert_eq!(
        sum_of(c.query(sum, &[]).unwrap()),
        190,
        "the client reads the newest"
    );
    // Other tables in the same statement are read at their newest.
    let joined = "SELECT SUM(t.id) FROM t JOIN u ON t.id = u.id";
    assert_eq!(sum_of(ds.query(joined, &[]).unwrap()), 6);
    // A subquery and a parameter see the same pinned table.
    let nested = "SELECT SUM(id) FROM t WHERE id IN (SELECT id FROM t WHERE id >= $1)";
    assert_eq!(sum_of(ds.query(nested, &[Value::Int(8)]).unwrap()), 17);

    assert!(ds.refresh().unwrap());
    assert_eq!(sum_of(ds.query(sum, &[]).unwrap()), 190);
    let old = ds.checkout(first).unwrap();
    assert_eq!(sum_of(old.query(sum, &[]).unwrap()), 45);
    assert_eq!(old.query_arrow(sum, &[]).unwrap().num_rows(), 1);

    let write = old
        .query("INSERT INTO t (id) VALUES (1)", &[])
        .err()
        .unwrap();
    assert_eq!(write.class(), "TableError");
    assert!(write.message().contains("read-only"), "{write:?}");
    assert_eq!(
        sum_of(c.query(sum, &[]).unwrap()),
        190,
        "nothing was written"
    );
    assert_eq!(old.query("SELEC", &[]).err().unwrap().class(), "TableError");
}

#[test]
fn whole_row_selections_come_back_as_positions() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    // Three fragments, the middle one with deleted rows, so positions have
    // to count live rows across fragments.
    for ids in [0..10, 10..20, 20..30] {
        let opts = IngestOptions {
            mode: Mode::Append,
            ..Default::default()
        };
        c.ingest("t", vec![ints("id", ids)], opts).unwrap();
    }
    c.query("DELETE FROM t WHERE id >= 12 AND id < 15", &[])
        .unwrap();
    let ds = c.open_table("t").unwrap();
    assert_eq!(ds.len(), 27);

    let ids_at =
        |positions: &[u64]| first_i64s(std::iter::once(Ok(ds.take(positions, None).unwrap())));
    let picked = ds
        .row_positions("SELECT * FROM t WHERE id % 4 = 0 ORDER BY id DESC", &[])
        .unwrap()
        .unwrap();
    assert_eq!(ids_at(&picked), vec![28, 24, 20, 16, 8, 4, 0]);
    let page = ds
        .row_positions(
            "SELECT * FROM t WHERE id > $1 LIMIT 4 OFFSET 1",
            &[Value::Int(9)],
        )
        .unwrap()
        .unwrap();
    let mut got = ids_at(&page);
    got.sort();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|id| *id > 9 && !(12..15).contains(id)));

    // Anything beyond a choice of rows is not positions.
    for sql in [
        "SELECT id FROM t",
        "SELECT COUNT(*) FROM t",
        "SELECT * FROM t JOIN t u ON true",
    ] {
        assert_eq!(ds.row_positions(sql, &[]).unwrap(), None, "{sql}");
    }
    // A table large enough for a parallel scan in pieces of a fragment.
    c.ingest(
        "big",
        vec![ints("id", 0..100_000)],
        IngestOptions::default(),
    )
    .unwrap();
    c.query("DELETE FROM big WHERE id % 10 = 3", &[]).unwrap();
    let big = c.open_table("big").unwrap();
    let positions = big
        .row_positions("SELECT * FROM big WHERE id % 997 = 5", &[])
        .unwrap()
        .unwrap();
    let mut got = first_i64s(std::iter::once(Ok(big.take(&positions, None).unwrap())));
    got.sort();
    let want: Vec<i64> = (0..100_000)
        .filter(|i| i % 997 == 5 && i % 10 != 3)
        .collect();
    assert_eq!(got, want);

    for bad in ["SELEC", "SELECT * FROM t WHERE nope = 1"] {
        let e = ds.row_positions(bad, &[]).err().unwrap();
        assert_eq!(e.class(), "TableError", "{bad}");
    }
}

#[test]
fn works_from_inside_an_async_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = client_at(dir.path());
        c.ingest("t", vec![ints("id", 0..3)], IngestOptions::default())
            .unwrap();
        assert_eq!(c.open_table("t").unwrap().len(), 3);
    });
}

/// A client over table `n` (1500 rows) and a statement over it that runs
/// far longer than any test waits: 1500^3 rows to sum.
fn heavy_query() -> (tempfile::TempDir, Client, &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest("n", vec![ints("n", 0..1500)], IngestOptions::default())
        .unwrap();
    (
        dir,
        c,
        "SELECT sum(a.n * b.n + c.n) AS s FROM n a, n b, n c",
    )
}

#[test]
fn queries_stop_at_their_timeout() {
    let (_dir, c, heavy) = heavy_query();
    let started = std::time::Instant::now();
    let err = c
        .query_within(heavy, &[], Some(std::time::Duration::from_millis(200)))
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::table("Query failed: canceling statement due to statement timeout (0.2 s)")
            .with_kind(ErrorKind::Timeout)
    );
    // Cancelled, not run to the end in the background of the call.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let rows = c
        .query_within(
            "SELECT count(*) AS c FROM n",
            &[],
            Some(std::time::Duration::from_secs(60)),
        )
        .unwrap();
    assert_eq!(rows[0].get("c"), Some(&Value::Int(1500)));
}

/// Raises `cancel` from another thread after `ms` milliseconds.
fn cancel_after(cancel: &Cancel, ms: u64) -> std::thread::JoinHandle<()> {
    let cancel = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        cancel.cancel();
    })
}

#[test]
fn a_cancelled_ingest_stops_before_its_next_commit_and_drops_what_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest("kept", vec![ints("n", 0..10)], IngestOptions::default())
        .unwrap();
    let cancel = Cancel::new();
    let raiser = cancel_after(&cancel, 200);
    let started = std::time::Instant::now();
    let opts = IngestOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    // Minutes of commits at the spec's cadence if nothing stopped it.
    let err = c
        .ingest("big", vec![ints("n", 0..20_000_000)], opts)
        .unwrap_err();
    raiser.join().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(err.message().contains("Ingest interrupted"), "{err}");
    assert_eq!(c.list_tables().unwrap(), vec!["kept".to_string()]);
    // An append stopped the same way keeps only whole commits.
    let opts = IngestOptions {
        mode: Mode::Append,
        cancel: cancel.clone(),
        ..Default::default()
    };
    let err = c
        .ingest("kept", vec![ints("n", 0..5000)], opts)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let rows = c.query("SELECT count(*) AS c FROM kept", &[]).unwrap();
    assert_eq!(rows[0].get("c"), Some(&Value::Int(10)));
}

#[test]
fn a_cancelled_query_stops_at_once_and_the_client_goes_on() {
    let (_dir, c, heavy) = heavy_query();
    let cancel = Cancel::new();
    let raiser = cancel_after(&cancel, 200);
    let started = std::time::Instant::now();
    let err = c.query_until(heavy, &[], None, &cancel).unwrap_err();
    raiser.join().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        err,
        ClientError::table("Query failed: canceling statement due to user request")
            .with_kind(ErrorKind::Cancelled)
    );
    let rows = c.query("SELECT count(*) AS c FROM n", &[]).unwrap();
    assert_eq!(rows[0].get("c"), Some(&Value::Int(1500)));
}

#[test]
fn video_columns_read_file_paths() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let clip = dir.path().join("clip.webm");
    std::fs::write(&clip, b"\x1a\x45\xdf\xa3 not really a video").unwrap();
    let path = clip.display().to_string();
    c.ingest(
        "clips",
        vec![col(
            "video",
            vec![
                Value::Str(path.clone()),
                Value::Bytes(b"raw".to_vec()),
                Value::Null,
            ],
        )],
        opts_schema(&[("video", "VIDEO")]),
    )
    .unwrap();
    let ds = c.open_table("clips").unwrap();
    let got: Vec<Option<Value>> = (0..3)
        .map(|i| ds.get(i).unwrap().get("video").cloned())
        .collect();
    assert_eq!(
        got,
        [
            Some(Value::Bytes(std::fs::read(&clip).unwrap())),
            Some(Value::Bytes(b"raw".to_vec())),
            Some(Value::Null)
        ]
    );
    // Also from an Arrow string column, and on append to a VIDEO table.
    let arrow: ArrayRef = Arc::new(arrow_array::StringArray::from(vec![path.as_str()]));
    let append = IngestOptions {
        mode: Mode::Append,
        ..Default::default()
    };
    c.ingest(
        "clips",
        vec![("video".into(), Column::Arrow(arrow))],
        append,
    )
    .unwrap();
    let last = c.open_table("clips").unwrap().get(3).unwrap();
    assert_eq!(
        last.get("video"),
        Some(&Value::Bytes(std::fs::read(&clip).unwrap()))
    );
    let missing = dir.path().join("gone.mp4").display().to_string();
    for (value, message, kind) in [
        (
            Value::Str(missing.clone()),
            format!("File not found: {missing}"),
            ErrorKind::NotFound,
        ),
        (
            Value::Int(3),
            "VIDEO column 'video': expected file path or bytes, got int.".to_string(),
            ErrorKind::BadInput,
        ),
    ] {
        let err = c
            .ingest(
                "bad",
                vec![col("video", vec![value])],
                opts_schema(&[("video", "VIDEO")]),
            )
            .unwrap_err();
        assert_eq!(err, ClientError::ingest(message).with_kind(kind));
    }
    assert!(!c.list_tables().unwrap().contains(&"bad".to_string()));
}

/// An upload decodes from chunks of any size, and ends cleanly only with
/// its end-of-stream marker: cut short, broken off or oversized, it fails.
#[test]
fn uploads_decode_from_chunks_and_end_only_at_their_marker() {
    use deeplake_client::ipc::{decode_chunks, Encoder};
    use deeplake_client::ErrorKind;
    use futures::StreamExt;

    // Slices of one larger batch, as an ingest sends them: each message
    // holds its own rows only.
    let all = arrow_array::RecordBatch::try_from_iter([
        (
            "n",
            Arc::new(Int64Array::from_iter_values(0..10_000)) as ArrayRef,
        ),
        (
            "s",
            Arc::new(arrow_array::StringArray::from_iter_values(
                (0..10_000).map(|i| format!("row {i}")),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let batch = |lo: i64| all.slice(lo as usize, 1000);
    let mut enc = Encoder::new();
    let mut bytes = vec![];
    for lo in [0, 1000, 2000] {
        let message: Vec<u8> = enc.batch(&batch(lo)).unwrap().concat();
        assert!(
            message.len() < 40_000,
            "{} bytes for 1000 rows",
            message.len()
        );
        bytes.extend(message);
    }
    let body = bytes.clone();
    bytes.extend(enc.finish().unwrap().concat());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let decode = |bytes: Vec<u8>, chunk: usize, fail: bool, limit: usize| {
        let mut chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
            .chunks(chunk)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        if fail {
            chunks.push(Err(std::io::Error::other("connection reset")));
        }
        let out: Vec<_> =
            rt.block_on(decode_chunks(futures::stream::iter(chunks), limit).collect::<Vec<_>>());
        out
    };
    for chunk in [7, 4096, bytes.len()] {
        let out = decode(bytes.clone(), chunk, false, 1 << 20);
        let got: Vec<_> = out.iter().map(|b| b.as_ref().unwrap().clone()).collect();
        let want: Vec<_> = [0, 1000, 2000].map(batch).to_vec();
        assert_eq!(got, want, "chunks of {chunk}");
    }
    // Without the marker: the three batches, then the error.
    let out = decode(body.clone(), 4096, false, 1 << 20);
    assert_eq!(out.len(), 4);
    let e = out[3].as_ref().unwrap_err();
    assert!(e.message().contains("end-of-stream marker"), "{e}");
    // Cut inside a message, or broken off by the connection.
    let out = decode(body[..body.len() - 100].to_vec(), 4096, false, 1 << 20);
    assert!(out.last().unwrap().is_err() && out.len() == 3);
    let out = decode(bytes.clone(), 4096, true, 1 << 20);
    let e = out.last().unwrap().as_ref().unwrap_err();
    assert!(e.message().contains("broke off"), "{e}");
    // A message over the limit.
    let out = decode(bytes, 512, false, 4000);
    let e = out.last().unwrap().as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(out.len(), 1);
}

#[test]
fn an_ingest_creates_the_indexes_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let with_index = |index| IngestOptions {
        index,
        ..Default::default()
    };
    let bad = deeplake_client::IndexSpec {
        index_type: Some("nosuch".into()),
        ..deeplake_client::IndexSpec::on("id")
    };
    let e = c
        .ingest("t", vec![ints("id", 0..5)], with_index(vec![bad]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadInput, "{e:?}");
    assert!(!c.list_tables().unwrap().contains(&"t".to_string()));

    let spec = deeplake_client::IndexSpec {
        index_type: Some("unique".into()),
        ..deeplake_client::IndexSpec::on("id")
    };
    c.ingest("t", vec![ints("id", 0..5)], with_index(vec![spec]))
        .unwrap();
    let info = c.describe_table("t").unwrap();
    assert_eq!(
        info.columns[0].index,
        Some(("idx_t_id".to_string(), "unique".to_string()))
    );
    let append = IngestOptions {
        mode: Mode::Append,
        ..Default::default()
    };
    let e = c.ingest("t", vec![ints("id", 4..6)], append).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
}
