//! The `index` workload of `deeplake bench`: vector indexes on WordNet
//! MiniLM (117k x 384) and GloVe 6B-50d (400k x 50), each with 500 of its
//! vectors held out as queries. For each index and knob setting: build
//! time, size, recall@10 against the exact top-10 and p50 latency per
//! query through `client.query`, next to faiss (IndexIVFFlat and
//! IndexIVFRaBitQ with the same partition count and probes, IndexHNSWFlat)
//! and LanceDB's IVF_PQ (same partitions and probes) run in the same run
//! on the same data.

use std::path::Path;
use std::time::Instant;

use deeplake_cli::npy::{self, Matrix};
use deeplake_cli::wordnet;
use deeplake_client::Client;
use deeplake_index::ivf::default_partitions;

use crate::search_bench::{glove_matrix, ingest_vectors, median, our_topk, topk_sql, Baselines};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const K: usize = 10;
const HELD_OUT: usize = 500;
const NPROBES: [usize; 6] = [2, 4, 8, 16, 32, 64];
/// Candidates the quantized index hands to the exact re-score.
const RERANKS: [usize; 2] = [32, 64];

/// Splits every `step`-th row off as a query.
fn hold_out(m: &Matrix, queries: usize) -> (Matrix, Matrix) {
    let step = (m.rows / queries.max(1)).max(2);
    let (mut data, mut q) = (Vec::new(), Vec::new());
    let mut taken = 0;
    for (i, row) in m.data.chunks_exact(m.cols).enumerate() {
        if i % step == step / 2 && taken < queries {
            q.extend_from_slice(row);
            taken += 1;
        } else {
            data.extend_from_slice(row);
        }
    }
    let rows = data.len() / m.cols;
    (
        Matrix {
            rows,
            cols: m.cols,
            data,
        },
        Matrix {
            rows: taken,
            cols: m.cols,
            data: q,
        },
    )
}

fn recall(got: &[Vec<i64>], truth: &[Vec<i64>]) -> f64 {
    let hits: usize = got
        .iter()
        .zip(truth)
        .map(|(g, t)| g.iter().filter(|x| t.contains(x)).count())
        .sum();
    hits as f64 / (K * truth.len()).max(1) as f64
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |d| {
        d.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

fn row(index: &str, param: &str, build_s: f64, mb: f64, recall: f64, p50: f64) {
    println!("  {index:<18} {param:<14} {build_s:>8.2} s {mb:>9.1} MB   recall@10 {recall:.3}   p50 {p50:>7.3} ms");
}

fn case(
    client: &Client,
    baselines: &Baselines,
    scratch: &Path,
    name: &str,
    all: &Matrix,
) -> BoxResult<()> {
    let (data, queries) = hold_out(all, HELD_OUT);
    let table = ingest_vectors(client, name, &data)?;
    println!(
        "{name}: {} x {}, {} held-out queries, top-{K}, one query at a time",
        data.rows, data.cols, queries.rows
    );
    let (exact_ms, truth) = our_topk(client, &table, &queries)?;
    println!(
        "  {:<18} {:<14} p50 {:.3} ms (the scan every recall is measured against)",
        "ours exact",
        "",
        median(exact_ms)
    );

    for (kind, reranks) in [
        ("clustered", &[0][..]),
        ("clustered_quantized", &RERANKS[..]),
    ] {
        let path = client.dataset_path(&table);
        let dir = Path::new(path.strip_prefix("file://").unwrap_or(&path)).join("index");
        // A dropped index's files stay for the versions that list it.
        let before = dir_bytes(&dir);
        let t = Instant::now();
        client.query(
            &format!("CREATE INDEX bench_idx ON {table} USING deeplake_index (embedding) WITH (index_type = '{kind}')"),
            &[],
        )?;
        let build = t.elapsed().as_secs_f64();
        let mb = (dir_bytes(&dir) - before) as f64 / 1e6;
        for &rerank in reranks {
            if rerank > 0 {
                client.query(&format!("SET deeplake.rerank = {rerank}"), &[])?;
            }
            for nprobe in NPROBES {
                client.query(&format!("SET deeplake.nprobe = {nprobe}"), &[])?;
                let (ms, ids) = our_topk(client, &table, &queries)?;
                let param = match rerank {
                    0 => format!("nprobe={nprobe}"),
                    r => format!("nprobe={nprobe},rr={r}"),
                };
                row(
                    &format!("ours {kind}"),
                    &param,
                    build,
                    mb,
                    recall(&ids, &truth),
                    median(ms),
                );
            }
        }
        client.query("SET deeplake.nprobe = DEFAULT", &[])?;
        client.query("SET deeplake.rerank = DEFAULT", &[])?;
        // The same search written inside a CTE and as a subquery reaches
        // the index as the direct form does (the index's own knobs).
        let direct = format!(
            "SELECT idx, embedding <#> $1::float4[] AS s FROM {table} ORDER BY s DESC LIMIT {K}"
        );
        for (shape, sql) in [
            ("direct", direct.clone()),
            (
                "in a CTE",
                format!("WITH t AS ({direct}) SELECT idx, s FROM t"),
            ),
            (
                "as a subquery",
                format!("SELECT idx, s FROM ({direct}) AS t"),
            ),
        ] {
            let (ms, ids) = topk_sql(client, &sql, &queries)?;
            row(
                &format!("ours {kind}"),
                shape,
                build,
                mb,
                recall(&ids, &truth),
                median(ms),
            );
        }
        client.query("DROP INDEX bench_idx", &[])?;
    }

    let vec_path = scratch.join(format!("{table}.npy"));
    let q_path = scratch.join(format!("{table}-queries.npy"));
    npy::write(&vec_path, &data)?;
    npy::write(&q_path, &queries)?;
    let probes: Vec<String> = NPROBES.iter().map(|n| n.to_string()).collect();
    let faiss = baselines.run(
        &[
            "ann".into(),
            vec_path.display().to_string(),
            q_path.display().to_string(),
            K.to_string(),
            default_partitions(data.rows).to_string(),
            probes.join(","),
        ],
        false,
    );
    std::fs::remove_file(&vec_path)?;
    match faiss
        .as_ref()
        .and_then(|f| f["configs"].as_array().cloned())
    {
        Some(configs) => {
            for c in configs {
                let num = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
                row(
                    c["index"].as_str().unwrap_or("?"),
                    c["param"].as_str().unwrap_or("?"),
                    num("build_s"),
                    num("bytes") / 1e6,
                    num("recall"),
                    num("p50_ms"),
                );
            }
        }
        None => println!("  faiss baselines not run (bench/setup-search.sh)"),
    }
    client.drop_table(&table, true)?;
    Ok(())
}

/// What a trivial statement costs end to end through `client.query`.
fn statement_cost(client: &Client) -> BoxResult<()> {
    let mut ms = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        client.query("SELECT 1", &[])?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("SELECT 1 through client.query: p50 {:.3} ms", median(ms));
    Ok(())
}

/// Both data sets; GloVe only when its package is installed.
pub fn run(client: &Client, baselines: &Baselines, scratch: &Path) -> BoxResult<()> {
    statement_cost(client)?;
    let wn = wordnet::load_full()?;
    case(client, baselines, scratch, "wordnet-minilm", &wn.embeddings)?;
    match glove_matrix(baselines, scratch)? {
        Some(m) => case(client, baselines, scratch, "glove-50", &m),
        None => Ok(()),
    }
}
