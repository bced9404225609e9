//! FILE ingestion on real media: videos made by ffmpeg and the WebM from
//! gnome-user-docs, PDFs from Debian doc packages, scikit-image's images,
//! real text files; checked with independent tools (ffprobe, pdfinfo,
//! pdftotext, the `image` decoder). `scripts/setup-system.sh` installs the
//! packages and `scripts/setup-python.sh` scikit-image.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{client_at, col, column_types, opts_schema, skimage, texts};
use deeplake_client::{Chunking, Client, Column, FileOptions, Mode, Tools, Value};

/// A file a Debian package installs; its absence is a setup error.
fn system_file(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} missing: apt-get install {package} (scripts/setup-system.sh does)"
    );
    p
}

fn tool(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A test video made by ffmpeg: moving test pattern, a tone, a keyframe
/// every `gop` frames at 25 fps.
fn make_video(dir: &Path, name: &str, seconds: u32, codec: &[&str], gop: u32) -> PathBuf {
    let path = dir.join(name);
    tool(
        Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size=320x240:rate=25:duration={seconds}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={seconds}"))
            .args(codec)
            .args(["-g", &gop.to_string(), "-shortest", "-y"])
            .arg(&path),
    );
    path
}

fn probe_duration(path: &Path) -> f64 {
    let out = tool(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
    );
    String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .expect("a duration")
}

fn paths(name: &str, files: &[&Path]) -> (String, Column) {
    col(
        name,
        files
            .iter()
            .map(|p| Value::Str(p.display().to_string()))
            .collect(),
    )
}

fn str_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::Str(s)) => s.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}
fn f64_of(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Float(x)) => *x,
        other => panic!("expected a float, got {other:?}"),
    }
}
fn i64_of(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Int(x)) => *x,
        other => panic!("expected an int, got {other:?}"),
    }
}
fn bytes_of(v: Option<&Value>) -> Vec<u8> {
    match v {
        Some(Value::Bytes(b)) => b.clone(),
        other => panic!("expected bytes, got {other:?}"),
    }
}

fn assert_ingest_error(
    r: deeplake_client::Result<deeplake_client::IngestResult>,
    needle: &str,
) -> String {
    match r {
        Err(e) if e.class() == "IngestError" => {
            let m = e.message().to_string();
            assert!(m.contains(needle), "'{m}' should mention '{needle}'");
            m
        }
        other => panic!("expected an IngestError mentioning {needle}, got {other:?}"),
    }
}

