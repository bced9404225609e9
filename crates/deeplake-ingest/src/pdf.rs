//! PDF: one row per page, the page rendered by MuPDF (`mutool`, the engine
//! PyMuPDF wraps) at the requested DPI and its extracted text. `mutool`
//! streams raw pixmaps and the PNG encoding happens here, with a fast
//! deflate, on the worker that asked for the pages.
//!
//! MuPDF repairs damaged files silently; a file it had to report an error
//! for is refused rather than ingested half-read.

use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::Path;
use std::process::Stdio;

use deeplake_types::Value;

use crate::error::{IngestError, Result};
use crate::rows::{Batcher, Col, Emit, Row};
use crate::tools::{last_words, run, Tools, MUTOOL};

/// Pages handed on per batch.
const PAGES_PER_BATCH: usize = 4;

/// Number of pages, from the document's page tree.
pub fn page_count(tools: &Tools, path: &Path) -> Result<usize> {
    let mut cmd = tools.command(MUTOOL)?;
    cmd.arg("show").arg(path).arg("trailer/Root/Pages/Count");
    let out = run(tools, cmd, MUTOOL, path)?;
    check_errors(path, &out.stderr)?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse::<usize>().map_err(|_| {
        IngestError::file(
            path,
            format!("not a readable PDF (page count '{}')", text.trim()),
        )
    })
}

fn check_errors(path: &Path, stderr: &[u8]) -> Result<()> {
    let text = String::from_utf8_lossy(stderr);
    match text.lines().find(|l| l.starts_with("error:")) {
        Some(line) => Err(IngestError::file(
            path,
            format!("damaged PDF: {}", line.trim_start_matches("error:").trim()),
        )),
        None => Ok(()),
    }
}

/// Renders and extracts `pages` (0-based) of one PDF, handing rows on in
/// small batches.
pub fn normalize(
    tools: &Tools,
    path: &Path,
    pages: Range<usize>,
    dpi: u32,
    file_id: &str,
    emit: Emit<'_>,
) -> Result<()> {
    if pages.is_empty() {
        return Ok(());
    }
    let range = format!("{}-{}", pages.start + 1, pages.end);
    let texts = page_texts(tools, path, &range)?;
    let errors = tempfile::tempfile()
        .map_err(|e| IngestError::Internal(format!("Failed to create a temporary file: {e}")))?;
    let errors_out = errors
        .try_clone()
        .map_err(|e| IngestError::Internal(format!("Failed to create a temporary file: {e}")))?;
    let mut child = tools
        .command(MUTOOL)?
        .args([
            "draw",
            "-q",
            "-r",
            &dpi.to_string(),
            "-c",
            "rgb",
            "-F",
            "pnm",
            "-o",
            "-",
        ])
        .arg(path)
        .arg(&range)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(errors_out))
        .spawn()
        .map_err(|e| IngestError::Internal(format!("Failed to start mutool: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| IngestError::Internal("mutool has no output pipe".into()))?;
    let rendered = render_rows(path, stdout, pages.clone(), &texts, file_id, emit);
    if rendered.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| IngestError::Internal(format!("mutool did not finish: {e}")))?;
    let stderr = read_all(errors);
    check_errors(path, &stderr)?;
    let done = rendered?;
    if !status.success() {
        return Err(IngestError::file(
            path,
            format!("mutool failed: {}", last_words(&stderr)),
        ));
    }
    if done != pages.len() {
        return Err(IngestError::file(
            path,
            format!("mutool rendered {done} of {} pages", pages.len()),
        ));
    }
    Ok(())
}

fn read_all(mut f: std::fs::File) -> Vec<u8> {
    use std::io::Seek;
    let mut buf = vec![];
    let _ = f.rewind().and_then(|_| f.read_to_end(&mut buf));
    buf
}

/// Reads the rendered pixmaps as they come and turns each into a row;
/// returns how many pages were read.
fn render_rows(
    path: &Path,
    stdout: impl Read,
    pages: Range<usize>,
    texts: &[String],
    file_id: &str,
    mut emit: Emit<'_>,
) -> Result<usize> {
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut batch = Batcher::new(PAGES_PER_BATCH, &mut emit);
    let mut done = 0;
    for page in pages {
        let Some((w, h, pixels)) = read_pnm(path, &mut reader)? else {
            break;
        };
        let png = encode_png(path, w, h, &pixels)?;
        let text = texts
            .get(done)
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map_or_else(|| format!("PDF page {}", page + 1), str::to_string);
        let mut row = Row::new(file_id, page);
        row.set(Col::PageIndex, Value::Int(page as i64))
            .set(Col::Image, Value::Bytes(png))
            .set(Col::Text, Value::Str(text));
        batch.push(row)?;
        done += 1;
    }
    batch.finish()?;
    Ok(done)
}

/// The text of each page of `range`; mutool ends every page with a form feed.
fn page_texts(tools: &Tools, path: &Path, range: &str) -> Result<Vec<String>> {
    let mut cmd = tools.command(MUTOOL)?;
    cmd.args(["draw", "-q", "-F", "txt", "-o", "-"])
        .arg(path)
        .arg(range);
    let out = run(tools, cmd, MUTOOL, path)?;
    check_errors(path, &out.stderr)?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.split('\u{c}').map(str::to_string).collect())
}

/// One binary PNM (`P6`, 8-bit RGB) image, or `None` at the end of the stream.
fn read_pnm(path: &Path, r: &mut impl BufRead) -> Result<Option<(u32, u32, Vec<u8>)>> {
    let bad = |what: &str| IngestError::file(path, format!("unexpected renderer output: {what}"));
    let mut tokens: Vec<u64> = vec![];
    let mut magic = [0u8; 2];
    match r.read_exact(&mut magic) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(bad(&e.to_string())),
    }
    if &magic != b"P6" {
        return Err(bad("not a P6 pixmap"));
    }
    // Width, height and maximum value, separated by whitespace (and
    // possibly comments); one whitespace byte precedes the pixels.
    let mut token = vec![];
    while tokens.len() < 3 {
        let mut byte = [0u8; 1];
        r.read_exact(&mut byte).map_err(|e| bad(&e.to_string()))?;
        match byte[0] {
            b'#' => {
                let mut skip = vec![];
                r.read_until(b'\n', &mut skip)
                    .map_err(|e| bad(&e.to_string()))?;
            }
            b if b.is_ascii_whitespace() => {
                if !token.is_empty() {
                    let s = String::from_utf8_lossy(&token).into_owned();
                    tokens.push(s.parse().map_err(|_| bad("bad header"))?);
                    token.clear();
                }
            }
            b if b.is_ascii_digit() => token.push(b),
            _ => return Err(bad("bad header")),
        }
    }
    let (w, h, max) = (tokens[0], tokens[1], tokens[2]);
    if max != 255 || w == 0 || h == 0 || w * h > 1 << 31 {
        return Err(bad("unsupported pixmap"));
    }
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    r.read_exact(&mut pixels).map_err(|e| bad(&e.to_string()))?;
    Ok(Some((w as u32, h as u32, pixels)))
}

fn encode_png(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let fail = |e: png::EncodingError| IngestError::file(path, format!("PNG encoding failed: {e}"));
    let mut out = Vec::with_capacity(rgb.len() / 16);
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().map_err(fail)?;
    writer.write_image_data(rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}
