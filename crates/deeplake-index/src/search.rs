//! Answering from a table's vector index: candidate rows for a top-k.
//!
//! The candidates are the best keys of every segment (each probed as the
//! index's knobs say), the rows whose vectors are NULL (an exact `ORDER BY
//! ... DESC` puts NULLs first, so they must stay in reach), and every live
//! row of the fragments no segment covers (appended since the build): the
//! caller scores them all exactly, so fresh rows are found at once and a
//! candidate's final score never depends on the index's arithmetic.
//!
//! Segments are loaded once per process and kept in a cache bounded by
//! bytes; a segment's id is a UUID and its files never change, so an entry
//! never goes stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use deeplake_storage::{Fragment, IndexMeta, IndexSegment, Table};

use crate::ivf::TopK;
use crate::segment::{load_vector_segment, unkey, VectorSegment};
use crate::IndexError;

/// Partitions probed per segment when the index and the session set none.
pub const DEFAULT_NPROBE: usize = 16;
/// Bytes of loaded segments kept per process unless
/// `DEEPLAKE_INDEX_CACHE_BYTES` says otherwise.
const CACHE_BYTES: usize = 8 << 30;

/// Global live row positions a search may return (a WHERE clause's rows).
#[derive(Debug, Clone)]
pub struct RowSet {
    words: Vec<u64>,
    len: usize,
}

impl RowSet {
    pub fn new(rows: &[u64], total: u64) -> RowSet {
        let mut words = vec![0u64; (total as usize).div_ceil(64)];
        let mut len = 0;
        for &r in rows {
            if let Some(w) = words.get_mut((r / 64) as usize) {
                if *w & (1 << (r % 64)) == 0 {
                    len += 1;
                }
                *w |= 1 << (r % 64);
            }
        }
        RowSet { words, len }
    }

    pub fn contains(&self, row: u64) -> bool {
        self.words
            .get((row / 64) as usize)
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a search found, for the caller to score exactly.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// Global live row positions, ascending, without repeats.
    pub rows: Vec<u64>,
    /// How many came from segments (their best keys and NULL rows).
    pub from_index: usize,
    /// Live rows no segment covers, all included.
    pub unindexed: u64,
    pub segments: usize,
}

struct Cache {
    entries: HashMap<String, (Arc<VectorSegment>, u64)>,
    bytes: usize,
    clock: u64,
    limit: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let limit = std::env::var("DEEPLAKE_INDEX_CACHE_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CACHE_BYTES);
        Mutex::new(Cache {
            entries: HashMap::new(),
            bytes: 0,
            clock: 0,
            limit,
        })
    })
}

/// The segment, from the cache or loaded into it (least recently used
/// entries leave when the cache is over its bound).
async fn segment(table: &Table, seg: &IndexSegment) -> Result<Arc<VectorSegment>, IndexError> {
    if let Ok(mut c) = cache().lock() {
        c.clock += 1;
        let now = c.clock;
        if let Some((s, used)) = c.entries.get_mut(&seg.id) {
            *used = now;
            return Ok(s.clone());
        }
    }
    let loaded = Arc::new(load_vector_segment(table, seg).await?);
    if let Ok(mut c) = cache().lock() {
        c.clock += 1;
        let now = c.clock;
        if !c.entries.contains_key(&seg.id) {
            c.bytes += loaded.size_bytes();
            c.entries.insert(seg.id.clone(), (loaded.clone(), now));
        }
        while c.bytes > c.limit && c.entries.len() > 1 {
            let oldest = c
                .entries
                .iter()
                .filter(|(id, _)| **id != seg.id)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| id.clone());
            let Some(id) = oldest else { break };
            if let Some((s, _)) = c.entries.remove(&id) {
                c.bytes -= s.size_bytes();
            }
        }
    }
    Ok(loaded)
}

/// Position of a fragment's local row among the table's live rows; None
/// when the row is deleted.
fn live_position(frag: &Fragment, start: u64, local: u64) -> Option<u64> {
    if local >= frag.rows || frag.is_deleted(local) {
        return None;
    }
    let before: u64 = frag
        .deleted
        .iter()
        .take_while(|(_, end)| *end <= local)
        .map(|(a, b)| b - a)
        .sum();
    Some(start + local - before)
}

/// The `k` best rows for `query` by the vector index `index` of `table`,
/// with the NULL and unindexed rows beside them (see the module's note).
/// `allowed` limits the indexed part to those rows; unindexed rows are all
/// returned, for the caller's filter to judge.
pub async fn vector_candidates(
    table: &Table,
    index: &IndexMeta,
    query: &[f32],
    k: usize,
    nprobe: usize,
    allowed: Option<&RowSet>,
) -> Result<Candidates, IndexError> {
    let frags = &table.manifest().fragments;
    let slot_of: HashMap<&str, usize> = frags
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    let mut best = TopK::new(k);
    let mut rows = Vec::new();
    for seg in &index.segments {
        let loaded = segment(table, seg).await?;
        // Each slot of the segment: its fragment and first live position.
        let places: Vec<Option<(&Fragment, u64)>> = seg
            .fragments
            .iter()
            .map(|id| {
                let i = *slot_of.get(id.as_str())?;
                Some((&frags[i], table.fragment_start(i)?))
            })
            .collect();
        let position = |key: u64| {
            let (slot, local) = unkey(key);
            let (frag, start) = places.get(slot).copied().flatten()?;
            let p = live_position(frag, start, local)?;
            allowed.is_none_or(|a| a.contains(p)).then_some(p)
        };
        for (score, key) in loaded
            .ivf
            .search(query, k, nprobe, |key| position(key).is_some())?
        {
            if let Some(p) = position(key) {
                best.push(score, p);
            }
        }
        rows.extend(loaded.nulls.iter().filter_map(|&key| position(key)));
    }
    rows.extend(best.into_sorted().into_iter().map(|(_, p)| p));
    let from_index = rows.len();
    let mut unindexed = 0;
    for i in table.unindexed(index) {
        let (Some(start), live) = (table.fragment_start(i), frags[i].live_rows()) else {
            continue;
        };
        rows.extend(start..start + live);
        unindexed += live;
    }
    rows.sort_unstable();
    rows.dedup();
    Ok(Candidates {
        rows,
        from_index,
        unindexed,
        segments: index.segments.len(),
    })
}

/// The nprobe an index asks for in its parameters, if any.
pub fn index_nprobe(index: &IndexMeta) -> Option<usize> {
    index
        .params
        .get("nprobe")
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
}
