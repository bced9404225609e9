//! Search scores against independent implementations on real data: BM25
//! against bm25s, cosine and MaxSim against numpy (tests/python/reference_scores.py,
//! run in the .venv-test made by scripts/setup-python.sh).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use deeplake_cli::wordnet;
use deeplake_client::{Client, Column, IngestOptions, Row, Value};
use rand::{Rng, SeedableRng};
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let p = std::env::var_os("DEEPLAKE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-test/bin/python"));
    assert!(
        p.exists(),
        "{} missing: run `bash scripts/setup-python.sh` (scripts/test.sh does)",
        p.display()
    );
    p
}

fn reference(request: serde_json::Value) -> serde_json::Value {
    let mut child = Command::new(python())
        .arg(repo().join("tests/python/reference_scores.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let body = request.to_string();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "reference_scores.py failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn client_in(dir: &Path) -> Client {
    Client::new(None, Some("ws"), Some(&format!("file://{}", dir.display()))).unwrap()
}

fn scores_by_idx(rows: &[Row]) -> HashMap<i64, f64> {
    rows.iter()
        .map(|r| match (r.get("idx"), r.get("s")) {
            (Some(Value::Int(i)), Some(Value::Float(s))) => (*i, *s),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn wordnet_bm25_and_cosine_match_bm25s_and_numpy() {
    let wn = wordnet::load_full().expect("the shared WordNet data");
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    client
        .ingest("wn", wn.columns().unwrap(), IngestOptions::default())
        .unwrap();
    let n = wn.synsets.len();

    // Queries: usage examples from across the corpus, and short keyword queries.
    let mut queries: Vec<String> = (0..12)
        .filter_map(|k| {
            wn.synsets[k * n / 12..]
                .iter()
                .find_map(|s| s.examples.first().cloned())
        })
        .collect();
    queries
        .extend(["music instrument", "River WATER", "the", "zyzzyva", "a b c"].map(String::from));
    let corpus: Vec<&str> = wn.synsets.iter().map(|s| s.definition.as_str()).collect();

    let query_rows: Vec<usize> = vec![0, 1234, 50_000, 99_999, n - 1];
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut vectors: Vec<Vec<f32>> = query_rows
        .iter()
        .map(|&i| wn.embedding(i).to_vec())
        .collect();
    vectors.push((0..384).map(|_| rng.random_range(-1.0f32..1.0)).collect());

    let refs = reference(json!({
        "bm25": {"corpus": corpus, "queries": queries},
        "cosine": {
            "vectors": wordnet::full_dir().join("definition_emb_f16.npy").display().to_string(),
            "queries": vectors,
        },
    }));

    for (q, want) in queries.iter().zip(refs["bm25"].as_array().unwrap()) {
        let rows = client
            .query(
                "SELECT idx, text <#> $1 AS s FROM wn WHERE text <#> $1 > 0",
                &[Value::from(q.as_str())],
            )
            .unwrap();
        let got = scores_by_idx(&rows);
        let want: HashMap<i64, f64> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        assert_eq!(got.len(), want.len(), "query {q:?}: matching documents");
        for (i, w) in &want {
            let g = got
                .get(i)
                .unwrap_or_else(|| panic!("query {q:?}: row {i} missing"));
            assert!(
                (g - w).abs() <= 1e-4,
                "query {q:?} row {i}: {g} vs bm25s {w}"
            );
        }
    }

    for (v, want) in vectors.iter().zip(refs["cosine"].as_array().unwrap()) {
        let rows = client
            .query(
                "SELECT idx, embedding <#> $1::float4[] AS s FROM wn",
                &[Value::Floats(v.iter().map(|x| f64::from(*x)).collect())],
            )
            .unwrap();
        let got = scores_by_idx(&rows);
        let want = want.as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (i, w) in want.iter().enumerate() {
            let (g, w) = (got[&(i as i64)], w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-5, "row {i}: {g} vs numpy {w}");
        }
    }
}

#[test]
fn maxsim_matches_numpy() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let dim = 16;
    let mut rand_rows = |count: usize| -> Vec<Vec<f64>> {
        (0..count)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect()
    };
    let docs: Vec<Vec<Vec<f64>>> = (0..300).map(|i| rand_rows(1 + i % 5)).collect();
    let queries: Vec<Vec<Vec<f64>>> = (0..4).map(|i| rand_rows(1 + i)).collect();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    client
        .ingest(
            "mv",
            vec![
                (
                    "idx".into(),
                    Column::Values((0..300).map(Value::Int).collect()),
                ),
                (
                    "m".into(),
                    Column::Values(docs.iter().cloned().map(Value::FloatRows).collect()),
                ),
            ],
            IngestOptions::default(),
        )
        .unwrap();
    let refs = reference(json!({"maxsim": {"docs": docs, "queries": queries}}));
    for (q, want) in queries.iter().zip(refs["maxsim"].as_array().unwrap()) {
        let rows = client
            .query(
                "SELECT idx, m <#> $1 AS s FROM mv",
                &[Value::FloatRows(q.clone())],
            )
            .unwrap();
        let got = scores_by_idx(&rows);
        for (i, w) in want.as_array().unwrap().iter().enumerate() {
            let (g, w) = (got[&(i as i64)], w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-5, "doc {i}: {g} vs numpy {w}");
        }
    }
}
