//! One segment of an index, written under the segment's directory before
//! the commit that lists it: for a vector index the IVF over some
//! fragments' vectors (file `ivf`) and the keys of their NULL vectors
//! (file `nulls`); for a BM25 index the postings of their texts (file
//! `bm25`); for a lookup index their sorted values (file `values`) or the
//! trigrams of their texts (file `grams`).
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

use crate::grams::Grams;
use crate::ivf::{Ivf, IvfParams};
use crate::postings::Postings;
use crate::values::{self, Values};
use crate::IndexError;

pub(crate) const IVF_FILE: &str = "ivf";
pub(crate) const NULLS_FILE: &str = "nulls";
pub(crate) const BM25_FILE: &str = "bm25";
pub(crate) const VALUES_FILE: &str = "values";
pub(crate) const GRAMS_FILE: &str = "grams";

pub(crate) fn key(slot: usize, local: u64) -> u64 {
    ((slot as u64) << 32) | local
}

pub(crate) fn unkey(key: u64) -> (usize, u64) {
    ((key >> 32) as usize, key & 0xffff_ffff)
}

/// Whether a segment holds vectors (a hybrid index lists segments of
/// vectors and of texts side by side).
pub(crate) fn holds_vectors(seg: &IndexSegment) -> bool {
    seg.files.iter().any(|f| f == IVF_FILE)
}

/// Whether a segment holds BM25 postings.
pub(crate) fn holds_texts(seg: &IndexSegment) -> bool {
    seg.files.iter().any(|f| f == BM25_FILE)
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
    Values(Values),
    Grams(Grams),
}

impl Loaded {
    pub fn size_bytes(&self) -> usize {
        match self {
            Loaded::Vector(v) => v.ivf.size_bytes() + v.nulls.len() * 8,
            Loaded::Text(p) => p.size_bytes(),
            Loaded::Values(v) => v.size_bytes(),
            Loaded::Grams(g) => g.size_bytes(),
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

/// How a lookup index holds its column: trigrams of texts, or sorted values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Grams,
    Values,
}

/// Builds and writes a lookup segment over fragments `frags`; None when
/// they hold no rows. Not committed, as [`build_vector_segment`].
pub(crate) async fn build_lookup_segment(
    table: &Table,
    column: &str,
    frags: &[usize],
    lookup: Lookup,
) -> Result<Option<(IndexSegment, Loaded)>, IndexError> {
    let live: u64 = frags
        .iter()
        .map(|&i| table.manifest().fragments[i].live_rows())
        .sum();
    let mut keys = Vec::with_capacity(live as usize);
    let mut cols = Vec::with_capacity(frags.len());
    for (slot, &i) in frags.iter().enumerate() {
        let frag = &table.manifest().fragments[i];
        let batch = table.read_fragment(i, Some(&[column])).await?;
        keys.extend((0..batch.num_rows() as u64).map(|n| key(slot, frag.nth_live(n))));
        cols.push(batch.column(0).clone());
    }
    if keys.is_empty() {
        return Ok(None);
    }
    let parts: Vec<&dyn Array> = cols.iter().map(|c| c.as_ref()).collect();
    let col = arrow_select::concat::concat(&parts)?;
    let (file, bytes, loaded) = tokio::task::spawn_blocking(move || {
        Ok::<_, IndexError>(match lookup {
            Lookup::Values => {
                let v = values::build(&col, &keys)?;
                (VALUES_FILE, v.to_bytes(), Loaded::Values(v))
            }
            Lookup::Grams => {
                let col = arrow_cast::cast(&col, &DataType::Utf8)?;
                let texts = col.as_string::<i32>();
                let g = Grams::build(keys.iter().copied().zip(texts.iter()));
                (GRAMS_FILE, g.to_bytes(), Loaded::Grams(g))
            }
        })
    })
    .await
    .map_err(|e| IndexError::Corrupt(format!("index build stopped: {e}")))??;
    let id = uuid::Uuid::new_v4().to_string();
    table.put_index_file(&id, file, Bytes::from(bytes)).await?;
    Ok(Some((new_segment(table, id, &[file], frags), loaded)))
}

/// The vectors of `column` in fragments `frags` (manifest positions):
/// their keys, the flat floats and the keys of NULL rows. `dim` fixes the
/// size every vector must have; None takes the first vector's. A 2-D
/// column gives each of a row's vectors under the row's key (its NULL or
/// empty rows count as NULL).
struct Read {
    dim: Option<usize>,
    keys: Vec<u64>,
    floats: Vec<f32>,
    nulls: Vec<u64>,
}

impl Read {
    fn push(&mut self, column: &str, key: u64, v: &[f32]) -> Result<(), IndexError> {
        let want = *self.dim.get_or_insert(v.len());
        if v.len() != want || want == 0 {
            return Err(IndexError::BadInput(format!(
                "vector size mismatch in column '{column}': a row has {} dimensions, the index {want}",
                v.len()
            )));
        }
        self.keys.push(key);
        self.floats.extend_from_slice(v);
        Ok(())
    }
}

/// Whether a column of `data_type` holds a list of vectors per row.
fn is_matrix(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) => matches!(
            item.data_type(),
            DataType::List(_) | DataType::FixedSizeList(_, _) | DataType::LargeList(_)
        ),
        _ => false,
    }
}

