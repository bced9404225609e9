//! One segment of an index, written under the segment's directory before
//! the commit that lists it: for a vector index the IVF over some
//! fragments' vectors (file `ivf`) and the keys of their NULL vectors
//! (file `nulls`); for a text index the postings of their texts (file
//! `bm25`).
//!
//! A key names a row as `(slot << 32) | local row`, where `slot` is the
//! fragment's place in the segment's fragment list and the local row its
//! row in that fragment counting deleted ones: fragment ids and local rows
//! never change while a fragment is live (see storage's manifest
//! invariant), so a key stays valid for as long as the segment is listed.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::Array;
use arrow_schema::{DataType, Field};
use bytes::Bytes;
use deeplake_storage::{IndexSegment, Table};

use crate::ivf::{Ivf, IvfParams};
use crate::postings::Postings;
use crate::IndexError;

pub(crate) const IVF_FILE: &str = "ivf";
pub(crate) const NULLS_FILE: &str = "nulls";
pub(crate) const BM25_FILE: &str = "bm25";

pub(crate) fn key(slot: usize, local: u64) -> u64 {
    ((slot as u64) << 32) | local
}

pub(crate) fn unkey(key: u64) -> (usize, u64) {
    ((key >> 32) as usize, key & 0xffff_ffff)
}

/// A vector segment in memory.
#[derive(Debug)]
pub struct VectorSegment {
    pub ivf: Ivf,
    pub nulls: Vec<u64>,
}

/// A loaded segment of either kind.
#[derive(Debug)]
pub enum Loaded {
    Vector(VectorSegment),
    Text(Postings),
}

impl Loaded {
    pub fn size_bytes(&self) -> usize {
        match self {
            Loaded::Vector(v) => v.ivf.size_bytes() + v.nulls.len() * 8,
            Loaded::Text(p) => p.size_bytes(),
        }
    }
}

fn new_segment(table: &Table, id: String, files: &[&str], frags: &[usize]) -> IndexSegment {
    IndexSegment {
        id,
        files: files.iter().map(|f| f.to_string()).collect(),
        fragments: frags
            .iter()
            .map(|&i| table.manifest().fragments[i].id.clone())
            .collect(),
    }
}

