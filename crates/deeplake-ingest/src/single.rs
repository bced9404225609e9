//! Normalizers that need no external program: images (one row, checked to
//! decode), text (chunked) and anything else (one row of raw bytes).

use std::path::Path;

use deeplake_types::Value;

use crate::chunk::Chunking;
use crate::error::{IngestError, Result};
use crate::kind::file_name;
use crate::rows::{Batcher, Col, Emit, Row};

/// Text chunks handed on per batch.
const CHUNKS_PER_BATCH: usize = 1000;

/// A file's bytes; a missing file is `NotFound`, any other failure names it.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => IngestError::NotFound(path.to_path_buf()),
        _ => IngestError::file(path, format!("cannot read it: {e}")),
    })
}

/// Whether a JPEG ends its last scan with an end-of-image marker. JPEG
/// decoders accept a truncated scan (the missing part is drawn grey), so
/// decoding alone does not catch a cut-off file. Inside scan data 0xFF is
/// always followed by 0x00 or a restart marker, so the end marker after the
/// last start-of-scan is the real end.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    match (last(0xDA), last(0xD9)) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

/// Checks that the bytes decode as an image; returns its size.
pub fn check_image(path: &Path, bytes: &[u8]) -> Result<(u32, u32)> {
    if bytes.starts_with(&[0xFF, 0xD8]) && !jpeg_is_complete(bytes) {
        return Err(IngestError::file(
            path,
            "truncated JPEG: no end-of-image marker",
        ));
    }
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| IngestError::file(path, format!("not a readable image: {e}")))?
        .decode()
        .map_err(|e| IngestError::file(path, format!("not a decodable image: {e}")))?;
    Ok((img.width(), img.height()))
}

pub fn image(path: &Path, file_id: &str) -> Result<Vec<Row>> {
    let bytes = read_file(path)?;
    check_image(path, &bytes)?;
    let name = file_name(path);
    let mut row = Row::new(file_id, 0);
    row.set(Col::Text, Value::Str(format!("Image: {name}")))
        .set(Col::Filename, Value::Str(name))
        .set(Col::Image, Value::Bytes(bytes));
    Ok(vec![row])
}

pub fn other(path: &Path, file_id: &str) -> Result<Vec<Row>> {
    let bytes = read_file(path)?;
    let mut row = Row::new(file_id, 0);
    row.set(Col::Filename, Value::Str(file_name(path)))
        .set(Col::Data, Value::Bytes(bytes));
    Ok(vec![row])
}

/// The file's text with invalid UTF-8 replaced, cut into chunks.
pub fn text_chunks(path: &Path, chunking: &Chunking) -> Result<Vec<String>> {
    let bytes = read_file(path)?;
    Ok(chunking.split(&String::from_utf8_lossy(&bytes)))
}

pub fn text(path: &Path, chunking: &Chunking, file_id: &str, mut emit: Emit<'_>) -> Result<usize> {
    let chunks = text_chunks(path, chunking)?;
    let n = chunks.len();
    let mut batch = Batcher::new(CHUNKS_PER_BATCH, &mut emit);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut row = Row::new(file_id, i);
        row.set(Col::ChunkIndex, Value::Int(i as i64))
            .set(Col::Text, Value::Str(chunk));
        batch.push(row)?;
    }
    batch.finish()?;
    Ok(n)
}