async fn read_vectors(
    table: &Table,
    column: &str,
    frags: &[usize],
    dim: Option<usize>,
) -> Result<Read, IndexError> {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let list = DataType::List(item.clone());
    let matrix = DataType::List(Arc::new(Field::new("item", list.clone(), true)));
    let mut out = Read {
        dim,
        keys: Vec::new(),
        floats: Vec::new(),
        nulls: Vec::new(),
    };
    for (slot, &i) in frags.iter().enumerate() {
        let frag = &table.manifest().fragments[i];
        let batch = table.read_fragment(i, Some(&[column])).await?;
        let two_d = is_matrix(batch.column(0).data_type());
        let values = arrow_cast::cast(batch.column(0), if two_d { &matrix } else { &list })?;
        let rows = values.as_list::<i32>();
        for n in 0..rows.len() {
            let key = key(slot, frag.nth_live(n as u64));
            if rows.is_null(n) {
                out.nulls.push(key);
                continue;
            }
            let row = rows.value(n);
            if !two_d {
                out.push(column, key, row.as_primitive::<Float32Type>().values())?;
                continue;
            }
            let vectors = row.as_list::<i32>();
            if vectors.is_empty() {
                out.nulls.push(key);
            }
            for v in 0..vectors.len() {
                let floats = vectors.value(v);
                out.push(column, key, floats.as_primitive::<Float32Type>().values())?;
            }
        }
    }
    Ok(out)
}

/// A vector segment just built, with what its build chose.
pub(crate) struct BuiltVectors {
    pub segment: IndexSegment,
    /// The vectors' size.
    pub dim: usize,
    /// The partitions its k-means made (or the trained centroids had).
    pub partitions: usize,
}

/// Builds and writes a segment over fragments `frags` (manifest
/// positions) of `table`; None when they hold no rows. Not committed: the
/// caller lists it in a commit, or leaves its files unreferenced.
pub(crate) async fn build_vector_segment(
    table: &Table,
    column: &str,
    frags: &[usize],
    dim: Option<usize>,
    params: IvfParams,
    trained: Option<Vec<f32>>,
) -> Result<Option<BuiltVectors>, IndexError> {
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
    let partitions = ivf.partitions();
    table
        .put_index_file(&id, IVF_FILE, Bytes::from(ivf.to_bytes()))
        .await?;
    table
        .put_index_file(&id, NULLS_FILE, Bytes::from(nulls))
        .await?;
    let segment = new_segment(table, id, &[IVF_FILE, NULLS_FILE], frags);
    Ok(Some(BuiltVectors {
        segment,
        dim,
        partitions,
    }))
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
    for (file, read) in [
        (
            VALUES_FILE,
            (|b: &[u8]| Values::from_bytes(b).map(Loaded::Values)) as fn(&[u8]) -> _,
        ),
        (GRAMS_FILE, |b: &[u8]| {
            Grams::from_bytes(b).map(Loaded::Grams)
        }),
    ] {
        if segment.files.iter().any(|f| f == file) {
            let bytes = table.get_index_file(&segment.id, file).await?;
            return tokio::task::spawn_blocking(move || read(&bytes))
                .await
                .map_err(|e| IndexError::Corrupt(format!("index load stopped: {e}")))?;
        }
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
