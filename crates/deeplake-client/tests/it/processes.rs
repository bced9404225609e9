//! Several processes on one table: concurrent appenders and writers killed
//! with SIGKILL. Children are this test binary re-run with `CHILD_ROLE` set.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{client_at, col, first_i64s, ints};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use deeplake_client::{IngestOptions, Mode, Value, WriteOptions};
use rand::{Rng, SeedableRng};

fn child(role: &str, test: &str, root: &std::path::Path, extra: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("CHILD_ROLE", role)
    .env("CHILD_ROOT", root)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Lets a child run for `delay`, then SIGKILLs it if it is still running;
/// returns whether it was killed. A child that exited must have succeeded.
fn kill_after(kid: &mut std::process::Child, delay: Duration) -> bool {
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline && kid.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let killed = kid.try_wait().unwrap().is_none();
    if killed {
        kid.kill().unwrap(); // SIGKILL
    }
    let status = kid.wait().unwrap();
    assert!(killed || status.success(), "child failed: {status}");
    killed
}

fn role() -> Option<(String, std::path::PathBuf)> {
    Some((
        std::env::var("CHILD_ROLE").ok()?,
        std::env::var("CHILD_ROOT").ok()?.into(),
    ))
}

fn append() -> IngestOptions<'static> {
    IngestOptions {
        mode: Mode::Append,
        ..Default::default()
    }
}

/// Child: 1000 single-row appends, each its own commit.
#[test]
#[ignore = "child process of two_processes_appending_concurrently_lose_nothing"]
fn child_appender() {
    let (role, root) = role().expect("run by its parent test");
    assert_eq!(role, "append");
    let me: i64 = std::env::var("CHILD_ID").unwrap().parse().unwrap();
    let c = client_at(&root);
    for k in 0..1000 {
        c.ingest(
            "shared",
            vec![ints("id", me * 1000 + k..me * 1000 + k + 1)],
            append(),
        )
        .unwrap();
    }
}

#[test]
fn two_processes_appending_concurrently_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kids: Vec<_> = (0..2)
        .map(|i| {
            child(
                "append",
                "processes::child_appender",
                dir.path(),
                &[("CHILD_ID", i.to_string())],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    let ds = client_at(dir.path()).open_table("shared").unwrap();
    let mut ids = first_i64s(ds.batches(10_000, false, None).unwrap());
    assert_eq!(ids.len(), 2000, "every committed row is there, once");
    ids.sort_unstable();
    assert_eq!(ids, (0..2000).collect::<Vec<_>>());
    // One commit per append (plus the create): no commit was lost or merged.
    assert_eq!(ds.version(), 2001);
}

const ROWS_PER_INGEST: i64 = 300;

/// Child: ingests batches `start..start+50`, printing each acknowledged one.
#[test]
#[ignore = "child process of sigkill_at_random_moments_never_loses_or_tears_a_commit"]
fn child_crash_writer() {
    let (role, root) = role().expect("run by its parent test");
    assert_eq!(role, "crash");
    let start: i64 = std::env::var("CHILD_START").unwrap().parse().unwrap();
    let c = client_at(&root);
    let blob = vec![7u8; 16 * 1024];
    for b in start..start + 50 {
        let data = vec![
            col("batch", vec![Value::Int(b); ROWS_PER_INGEST as usize]),
            ints("row", 0..ROWS_PER_INGEST),
            col(
                "blob",
                vec![Value::Bytes(blob.clone()); ROWS_PER_INGEST as usize],
            ),
        ];
        let opts = IngestOptions {
            mode: Mode::Append,
            write: WriteOptions {
                flush_every: 100,
                commit_every: 10_000,
                ..Default::default()
            },
            ..Default::default()
        };
        c.ingest("crashy", data, opts).unwrap();
        println!("committed {b}");
    }
}

#[test]
fn sigkill_at_random_moments_never_loses_or_tears_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut acknowledged: BTreeSet<i64> = BTreeSet::new();
    let mut kills = 0;
    for round in 0..8 {
        let start = round * 100;
        let mut kid = child(
            "crash",
            "processes::child_crash_writer",
            dir.path(),
            &[("CHILD_START", start.to_string())],
        )
        .spawn()
        .unwrap();
        let stdout = kid.stdout.take().unwrap();
        let acks = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.strip_prefix("committed ")
                        .and_then(|n| n.parse::<i64>().ok())
                })
                .collect::<Vec<i64>>()
        });
        if kill_after(&mut kid, Duration::from_millis(rng.random_range(10..600))) {
            kills += 1;
        }
        acknowledged.extend(acks.join().unwrap());

        // After every kill the table opens and holds whole batches only.
        let c = client_at(dir.path());
        let Ok(ds) = c.open_table("crashy") else {
            assert!(acknowledged.is_empty(), "acknowledged rows but no table");
            continue;
        };
        let mut rows: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for b in ds.batches(4096, false, Some(&["batch", "row"])).unwrap() {
            let b = b.unwrap();
            let batch = b.column(0).as_primitive::<Int64Type>();
            let row = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                rows.entry(batch.value(i)).or_default().push(row.value(i));
            }
        }
        for a in &acknowledged {
            assert!(
                rows.contains_key(a),
                "acknowledged batch {a} lost after round {round}"
            );
        }
        for (b, r) in &rows {
            assert_eq!(
                r,
                &(0..ROWS_PER_INGEST).collect::<Vec<_>>(),
                "batch {b} is partial or duplicated"
            );
        }
        // A random blob row still reads back whole.
        if !ds.is_empty() {
            let i = rng.random_range(0..ds.len());
            assert_eq!(
                ds.get(i).unwrap().get("blob"),
                Some(&Value::Bytes(vec![7u8; 16 * 1024]))
            );
        }
    }
    assert!(
        kills >= 4,
        "most rounds should be killed mid-run, got {kills}"
    );
    assert!(!acknowledged.is_empty());
}

