//! File and dataset ingest workloads: ours end to end (normalize and write
//! a table) next to the reference package's own normalizers on the same
//! files in the same run (bench/ingest_reference.py; normalizing only, no
//! table written, so the comparison favours the reference).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use deeplake_client::{Client, Column, IngestOptions, Value};

use crate::bench::{line, Reference};
use deeplake_cli::wordnet;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Real PDFs from Debian doc packages (asymptote-doc, gnuplot-doc).
const PDFS: [&str; 5] = [
    "/usr/share/doc/asymptote/asyRefCard.pdf",
    "/usr/share/doc/asymptote/CAD.pdf",
    "/usr/share/doc/asymptote/asy-latex.pdf",
    "/usr/share/doc/asymptote/TeXShopAndAsymptote.pdf",
    "/usr/share/doc/gnuplot/gnuplot.pdf",
];
/// The real WebM of gnome-user-docs.
const WEBM: &str = "/usr/share/help/C/gnome-help/figures/display-dual-monitors.webm";

pub struct Settings {
    pub video_seconds: u32,
    pub hf_rows: usize,
}

/// Seconds and rows of a reference run.
fn figures(v: serde_json::Value) -> Option<(f64, u64)> {
    Some((v["seconds"].as_f64()?, v["rows"].as_u64()?))
}

fn file_column(files: &[PathBuf]) -> Vec<(String, Column)> {
    vec![(
        "path".into(),
        Column::Values(
            files
                .iter()
                .map(|p| Value::Str(p.display().to_string()))
                .collect(),
        ),
    )]
}

fn file_opts() -> IngestOptions<'static> {
    IngestOptions {
        schema: vec![("path".into(), "FILE".into())],
        ..Default::default()
    }
}

/// Ingests `files` into a fresh table; returns (seconds, rows).
fn ours(client: &Client, table: &str, files: &[PathBuf]) -> BoxResult<(f64, u64)> {
    client.drop_table(table, true)?;
    let t = Instant::now();
    let r = client.ingest(table, file_column(files), file_opts())?;
    Ok((t.elapsed().as_secs_f64(), r.row_count))
}

fn existing(paths: &[&str]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect()
}

fn reference_files(reference: Option<&Reference>, files: &[PathBuf]) -> Option<(f64, u64)> {
    let mut args = vec!["files".to_string()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    reference?.output(&args).and_then(figures)
}

fn duration(path: &Path) -> Option<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A 720p H.264/AAC test video with a keyframe every 2 s, made once.
fn make_video(dir: &Path, seconds: u32) -> BoxResult<PathBuf> {
    let path = dir.join(format!("bench-{seconds}s.mp4"));
    if path.is_file() {
        return Ok(path);
    }
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1280x720:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "50",
            "-c:a",
            "aac",
            "-shortest",
            "-y",
        ])
        .arg(&path)
        .status()?;
    if !status.success() {
        return Err("ffmpeg could not make the benchmark video".into());
    }
    Ok(path)
}