#[test]
fn videos_become_segments_that_cover_them_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let webm = system_file(
        "/usr/share/help/C/gnome-help/figures/display-dual-monitors.webm",
        "gnome-user-docs",
    );
    let mp4 = make_video(
        dir.path(),
        "a.mp4",
        24,
        &["-c:v", "libx264", "-c:a", "aac"],
        40,
    );
    // Keyframes every 7 s: cuts must wait for them, so segments are longer
    // than 10 s and fewer than ceil(duration / 10).
    let mov = make_video(
        dir.path(),
        "b.mov",
        23,
        &["-c:v", "libx264", "-c:a", "aac"],
        175,
    );
    let mkv = make_video(
        dir.path(),
        "c.mkv",
        12,
        &["-c:v", "libx264", "-c:a", "libvorbis"],
        25,
    );
    let avi = make_video(
        dir.path(),
        "d.avi",
        15,
        &["-c:v", "mpeg4", "-c:a", "mp3"],
        50,
    );
    let files = [&webm, &mp4, &mov, &mkv, &avi];
    let c = client_at(dir.path());
    let r = c
        .ingest(
            "videos",
            vec![paths("path", &files.map(|p| p.as_path()))],
            opts_schema(&[("path", "FILE")]),
        )
        .unwrap();
    let rows = c
        .query(
            "SELECT id, file_id, chunk_index, start_time, end_time, video_data, thumbnail, text FROM videos",
            &[],
        )
        .unwrap();
    assert_eq!(r.row_count as usize, rows.len());
    // Table order is file order, then segment order.
    let mut by_file: Vec<(String, Vec<&deeplake_client::Row>)> = vec![];
    for row in &rows {
        let fid = str_of(row.get("file_id"));
        match by_file.last_mut() {
            Some((f, list)) if *f == fid => list.push(row),
            _ => by_file.push((fid, vec![row])),
        }
    }
    assert_eq!(by_file.len(), files.len());
    for ((fid, segs), file) in by_file.iter().zip(files) {
        let duration = probe_duration(file);
        let keys = keyframes(file);
        assert!(
            segs.len() as f64 <= (duration / 10.0).ceil(),
            "{}",
            file.display()
        );
        let mut expected_start = 0.0;
        for (i, row) in segs.iter().enumerate() {
            assert_eq!(i64_of(row.get("chunk_index")), i as i64);
            assert_eq!(str_of(row.get("id")), format!("{fid}_{i}"));
            let (start, end) = (f64_of(row.get("start_time")), f64_of(row.get("end_time")));
            assert!(
                (start - expected_start).abs() < 1e-9,
                "gap or overlap in {}",
                file.display()
            );
            assert!(end > start);
            // Every cut is at one of the video's keyframes.
            assert!(
                i == 0 || keys.iter().any(|k| (k - start).abs() < 0.002),
                "{}: cut at {start} is not a keyframe",
                file.display()
            );
            expected_start = end;
            assert_eq!(
                str_of(row.get("text")),
                format!("Video segment {i}: {start:.1}s - {end:.1}s")
            );
            // The stored segment is valid media on its own.
            let ext = file.extension().unwrap().to_string_lossy();
            let seg = dir.path().join(format!("probe.{ext}"));
            std::fs::write(&seg, bytes_of(row.get("video_data"))).unwrap();
            let streams = tool(
                Command::new("ffprobe")
                    .args([
                        "-v",
                        "error",
                        "-show_entries",
                        "stream=codec_type",
                        "-of",
                        "csv=p=0",
                    ])
                    .arg(&seg),
            );
            assert!(String::from_utf8_lossy(&streams).contains("video"));
            let thumb = image::load_from_memory(&bytes_of(row.get("thumbnail"))).unwrap();
            assert_eq!((thumb.width(), thumb.height()), (320, 180));
        }
        assert!(
            (expected_start - duration).abs() < 0.25,
            "{}: segments end at {expected_start}, the video at {duration}",
            file.display()
        );
    }
    // The 23-second MOV with keyframes every 7 s: cut at the keyframes
    // near 14 and 21 s, not at 10 and 20.
    let mov_cuts: Vec<f64> = by_file[2]
        .1
        .iter()
        .map(|r| f64_of(r.get("start_time")))
        .collect();
    assert_eq!(mov_cuts.len(), 3);
    assert!(
        (mov_cuts[1] - 14.0).abs() < 0.2 && (mov_cuts[2] - 21.0).abs() < 0.2,
        "{mov_cuts:?}"
    );
}

/// Presentation times of a video's keyframes, per ffprobe.
fn keyframes(path: &Path) -> Vec<f64> {
    let out = tool(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "V:0",
                "-show_entries",
                "packet=pts_time,flags",
            ])
            .args(["-of", "csv=p=0"])
            .arg(path),
    );
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.contains('K'))
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect()
}

