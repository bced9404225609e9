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
const DIM: usize = 384;

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
    /// Workloads to run (ingest, random, scan); all by default.
    #[arg(long)]
    only: Vec<String>,
    /// Python of a virtualenv holding the reference `deeplake` (bench/setup-reference.sh makes one).
    #[arg(long, env = "DEEPLAKE_REFERENCE_PYTHON")]
    reference_python: Option<PathBuf>,
    /// Scratch directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

struct Reference {
    python: PathBuf,
    script: PathBuf,
}

impl Reference {
    fn find(args: &Args) -> Option<Reference> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = args
            .reference_python
            .clone()
            .unwrap_or_else(|| root.join(".venv-reference/bin/python"));
        let script = root.join("bench/reference.py");
        (python.exists() && script.exists()).then_some(Reference { python, script })
    }

    fn run(&self, args: &[String]) -> Option<serde_json::Value> {
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

fn line(name: &str, ours: f64, unit: &str, baseline: Option<(&str, f64)>, higher_is_better: bool) {
    match baseline {
        Some((label, b)) if b > 0.0 && ours > 0.0 => {
            let ratio = if higher_is_better { ours / b } else { b / ours };
            println!("{name:<34} ours {ours:>12.2} {unit:<8} | {label} {b:>12.2} {unit:<8} | {ratio:.2}x");
        }
        _ => println!("{name:<34} ours {ours:>12.2} {unit:<8} | baseline not run"),
    }
}

fn text_column(rows: usize, rng: &mut impl Rng) -> StringArray {
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

fn embedding_column(rows: usize, rng: &mut impl Rng) -> FixedSizeListArray {
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
        let bar = crate::ui::progress(Some(args.rows as u64), "ingest");
        let mut on_progress = |done: u64, _total: i64| bar.set_position(done);
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
    Ok(())
}

fn scan(
    client: &Client,
    args: &Args,
    root: &Path,
    reference: Option<&Reference>,
    ref_ingest: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let ds = client.open_table("ingest")?;
    let mut gbps = 0.0;
    let mut total = 0usize;
    for _ in 0..2 {
        // First pass warms the page cache, as for the raw read below.
        let t0 = Instant::now();
        total = 0;
        for batch in ds.scan(Some(&["embedding"]))? {
            let batch = batch?;
            total += batch
                .column(0)
                .as_any()
                .downcast_ref::<FixedSizeListArray>()
                .ok_or("embedding column")?
                .values()
                .len()
                * 4;
        }
        gbps = total as f64 / t0.elapsed().as_secs_f64() / 1e9;
    }
    // The same bytes as one flat file, read with plain read(2) calls.
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
    let mut raw_gbps = 0.0;
    let mut buf = vec![0u8; 4 << 20];
    for _ in 0..2 {
        let t0 = Instant::now();
        let mut f = std::fs::File::open(&raw_path)?;
        let mut n = 0usize;
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                break;
            }
            n += k;
        }
        raw_gbps = n as f64 / t0.elapsed().as_secs_f64() / 1e9;
    }
    std::fs::remove_file(&raw_path)?;
    println!(
        "scan of the embedding column ({:.2} GB, page cache warm)",
        total as f64 / 1e9
    );
    line(
        "scan GB/s vs raw read(2)",
        gbps,
        "GB/s",
        Some(("raw disk", raw_gbps)),
        true,
    );
    let refscan = reference.and_then(|r| r.run(&["scan".into(), ref_ingest.to_string()]));
    line(
        "scan GB/s vs reference",
        gbps,
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