pub fn run(
    client: &Client,
    python: Option<PathBuf>,
    scratch: &Path,
    settings: &Settings,
    wants: &dyn Fn(&str) -> bool,
) -> BoxResult<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/ingest_reference.py");
    let reference = python
        .filter(|p| p.exists())
        .map(|python| Reference::new(python, script));
    let media = scratch.join("media");
    std::fs::create_dir_all(&media)?;
    let label = "reference";

    if wants("pdf") {
        let pdfs = existing(&PDFS);
        if pdfs.is_empty() {
            println!("pdf: no PDFs found (apt-get install asymptote-doc gnuplot-doc)");
        } else {
            let (secs, pages) = ours(client, "bench_pdf", &pdfs)?;
            let theirs = reference_files(reference.as_ref(), &pdfs);
            let rate = |(s, n): (f64, u64)| n as f64 / s;
            println!("pdf: {pages} pages of {} real PDFs at 300 dpi", pdfs.len());
            line(
                "pdf pages/s (ref: PyMuPDF, 4 thr)",
                rate((secs, pages)),
                "pages/s",
                theirs.map(|t| (label, rate(t))),
                true,
            );
        }
    }
    if wants("video") {
        let mut videos = vec![make_video(&media, settings.video_seconds)?];
        videos.extend(existing(&[WEBM]));
        let minutes: f64 = videos.iter().filter_map(|v| duration(v)).sum::<f64>() / 60.0;
        let (secs, segments) = ours(client, "bench_video", &videos)?;
        let theirs = reference_files(reference.as_ref(), &videos);
        println!(
            "video: {:.1} minutes in {} files, {segments} segments (ours)",
            minutes,
            videos.len()
        );
        line(
            "video s per minute (ref: per-seg)",
            secs / minutes,
            "s/min",
            theirs.map(|(s, _)| (label, s / minutes)),
            false,
        );
    }
    if wants("text") {
        let wn = wordnet::load_full()?;
        let mut body = String::new();
        for (i, s) in wn.synsets.iter().enumerate() {
            body.push_str(&s.definition);
            body.push_str(if i % 8 == 7 { ".\n\n" } else { ". " });
        }
        // Four files, so fixed per-ingest costs do not dominate.
        let mut files = vec![];
        for i in 0..4 {
            let file = media.join(format!("wordnet-glosses-{i}.txt"));
            std::fs::write(&file, &body)?;
            files.push(file);
        }
        let (secs, chunks) = ours(client, "bench_text", &files)?;
        let theirs = reference_files(reference.as_ref(), &files);
        println!(
            "text: {} files, {:.1} MB of WordNet glosses, {chunks} chunks",
            files.len(),
            (body.len() * files.len()) as f64 / 1e6
        );
        let rate = |(s, n): (f64, u64)| n as f64 / s;
        // The reference only normalizes; ours is timed both ways.
        let t = Instant::now();
        let inputs = files
            .iter()
            .enumerate()
            .map(|(source, path)| deeplake_ingest::FileInput {
                source,
                path: path.clone(),
            })
            .collect();
        let mut normalized = 0u64;
        deeplake_ingest::plan(inputs, deeplake_ingest::FileOptions::default())?.run(
            |b| -> Result<(), deeplake_ingest::IngestError> {
                normalized += b.batch.num_rows() as u64;
                Ok(())
            },
        )?;
        let norm = (t.elapsed().as_secs_f64(), normalized);
        line(
            "text chunks/s, normalize only",
            rate(norm),
            "chunks/s",
            theirs.map(|t| (label, rate(t))),
            true,
        );
        line(
            "text chunks/s, into a table",
            rate((secs, chunks)),
            "chunks/s",
            theirs.map(|t| (label, rate(t))),
            true,
        );
    }
    if wants("hf") {
        let dir = media.join("hf-wordnet");
        let Some(reference) = reference.as_ref() else {
            println!("hf: needs the reference virtualenv (bench/setup-reference.sh) to write the dataset");
            return Ok(());
        };
        let full = wordnet::full_dir();
        let made = reference.output(&[
            "make-hf".into(),
            full.join("synsets.jsonl").display().to_string(),
            full.join("definition_emb_f16.npy").display().to_string(),
            dir.display().to_string(),
            settings.hf_rows.to_string(),
        ]);
        if made.is_none() {
            return Err("making the Hugging Face dataset failed".into());
        }
        client.drop_table("bench_hf", true)?;
        let t = Instant::now();
        let data = vec![(
            "_huggingface".to_string(),
            Column::Values(vec![Value::Str(dir.display().to_string())]),
        )];
        let rows = client
            .ingest("bench_hf", data, IngestOptions::default())?
            .row_count;
        let secs = t.elapsed().as_secs_f64();
        let theirs = reference
            .output(&["hf".to_string(), dir.display().to_string()])
            .and_then(figures);
        println!(
            "hf: {rows} WordNet rows (text, class label, 384-d embedding) in 4 parquet shards"
        );
        let rate = |(s, n): (f64, u64)| n as f64 / s;
        // Reading and converting only, as the reference's figure is.
        let t = Instant::now();
        let env = deeplake_ingest::HfEnv::from_env();
        let mut source =
            deeplake_ingest::HuggingFace::open(&dir.display().to_string(), None, None, &env)?;
        let mut read = 0u64;
        for batch in deeplake_ingest::Format::normalize(&mut source)? {
            read += batch?.first().map_or(0, |(_, c)| c.len() as u64);
        }
        let norm = (t.elapsed().as_secs_f64(), read);
        line(
            "hf rows/s, read only (ref: stream)",
            rate(norm),
            "rows/s",
            theirs.map(|t| (label, rate(t))),
            true,
        );
        line(
            "hf rows/s, into a table",
            rate((secs, rows)),
            "rows/s",
            theirs.map(|t| (label, rate(t))),
            true,
        );
    }
    Ok(())
}