/// Page sizes in points, from poppler's pdfinfo (an engine independent of
/// the one that renders).
fn page_sizes(pdf: &Path) -> Vec<(f64, f64)> {
    let out = tool(
        Command::new("pdfinfo")
            .args(["-f", "1", "-l", "9999"])
            .arg(pdf),
    );
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.starts_with("Page") && l.contains(" size: "))
        .map(|l| {
            let dims: Vec<f64> = l
                .split(" size: ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            (dims[0], dims[1])
        })
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn pdf_pages_render_at_the_dpi_with_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let card = system_file("/usr/share/doc/asymptote/asyRefCard.pdf", "asymptote-doc");
    let texshop = system_file(
        "/usr/share/doc/asymptote/TeXShopAndAsymptote.pdf",
        "asymptote-doc",
    );
    let gnuplot = system_file("/usr/share/doc/gnuplot/gnuplot.pdf", "gnuplot-doc");
    // A sample of gnuplot's manual: the first pages of a 300-page document.
    let sample = dir.path().join("gnuplot-sample.pdf");
    tool(
        Command::new("mutool")
            .arg("merge")
            .arg("-o")
            .arg(&sample)
            .arg(&gnuplot)
            .arg("1-5"),
    );
    let c = client_at(dir.path());
    let dpi = 150;
    let mut opts = opts_schema(&[("path", "FILE")]);
    // Two pages per task: a document spans several workers, and its pages
    // must still come out in order.
    opts.files = FileOptions {
        pdf_dpi: dpi,
        pages_per_task: 2,
        ..FileOptions::default()
    };
    let files = [card.as_path(), texshop.as_path(), sample.as_path()];
    c.ingest("docs", vec![paths("path", &files)], opts).unwrap();
    let rows = c
        .query("SELECT file_id, page_index, image, text FROM docs", &[])
        .unwrap();
    let mut start = 0;
    for file in files {
        let sizes = page_sizes(file);
        let pages = &rows[start..start + sizes.len()];
        start += sizes.len();
        let fid = str_of(pages[0].get("file_id"));
        for (i, (row, (w, h))) in pages.iter().zip(&sizes).enumerate() {
            assert_eq!(str_of(row.get("file_id")), fid);
            assert_eq!(i64_of(row.get("page_index")), i as i64);
            let png = bytes_of(row.get("image"));
            assert_eq!(&png[1..4], b"PNG");
            let img = image::load_from_memory(&png).unwrap();
            let expect = |pt: f64| pt * dpi as f64 / 72.0;
            assert!(
                (img.width() as f64 - expect(*w)).abs() <= 1.0
                    && (img.height() as f64 - expect(*h)).abs() <= 1.0,
                "{} page {i}: {}x{} at {dpi} dpi for {w}x{h} pt",
                file.display(),
                img.width(),
                img.height()
            );
            // The page's words agree with poppler's pdftotext.
            let ours = words(&str_of(row.get("text")));
            let theirs_raw = tool(
                Command::new("pdftotext")
                    .args(["-f", &(i + 1).to_string(), "-l", &(i + 1).to_string()])
                    .arg(file)
                    .arg("-"),
            );
            let theirs = words(&String::from_utf8_lossy(&theirs_raw));
            if theirs.is_empty() {
                assert_eq!(str_of(row.get("text")), format!("PDF page {}", i + 1));
                continue;
            }
            let theirs_set: std::collections::HashSet<&String> = theirs.iter().collect();
            let shared = ours.iter().filter(|w| theirs_set.contains(w)).count();
            assert!(
                shared as f64 >= 0.9 * theirs.len().min(ours.len()) as f64
                    && ours.len() as f64 >= 0.8 * theirs.len() as f64,
                "{} page {i}: {shared} shared words of {} (ours {})",
                file.display(),
                theirs.len(),
                ours.len()
            );
        }
    }
    assert_eq!(start, rows.len());
}

#[test]
fn images_keep_their_bytes_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let png = skimage("astronaut.png");
    let jpg = skimage("rocket.jpg");
    let gif = skimage("no_time_for_that_tiny.gif");
    let bmp = dir.path().join("coffee.bmp");
    let webp = dir.path().join("coffee.webp");
    for out in [&bmp, &webp] {
        tool(
            Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(skimage("coffee.png"))
                .arg("-y")
                .arg(out),
        );
    }
    let files = [
        png.as_path(),
        jpg.as_path(),
        gif.as_path(),
        bmp.as_path(),
        webp.as_path(),
    ];
    let c = client_at(dir.path());
    let r = c
        .ingest(
            "images",
            vec![paths("path", &files)],
            opts_schema(&[("path", "FILE")]),
        )
        .unwrap();
    assert_eq!(r.row_count, 5);
    let rows = c
        .query("SELECT id, file_id, image, filename, text FROM images", &[])
        .unwrap();
    for (row, file) in rows.iter().zip(files) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(bytes_of(row.get("image")), std::fs::read(file).unwrap());
        assert_eq!(str_of(row.get("filename")), name);
        assert_eq!(str_of(row.get("text")), format!("Image: {name}"));
        assert_eq!(
            str_of(row.get("id")),
            format!("{}_0", str_of(row.get("file_id")))
        );
    }
    assert_eq!(column_types(&c, "images")["image"], "IMAGE");
}

