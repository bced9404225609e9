//! SQL `INSERT` on the one write path: it streams through the table
//! writer (bounded memory whatever its size), commits once, passes the
//! `unique` check like every commit of rows, and catches indexes up.
//! The memory figure comes from a child process (this test binary re-run
//! with `CHILD_ROLE` set), so no other test's allocations count in it.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use deeplake_client::{Column, ErrorKind, IngestOptions, SpecType, Value, WriteOptions};
use deeplake_storage::StorageError;

use crate::common::{client_at, ints};

const ROWS: i64 = 2_000_000;

fn payload(i: i64) -> String {
    format!("{i:016}").repeat(4)
}

fn count(c: &deeplake_client::Client, table: &str) -> Value {
    c.query(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .remove(0)
        .values()[0]
        .clone()
}

/// Anonymous memory of this process in kB (what an insert that holds its
/// rows would grow; the mapped pages of the files it reads are not).
fn rss_anon_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The child: an INSERT ... SELECT of every row into a table without an
/// index and one with, printing the peak growth of anonymous memory
/// during each.
#[test]
#[ignore = "run by an_insert_streams_in_bounded_memory_and_catches_its_index_up"]
fn insert_child() {
    let Ok(root) = std::env::var("CHILD_ROOT") else {
        return;
    };
    let c = client_at(std::path::Path::new(&root));
    assert_eq!(count(&c, "src"), Value::Int(ROWS));
    for table in ["plain", "indexed"] {
        let (growth, out) = peak_growth(|| {
            c.query(
                &format!("INSERT INTO {table} SELECT id, payload FROM src"),
                &[],
            )
        });
        assert_eq!(out.unwrap()[0].values()[0], Value::Int(ROWS));
        println!("{table}_growth_kb={growth}");
    }
}

/// What `f` returns, and how far anonymous memory grew while it ran.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let base = rss_anon_kb();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_anon_kb());
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak
        })
    };
    let out = f();
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap().max(rss_anon_kb());
    (peak.saturating_sub(base), out)
}

#[test]
fn an_insert_streams_in_bounded_memory_and_catches_its_index_up() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let ids = Int64Array::from_iter_values(0..ROWS);
    let texts = StringArray::from_iter_values((0..ROWS).map(payload));
    let bytes = (texts.get_buffer_memory_size() + ids.get_buffer_memory_size()) as u64;
    let many = IngestOptions {
        write: WriteOptions {
            commit_every: 250_000,
            flush_every: 250_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let data = vec![
        ("id".to_string(), Column::Arrow(Arc::new(ids))),
        ("payload".to_string(), Column::Arrow(Arc::new(texts))),
    ];
    c.ingest("src", data, many).unwrap();
    for table in ["plain", "indexed"] {
        c.create_table(
            table,
            &[
                ("id".into(), SpecType::Int64),
                ("payload".into(), SpecType::Text),
            ],
        )
        .unwrap();
    }
    c.query(
        "CREATE INDEX indexed_id ON indexed USING deeplake_index (id)",
        &[],
    )
    .unwrap();

    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "insert::insert_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("CHILD_ROLE", "insert")
        .env("CHILD_ROOT", dir.path())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let growth = |table: &str| -> u64 {
        let key = format!("{table}_growth_kb=");
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("no figure for {table} in {stdout}"))
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let (plain, indexed) = (growth("plain"), growth("indexed"));
    println!(
        "INSERT of {ROWS} rows ({} MB): anonymous memory grew {} MB, {} MB with a lookup index to catch up",
        bytes >> 20,
        plain >> 20,
        indexed >> 20
    );
    // Holding the rows would take all of them, and a copy to concatenate;
    // the writer holds one commit interval.
    assert!(
        plain < bytes / 20,
        "{plain} bytes for {bytes} bytes of rows"
    );
    // The catch-up builds one segment over the new ids: its size, not the rows'.
    assert!(indexed < bytes, "{indexed} bytes for {bytes} bytes of rows");

    for table in ["plain", "indexed"] {
        assert_eq!(count(&c, table), Value::Int(ROWS));
        let rows = c
            .query(
                &format!("SELECT payload FROM {table} WHERE id = 1234567"),
                &[],
            )
            .unwrap();
        assert_eq!(rows[0].values()[0], Value::Str(payload(1234567)));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt
        .block_on(c.embedded().unwrap().open_table("indexed"))
        .unwrap();
    assert_eq!(t.indexes().len(), 1);
    assert!(
        t.unindexed(&t.indexes()[0]).is_empty(),
        "the INSERT's rows are not covered by the index"
    );
}

#[test]
fn an_insert_of_many_commits_that_breaks_unique_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest("src", vec![ints("id", 0..5000)], IngestOptions::default())
        .unwrap();
    c.ingest("u", vec![ints("id", 4999..5000)], IngestOptions::default())
        .unwrap();
    c.query(
        "CREATE INDEX u_id ON u USING deeplake_index (id) WITH (index_type = 'unique')",
        &[],
    )
    .unwrap();
    let version = c.describe_table("u").unwrap().version;
    // More rows than a commit interval: the clash is in the last of them.
    let e = c
        .query("INSERT INTO u SELECT id FROM src ORDER BY id", &[])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:?}");
    assert!(
        e.message().contains("Key (id)=(4999) already exists"),
        "{e:?}"
    );
    assert_eq!(c.describe_table("u").unwrap().version, version);
    assert_eq!(count(&c, "u"), Value::Int(1));
    c.query("INSERT INTO u SELECT id FROM src WHERE id < 4999", &[])
        .unwrap();
    assert_eq!(count(&c, "u"), Value::Int(5000));
}

/// Storage's own commits are checked too: a program that writes to the
/// table below the client cannot repeat a `unique` value.
#[test]
fn no_storage_commit_bypasses_a_unique_index() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    c.ingest("u", vec![ints("id", 0..10)], IngestOptions::default())
        .unwrap();
    c.query(
        "CREATE INDEX u_id ON u USING deeplake_index (id) WITH (index_type = 'unique')",
        &[],
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ws = c.embedded().unwrap();
    let mut t = rt.block_on(ws.open_table("u")).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    let rows = |v: Vec<i64>| {
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(v))]).unwrap()
    };
    let refused = rt.block_on(t.append(&rows(vec![11, 3])));
    assert!(
        matches!(&refused, Err(StorageError::Constraint(m)) if m.contains("Key (id)=(3) already exists")),
        "{refused:?}"
    );
    let twice = rt.block_on(async {
        let f = t.write_fragment(&rows(vec![1, 1])).await?;
        t.commit_overwrite(schema.clone(), vec![f]).await
    });
    assert!(
        matches!(&twice, Err(StorageError::Constraint(m)) if m.contains("appears more than once")),
        "{twice:?}"
    );
    assert_eq!(count(&c, "u"), Value::Int(10));
    rt.block_on(t.append(&rows(vec![10]))).unwrap();
    assert_eq!(count(&c, "u"), Value::Int(11));
}
