//! Every kind of statement failure through the embedded client: the public
//! class a caller catches, the kind a protocol maps (REST status, SQLSTATE)
//! and the message, each raised where it really happens: bad SQL, a
//! missing table or index, a `unique` violation, a statement this engine
//! refuses, a data file gone, a manifest that does not parse.

use std::path::{Path, PathBuf};

use deeplake_client::{Client, ClientError, ErrorKind, IngestOptions, Value};

use crate::common::{client_at, ints};

fn failure(c: &Client, sql: &str) -> ClientError {
    match c.query(sql, &[]) {
        Ok(rows) => panic!("{sql} returned {} rows", rows.len()),
        Err(e) => e,
    }
}

fn count(c: &Client) -> Value {
    c.query("SELECT count(*) FROM docs", &[]).unwrap()[0].values()[0].clone()
}

#[test]
fn statement_failures_carry_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest("docs", vec![ints("id", 0..10)], IngestOptions::default())
        .unwrap();
    c.query(
        "CREATE INDEX docs_id ON docs USING deeplake_index (id) WITH (index_type = 'unique')",
        &[],
    )
    .unwrap();

    let cases: [(&str, ErrorKind, &str); 10] = [
        ("SELEC 1", ErrorKind::BadInput, "syntax error"),
        (
            "SELECT repeat('x', 2000000000)",
            ErrorKind::BadInput,
            "requested length too large",
        ),
        ("SELECT nosuch FROM docs", ErrorKind::BadInput, "nosuch"),
        ("SELECT id / 0 FROM docs", ErrorKind::BadInput, "Divide by zero"),
        (
            "SELECT * FROM missing",
            ErrorKind::NotFound,
            "relation \"missing\" does not exist",
        ),
        (
            "WITH t AS (SELECT 1) SELECT * FROM t, missing",
            ErrorKind::NotFound,
            "relation \"missing\" does not exist",
        ),
        (
            "CREATE INDEX m ON missing USING deeplake_index (id)",
            ErrorKind::NotFound,
            "relation \"missing\" does not exist",
        ),
        (
            "DROP INDEX nosuch",
            ErrorKind::NotFound,
            "index \"nosuch\" does not exist",
        ),
        (
            "INSERT INTO docs (id) VALUES (20), (3)",
            ErrorKind::Conflict,
            "duplicate key value violates unique constraint \"docs_id\": Key (id)=(3) already exists",
        ),
        (
            "COPY docs TO '/tmp/out.csv'",
            ErrorKind::Unsupported,
            "COPY is not supported",
        ),
    ];
    for (sql, kind, words) in cases {
        let e = failure(&c, sql);
        assert_eq!((e.class(), e.kind()), ("TableError", kind), "{sql}: {e:?}");
        assert!(e.message().starts_with("Query failed: "), "{sql}: {e:?}");
        assert!(e.message().contains(words), "{sql}: {e:?}");
    }
    // The refused INSERT wrote nothing, not even its new row.
    assert_eq!(count(&c), Value::Int(10));
    let e = failure(
        &c,
        "CREATE INDEX docs_id ON docs USING deeplake_index (id) WITH (index_type = 'unique')",
    );
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
    let e = failure(&c, "CREATE INDEX b ON docs USING btree (id)");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e:?}");
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            match p.is_dir() {
                true => dirs.push(p),
                false => out.push(p),
            }
        }
    }
    out
}

/// The directory of table `name` under the client's root (whatever the
/// org and workspace directories are called).
fn table_dir(root: &Path, name: &str) -> PathBuf {
    let manifest = files_under(root)
        .into_iter()
        .find(|p| {
            p.parent().and_then(Path::parent).and_then(Path::file_name) == Some(name.as_ref())
        })
        .unwrap_or_else(|| panic!("no table {name} under {}", root.display()));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

#[test]
fn storage_failures_are_io_and_corrupt_not_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    for t in ["gone", "unreadable", "garbled"] {
        c.ingest(t, vec![ints("id", 0..10)], IngestOptions::default())
            .unwrap();
    }
    let sum = |t: &str| failure(&c, &format!("SELECT sum(id) FROM {t}"));
    let expect = |e: ClientError, kind: ErrorKind, start: &str| {
        assert_eq!((e.class(), e.kind()), ("TableError", kind), "{e:?}");
        assert!(e.message().starts_with(start), "{e:?}");
    };

    // A data file the manifest names that is not there: a damaged table.
    for f in files_under(&table_dir(dir.path(), "gone").join("data")) {
        std::fs::remove_file(f).unwrap();
    }
    expect(
        sum("gone"),
        ErrorKind::Corrupt,
        "Query failed: Corrupt table data: ",
    );

    // One that is there and cannot be read (a directory in its place).
    for f in files_under(&table_dir(dir.path(), "unreadable").join("data")) {
        std::fs::remove_file(&f).unwrap();
        std::fs::create_dir(&f).unwrap();
    }
    expect(
        sum("unreadable"),
        ErrorKind::Io,
        "Query failed: Storage I/O failed: ",
    );

    // Manifests that do not parse.
    for f in files_under(&table_dir(dir.path(), "garbled").join("_versions")) {
        std::fs::write(f, b"{ not json").unwrap();
    }
    expect(sum("garbled"), ErrorKind::Corrupt, "Query failed: ");
}