#[test]
fn text_files_are_chunked_by_characters() {
    let dir = tempfile::tempdir().unwrap();
    let gpl = dir.path().join("GPL-3.txt");
    std::fs::copy(
        system_file("/usr/share/common-licenses/GPL-3", "base-files"),
        &gpl,
    )
    .unwrap();
    let bad = dir.path().join("latin1.md");
    std::fs::write(&bad, b"caf\xe9 cr\xe8me: \xff not UTF-8").unwrap();
    let c = client_at(dir.path());
    let mut opts = opts_schema(&[("path", "FILE")]);
    opts.files.chunking = Chunking::new(500, 100).unwrap();
    c.ingest("texts", vec![paths("path", &[&gpl, &bad])], opts)
        .unwrap();
    let rows = c
        .query("SELECT file_id, chunk_index, text FROM texts", &[])
        .unwrap();
    let gpl_text = std::fs::read_to_string(&gpl).unwrap();
    let gpl_rows: Vec<_> = rows
        .iter()
        .filter(|r| str_of(r.get("file_id")) == str_of(rows[0].get("file_id")))
        .collect();
    assert!(gpl_rows.len() > gpl_text.chars().count() / 500);
    for (i, r) in gpl_rows.iter().enumerate() {
        assert_eq!(i64_of(r.get("chunk_index")), i as i64);
        let t = str_of(r.get("text"));
        assert!(
            t.chars().count() <= 550,
            "chunk {i} has {} chars",
            t.chars().count()
        );
        assert!(
            gpl_text.contains(&t),
            "chunk {i} is not a piece of the file"
        );
    }
    let last = rows.last().unwrap();
    assert_eq!(
        str_of(last.get("text")),
        "caf\u{fffd} cr\u{fffd}me: \u{fffd} not UTF-8"
    );
}

#[test]
fn mixed_kinds_share_one_table_and_carry_other_columns() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "first note").unwrap();
    let bin = dir.path().join("blob.bin");
    std::fs::write(&bin, [0u8, 1, 2, 255]).unwrap();
    let img = skimage("camera.png");
    let c = client_at(dir.path());
    let mut progress = vec![];
    let r = {
        let mut on_progress = |done: u64, total: i64| {
            progress.push((done, total));
            Ok(())
        };
        let mut opts = opts_schema(&[("path", "FILE")]);
        opts.on_progress = Some(&mut on_progress);
        c.ingest(
            "mixed",
            vec![
                paths("path", &[&txt, &bin, &img]),
                texts("label", &["a", "b", "c"]),
            ],
            opts,
        )
        .unwrap()
    };
    assert_eq!(r.row_count, 3);
    assert_eq!(progress.last(), Some(&(3, 3)));
    let rows = c.query("SELECT * FROM mixed", &[]).unwrap();
    assert_eq!(
        rows[0].columns(),
        [
            "id",
            "file_id",
            "chunk_index",
            "filename",
            "text",
            "image",
            "data",
            "label"
        ]
    );
    assert_eq!(str_of(rows[0].get("text")), "first note");
    assert_eq!(rows[0].get("data"), Some(&Value::Null));
    assert_eq!(bytes_of(rows[1].get("data")), vec![0u8, 1, 2, 255]);
    assert_eq!(rows[1].get("text"), Some(&Value::Null));
    assert_eq!(str_of(rows[2].get("text")), "Image: camera.png");
    let labels: Vec<String> = rows.iter().map(|r| str_of(r.get("label"))).collect();
    assert_eq!(labels, ["a", "b", "c"]);
    // Appending more files keeps the table's schema.
    let more = dir.path().join("more.txt");
    std::fs::write(&more, "second note").unwrap();
    let mut opts = opts_schema(&[("path", "FILE")]);
    opts.mode = Mode::Append;
    c.ingest(
        "mixed",
        vec![paths("path", &[&more]), texts("label", &["d"])],
        opts,
    )
    .unwrap();
    let n = c
        .query(
            "SELECT count(*) AS n FROM mixed WHERE label = 'd' AND text = 'second note'",
            &[],
        )
        .unwrap();
    assert_eq!(n[0].get("n"), Some(&Value::Int(1)));
}

fn assert_nothing_left(c: &Client, table: &str) {
    assert!(
        !c.list_tables().unwrap().contains(&table.to_string()),
        "{table} was left behind"
    );
}

