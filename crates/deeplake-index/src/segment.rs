//! One segment of a vector index: the IVF over some fragments' vectors
//! (file `ivf`) and the keys of their NULL vectors (file `nulls`), written
//! under the segment's directory before the commit that lists it.
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
use crate::IndexError;

pub(crate) const IVF_FILE: &str = "ivf";
pub(crate) const NULLS_FILE: &str = "nulls";

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

impl VectorSegment {
    pub fn size_bytes(&self) -> usize {
        self.ivf.size_bytes() + self.nulls.len() * 8
    }
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
) -> Result<Option<(IndexSegment, usize)>, IndexError> {
    let read = read_vectors(table, column, frags, dim).await?;
    if read.keys.is_empty() && read.nulls.is_empty() {
        return Ok(None);
    }
    let dim = read.dim.unwrap_or(1);
    let (keys, floats) = (read.keys, read.floats);
    let ivf = tokio::task::spawn_blocking(move || Ivf::build(dim, keys, floats, params))
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
    let fragments = frags
        .iter()
        .map(|&i| table.manifest().fragments[i].id.clone())
        .collect();
    let segment = IndexSegment {
        id,
        files: vec![IVF_FILE.into(), NULLS_FILE.into()],
        fragments,
    };
    Ok(Some((segment, dim)))
}

/// Reads a committed segment's files.
pub(crate) async fn load_vector_segment(
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