const PREFIX_ROWS: i64 = 20_000;
const PREFIX_COMMIT: usize = 2_000;

/// Child: one ingest of 20k rows committed every 2000 rows, then compacted.
#[test]
#[ignore = "child process of sigkill_during_periodic_commits_and_compaction_leaves_whole_commits"]
fn child_prefix_writer() {
    let (role, root) = role().expect("run by its parent test");
    assert_eq!(role, "prefix");
    let table = std::env::var("CHILD_TABLE").unwrap();
    let c = client_at(&root);
    let blob = vec![3u8; 4096];
    let opts = IngestOptions {
        write: WriteOptions {
            commit_every: PREFIX_COMMIT,
            ..Default::default()
        },
        ..Default::default()
    };
    let data = vec![
        ints("id", 0..PREFIX_ROWS),
        col("blob", vec![Value::Bytes(blob); PREFIX_ROWS as usize]),
    ];
    println!("ready");
    c.ingest(&table, data, opts).unwrap();
    println!("done");
}

#[test]
fn sigkill_during_periodic_commits_and_compaction_leaves_whole_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut outcomes = BTreeSet::new();
    // Round 0 runs to the end and times the ingest; later rounds are killed
    // at random points within that time, so the kills spread over the
    // ingest however fast or loaded the machine is.
    let mut ingest_ms = 0u64;
    for round in 0..11 {
        let table = format!("prefix_{round}");
        let mut kid = child(
            "prefix",
            "processes::child_prefix_writer",
            dir.path(),
            &[("CHILD_TABLE", table.clone())],
        )
        .spawn()
        .unwrap();
        // Timed from the start of the ingest, not of the process.
        let mut out = std::io::BufReader::new(kid.stdout.take().unwrap());
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0
            && !line.trim().ends_with("ready")
        {
            line.clear();
        }
        let started = Instant::now();
        let delay = match round {
            0 => Duration::from_secs(600),
            _ => Duration::from_millis(rng.random_range(1..ingest_ms.max(2))),
        };
        let killed = kill_after(&mut kid, delay);
        if round == 0 {
            ingest_ms = started.elapsed().as_millis() as u64;
        }

        let c = client_at(dir.path());
        let Ok(ds) = c.open_table(&table) else {
            outcomes.insert(0);
            continue;
        };
        let ids = first_i64s(ds.scan(Some(&["id"])).unwrap());
        // Exactly the rows of the commits that landed, in order, once each,
        // whether or not the final compaction was cut off.
        assert_eq!(
            ids.len() % PREFIX_COMMIT,
            0,
            "round {round}: {} rows",
            ids.len()
        );
        assert_eq!(
            ids,
            (0..ids.len() as i64).collect::<Vec<_>>(),
            "round {round}"
        );
        if !killed {
            assert_eq!(ids.len() as i64, PREFIX_ROWS);
        }
        outcomes.insert(ids.len());
    }
    assert!(
        outcomes.len() >= 2,
        "kills should land at different points: {outcomes:?}"
    );
}