#[test]
fn damaged_files_fail_naming_the_file_with_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let good_txt = dir.path().join("good.txt");
    std::fs::write(&good_txt, "fine").unwrap();
    let mp4 = make_video(
        dir.path(),
        "whole.mp4",
        12,
        &["-c:v", "libx264", "-c:a", "aac"],
        25,
    );
    let bytes = std::fs::read(&mp4).unwrap();
    let truncated_mp4 = dir.path().join("truncated.mp4");
    std::fs::write(&truncated_mp4, &bytes[..bytes.len() / 2]).unwrap();
    let garbage_mkv = dir.path().join("garbage.mkv");
    std::fs::write(
        &garbage_mkv,
        (0..20000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let pdf = std::fs::read(system_file(
        "/usr/share/doc/asymptote/asyRefCard.pdf",
        "asymptote-doc",
    ))
    .unwrap();
    let truncated_pdf = dir.path().join("truncated.pdf");
    std::fs::write(&truncated_pdf, &pdf[..pdf.len() / 3]).unwrap();
    let jpg = std::fs::read(skimage("rocket.jpg")).unwrap();
    let truncated_jpg = dir.path().join("truncated.jpg");
    std::fs::write(&truncated_jpg, &jpg[..jpg.len() / 2]).unwrap();
    let not_png = dir.path().join("text.png");
    std::fs::write(&not_png, "this is not a picture").unwrap();
    let c = client_at(dir.path());
    for bad in [
        &truncated_mp4,
        &garbage_mkv,
        &truncated_pdf,
        &truncated_jpg,
        &not_png,
    ] {
        let r = c.ingest(
            "broken",
            vec![paths("path", &[&good_txt, bad])],
            opts_schema(&[("path", "FILE")]),
        );
        let m = assert_ingest_error(r, &format!("Failed to process {}: ", bad.display()));
        assert!(m.starts_with("Failed to ingest data: "), "{m}");
        assert_nothing_left(&c, "broken");
    }
}

#[test]
fn argument_errors_and_missing_tools() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let missing = dir.path().join("nope.mp4");
    let r = c.ingest(
        "t",
        vec![paths("path", &[&missing])],
        opts_schema(&[("path", "FILE")]),
    );
    assert_ingest_error(r, &format!("File not found: {}", missing.display()));
    let r = c.ingest(
        "t",
        vec![texts("x", &["a"])],
        opts_schema(&[("path", "FILE")]),
    );
    assert_ingest_error(r, "Schema declares 'path' as FILE but column not in data.");
    let r = c.ingest(
        "t",
        vec![col("path", vec![Value::Null])],
        opts_schema(&[("path", "FILE")]),
    );
    assert_ingest_error(r, "FILE columns contain no file paths.");
    let r = c.ingest(
        "t",
        vec![col("path", vec![Value::Int(3)])],
        opts_schema(&[("path", "FILE")]),
    );
    assert_ingest_error(r, "must hold file paths");
    let mut opts = opts_schema(&[("path", "FILE")]);
    opts.files.pdf_dpi = 0;
    let r = c.ingest("t", vec![texts("path", &["x.pdf"])], opts);
    assert_ingest_error(r, "pdf_dpi");
    // Tools are looked up before anything is written.
    let empty = tempfile::tempdir().unwrap();
    let video = make_video(
        dir.path(),
        "v.mp4",
        2,
        &["-c:v", "libx264", "-c:a", "aac"],
        25,
    );
    let pdf = system_file("/usr/share/doc/asymptote/asyRefCard.pdf", "asymptote-doc");
    for (file, message) in [
        (
            video.as_path(),
            "ffmpeg not found (ffprobe is missing): install it with sudo apt-get install ffmpeg",
        ),
        (
            pdf.as_path(),
            "mutool not found: install it with sudo apt-get install mupdf-tools",
        ),
    ] {
        let mut opts = opts_schema(&[("path", "FILE")]);
        opts.files.tools = Tools::with_search_path(empty.path());
        let r = c.ingest("t", vec![paths("path", &[file])], opts);
        assert_ingest_error(r, message);
        assert_nothing_left(&c, "t");
    }
}

#[test]
fn several_file_columns_keep_each_input_row_together() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("a.txt");
    std::fs::write(&notes, "first row's notes").unwrap();
    let more = dir.path().join("b.txt");
    std::fs::write(&more, "second row's notes").unwrap();
    let photo = skimage("coins.png");
    let c = client_at(dir.path());
    let r = c
        .ingest(
            "pairs",
            vec![
                paths("doc", &[&notes, &more]),
                // The second input row has no picture.
                col(
                    "pic",
                    vec![Value::Str(photo.display().to_string()), Value::Null],
                ),
                texts("owner", &["ann", "bob"]),
            ],
            opts_schema(&[("doc", "FILE"), ("pic", "FILE")]),
        )
        .unwrap();
    assert_eq!(r.row_count, 3);
    let rows = c
        .query("SELECT owner, text, filename FROM pairs", &[])
        .unwrap();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (str_of(r.get("owner")), str_of(r.get("text"))))
        .collect();
    assert_eq!(
        got,
        [
            ("ann".to_string(), "first row's notes".to_string()),
            ("ann".to_string(), "Image: coins.png".to_string()),
            ("bob".to_string(), "second row's notes".to_string()),
        ]
    );
}