/// Builds and writes a text segment over fragments `frags`; None when
/// they hold no rows. Not committed, as [`build_vector_segment`].
pub(crate) async fn build_text_segment(
    table: &Table,
    column: &str,
    frags: &[usize],
) -> Result<Option<IndexSegment>, IndexError> {
    let mut texts: Vec<(u64, String)> = Vec::new();
    let mut rows = 0;
    for (slot, &i) in frags.iter().enumerate() {
        let frag = &table.manifest().fragments[i];
        let batch = table.read_fragment(i, Some(&[column])).await?;
        let col = arrow_cast::cast(batch.column(0), &DataType::Utf8)?;
        rows += col.len();
        for (n, t) in col.as_string::<i32>().iter().enumerate() {
            if let Some(t) = t {
                texts.push((key(slot, frag.nth_live(n as u64)), t.to_string()));
            }
        }
    }
    if rows == 0 {
        return Ok(None);
    }
    let postings = tokio::task::spawn_blocking(move || {
        Postings::build(texts.iter().map(|(k, t)| (*k, t.as_str()))).to_bytes()
    })
    .await
    .map_err(|e| IndexError::Corrupt(format!("index build stopped: {e}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    table
        .put_index_file(&id, BM25_FILE, Bytes::from(postings))
        .await?;
    Ok(Some(new_segment(table, id, &[BM25_FILE], frags)))
}

/// The vectors of `column` in fragments `frags` (manifest positions):
/// their keys, the flat floats and the keys of NULL rows. `dim` fixes the
/// size every vector must have; None takes the first vector's.
struct Read {
    dim: Option<usize>,
    keys: Vec<u64>,
    floats: Vec<f32>,
    nulls: Vec<u64>,
}

async fn read_vectors(
    table: &Table,
    column: &str,
    frags: &[usize],
    dim: Option<usize>,
) -> Result<Read, IndexError> {
    let list = DataType::List(Arc::new(Field::new("item", DataType::Float32, true)));
    let mut out = Read {
        dim,
        keys: Vec::new(),
        floats: Vec::new(),
        nulls: Vec::new(),
    };
    for (slot, &i) in frags.iter().enumerate() {
        let frag = &table.manifest().fragments[i];
        let batch = table.read_fragment(i, Some(&[column])).await?;
        let values = arrow_cast::cast(batch.column(0), &list)?;
        let values = values.as_list::<i32>();
        let floats = values.values().as_primitive::<Float32Type>();
        let offsets = values.offsets();
        for n in 0..values.len() {
            let key = key(slot, frag.nth_live(n as u64));
            if values.is_null(n) {
                out.nulls.push(key);
                continue;
            }
            let (a, b) = (offsets[n] as usize, offsets[n + 1] as usize);
            let want = *out.dim.get_or_insert(b - a);
            if b - a != want || want == 0 {
                return Err(IndexError::BadInput(format!(
                    "vector size mismatch in column '{column}': a row has {} dimensions, the index {want}",
                    b - a
                )));
            }
            out.keys.push(key);
            out.floats.extend_from_slice(&floats.values()[a..b]);
        }
    }
    Ok(out)
}

/// Builds and writes a segment over fragments `frags` (manifest
/// positions) of `table`, returning it with its vectors' size; None when
/// they hold no rows. Not committed: the
/// caller lists it in a commit, or leaves its files unreferenced.
pub(crate) async fn build_vector_segment(
    table: &Table,
    column: &str,
    frags: &[usize],
    dim: Option<usize>,
    params: IvfParams,
    trained: Option<Vec<f32>>,
) -> Result<Option<(IndexSegment, usize)>, IndexError> {
    let read = read_vectors(table, column, frags, dim).await?;
    if read.keys.is_empty() && read.nulls.is_empty() {
        return Ok(None);
    }
    let dim = read.dim.unwrap_or(1);
    let (keys, floats) = (read.keys, read.floats);
    let ivf = tokio::task::spawn_blocking(move || {
        Ivf::build_on(dim, keys, floats, params, trained.as_deref())
    })
    .await
    .map_err(|e| IndexError::Corrupt(format!("index build stopped: {e}")))??;
    let id = uuid::Uuid::new_v4().to_string();
    let nulls: Vec<u8> = read.nulls.iter().flat_map(|k| k.to_le_bytes()).collect();
    table
        .put_index_file(&id, IVF_FILE, Bytes::from(ivf.to_bytes()))
        .await?;
    table
        .put_index_file(&id, NULLS_FILE, Bytes::from(nulls))
        .await?;
    let segment = new_segment(table, id, &[IVF_FILE, NULLS_FILE], frags);
    Ok(Some((segment, dim)))
}

/// Reads a committed segment's files, whichever kind it is.
pub(crate) async fn load_segment(
    table: &Table,
    segment: &IndexSegment,
) -> Result<Loaded, IndexError> {
    if segment.files.iter().any(|f| f == BM25_FILE) {
        let bytes = table.get_index_file(&segment.id, BM25_FILE).await?;
        let postings = tokio::task::spawn_blocking(move || Postings::from_bytes(&bytes))
            .await
            .map_err(|e| IndexError::Corrupt(format!("index load stopped: {e}")))??;
        return Ok(Loaded::Text(postings));
    }
    load_vector_segment(table, segment)
        .await
        .map(Loaded::Vector)
}

async fn load_vector_segment(
    table: &Table,
    segment: &IndexSegment,
) -> Result<VectorSegment, IndexError> {
    let ivf = table.get_index_file(&segment.id, IVF_FILE).await?;
    let nulls = table.get_index_file(&segment.id, NULLS_FILE).await?;
    if nulls.len() % 8 != 0 {
        return Err(IndexError::Corrupt(format!(
            "index segment '{}' has a damaged null list",
            segment.id
        )));
    }
    let ivf = tokio::task::spawn_blocking(move || Ivf::from_bytes(&ivf))
        .await
        .map_err(|e| IndexError::Corrupt(format!("index load stopped: {e}")))??;
    let nulls = nulls
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Ok(VectorSegment { ivf, nulls })
}
