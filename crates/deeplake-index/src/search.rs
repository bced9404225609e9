//! Answering from a table's index: candidate rows for a top-k, and (for
//! a text index) the corpus statistics of the live rows.
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

use crate::bm25::{Bm25Query, CorpusStats};
use crate::grams::Grams;
use crate::ivf::TopK;
use crate::segment::{holds_texts, holds_vectors, load_segment, unkey, Loaded};
use crate::values::{Literal, ValueQuery};
use crate::IndexError;

/// Partitions probed per segment when the index and the session set none
/// (an index built before its build chose one), and the least a build
/// chooses.
pub const DEFAULT_NPROBE: usize = 16;

/// The `nprobe` a build of `partitions` partitions chooses: a tenth of
/// them, at least [`DEFAULT_NPROBE`]. Recall@10 depends on the share of
/// the partitions probed, not their count: 16 of WordNet's 342 gave 0.943
/// and 16 of GloVe's 632 gave 0.852; a tenth gives 0.972 (35) and 0.970
/// (64), at 0.52 and 0.80 ms (`docs/benchmarks.md`).
pub fn default_nprobe(partitions: usize) -> usize {
    DEFAULT_NPROBE.max(partitions.div_ceil(10))
}
/// Candidates a quantized index hands to the exact re-score when the
/// index and the session set none.
pub const DEFAULT_RERANK: usize = 64;
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
    /// Live rows no segment covers (among the allowed), all included.
    pub unindexed: u64,
    pub segments: usize,
}

impl Candidates {
    /// The rows of both searches (over the same table).
    pub fn union(mut self, other: Candidates) -> Candidates {
        self.rows.extend(other.rows);
        self.rows.sort_unstable();
        self.rows.dedup();
        self.from_index += other.from_index;
        self.unindexed = self.unindexed.max(other.unindexed);
        self.segments += other.segments;
        self
    }
}

struct Cache {
    entries: HashMap<String, (Arc<Loaded>, u64)>,
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
pub(crate) async fn segment(table: &Table, seg: &IndexSegment) -> Result<Arc<Loaded>, IndexError> {
    if let Ok(mut c) = cache().lock() {
        c.clock += 1;
        let now = c.clock;
        if let Some((s, used)) = c.entries.get_mut(&seg.id) {
            *used = now;
            return Ok(s.clone());
        }
    }
    let loaded = Arc::new(load_segment(table, seg).await?);
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

/// Where a segment's keys are among the table's live rows.
struct Places<'a> {
    /// Each slot of the segment: its fragment and first live position.
    slots: Vec<Option<(&'a Fragment, u64)>>,
}

impl<'a> Places<'a> {
    fn new(table: &'a Table, seg: &IndexSegment, slot_of: &HashMap<&str, usize>) -> Places<'a> {
        let frags = &table.manifest().fragments;
        let slots = seg
            .fragments
            .iter()
            .map(|id| {
                let i = *slot_of.get(id.as_str())?;
                Some((&frags[i], table.fragment_start(i)?))
            })
            .collect();
        Places { slots }
    }

    /// The key's live position, if the row is live and `allowed` has it.
    fn position(&self, key: u64, allowed: Option<&RowSet>) -> Option<u64> {
        let (slot, local) = unkey(key);
        let (frag, start) = self.slots.get(slot).copied().flatten()?;
        let p = live_position(frag, start, local)?;
        allowed.is_none_or(|a| a.contains(p)).then_some(p)
    }
}

fn slots(table: &Table) -> HashMap<&str, usize> {
    table
        .manifest()
        .fragments
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect()
}

fn wrong_kind(seg: &IndexSegment, index: &IndexMeta) -> IndexError {
    IndexError::Corrupt(format!(
        "segment '{}' of index '{}' does not hold a {} index",
        seg.id, index.name, index.index_type
    ))
}

/// Adds every live row (that `allowed` has) of the fragments `index` does
/// not cover.
fn with_unindexed(
    table: &Table,
    index: &IndexMeta,
    mut rows: Vec<u64>,
    allowed: Option<&RowSet>,
) -> Candidates {
    let from_index = rows.len();
    let frags = &table.manifest().fragments;
    let mut unindexed = 0;
    for i in table.unindexed(index) {
        let (Some(start), live) = (table.fragment_start(i), frags[i].live_rows()) else {
            continue;
        };
        let before = rows.len();
        rows.extend((start..start + live).filter(|p| allowed.is_none_or(|a| a.contains(*p))));
        unindexed += (rows.len() - before) as u64;
    }
    rows.sort_unstable();
    rows.dedup();
    Candidates {
        rows,
        from_index,
        unindexed,
        segments: index.segments.len(),
    }
}

/// The `k` best rows for `query` by the vector index `index` of `table`,
/// with the NULL and unindexed rows beside them (see the module's note),
/// all among `allowed` when it is given.
pub async fn vector_candidates(
    table: &Table,
    index: &IndexMeta,
    query: &[f32],
    k: usize,
    nprobe: usize,
    allowed: Option<&RowSet>,
) -> Result<Candidates, IndexError> {
    let slot_of = slots(table);
    let mut best = TopK::new(k);
    let mut rows = Vec::new();
    for seg in index.segments.iter().filter(|s| holds_vectors(s)) {
        let loaded = segment(table, seg).await?;
        let Loaded::Vector(v) = loaded.as_ref() else {
            return Err(wrong_kind(seg, index));
        };
        let places = Places::new(table, seg, &slot_of);
        let accept = |key: u64| places.position(key, allowed).is_some();
        for (score, key) in v.ivf.search(query, k, nprobe, accept)? {
            if let Some(p) = places.position(key, allowed) {
                best.push(score, p);
            }
        }
        rows.extend(
            v.nulls
                .iter()
                .filter_map(|&key| places.position(key, allowed)),
        );
    }
    rows.extend(best.into_sorted().into_iter().map(|(_, p)| p));
    Ok(with_unindexed(table, index, rows, allowed))
}

/// Candidates for a MaxSim top-k by the `pooled_quantized` index: for each
/// query vector, the rows holding one of its `k` nearest vectors among all
/// rows' vectors (pooled in one IVF), with the NULL and unindexed rows.
/// A row's MaxSim is a sum of best matches, so the rows it ranks high
/// hold close matches to some query vectors: those rows are here, and the
/// caller's exact MaxSim orders them.
pub async fn matrix_candidates(
    table: &Table,
    index: &IndexMeta,
    queries: &[Vec<f32>],
    k: usize,
    nprobe: usize,
    allowed: Option<&RowSet>,
) -> Result<Candidates, IndexError> {
    let mut out = Candidates::default();
    for q in queries {
        let found = vector_candidates(table, index, q, k, nprobe, allowed).await?;
        out = out.union(found);
    }
    out.segments = index.segments.len();
    Ok(out)
}

/// The `k` rows scoring best for `query` by the text index `index`, with
/// every unindexed row beside them, all among `allowed` when it is given;
/// rows scoring 0 are not candidates.
pub async fn text_candidates(
    table: &Table,
    index: &IndexMeta,
    query: &Bm25Query,
    k: usize,
    allowed: Option<&RowSet>,
) -> Result<Candidates, IndexError> {
    let slot_of = slots(table);
    let mut best = TopK::new(k);
    for seg in index.segments.iter().filter(|s| holds_texts(s)) {
        let loaded = segment(table, seg).await?;
        let Loaded::Text(p) = loaded.as_ref() else {
            return Err(wrong_kind(seg, index));
        };
        let places = Places::new(table, seg, &slot_of);
        let accept = |key: u64| places.position(key, allowed).is_some();
        for (score, key) in p.search(query, k, accept) {
            if let Some(pos) = places.position(key, allowed) {
                best.push(score, pos);
            }
        }
    }
    let rows = best.into_sorted().into_iter().map(|(_, p)| p).collect();
    Ok(with_unindexed(table, index, rows, allowed))
}

/// What a trigram index can answer: substrings, equality (the value
/// contains itself) and NULLs.
fn grams_lookup(g: &Grams, query: &ValueQuery) -> Option<Vec<u64>> {
    match query {
        ValueQuery::IsNull => Some(g.nulls().to_vec()),
        ValueQuery::Contains(needle) => g.containing(needle),
        ValueQuery::AnyOf(list) => {
            let mut keys = Vec::new();
            for l in list {
                match l {
                    Literal::Text(t) => keys.extend(g.containing(t)?),
                    Literal::Number(_) => return None,
                }
            }
            Some(keys)
        }
        ValueQuery::Range(..) => None,
    }
}

/// The live rows the lookup index's segments hold whose value may
/// satisfy `query`; None when the index cannot answer it.
pub(crate) async fn indexed_rows(
    table: &Table,
    index: &IndexMeta,
    query: &ValueQuery,
) -> Result<Option<Vec<u64>>, IndexError> {
    let slot_of = slots(table);
    let mut rows = Vec::new();
    for seg in &index.segments {
        let loaded = segment(table, seg).await?;
        let keys = match loaded.as_ref() {
            Loaded::Values(v) => v.lookup(query),
            Loaded::Grams(g) => grams_lookup(g, query),
            _ => return Err(wrong_kind(seg, index)),
        };
        let Some(keys) = keys else {
            return Ok(None);
        };
        let places = Places::new(table, seg, &slot_of);
        rows.extend(keys.into_iter().filter_map(|k| places.position(k, None)));
    }
    Ok(Some(rows))
}

/// The rows of `table` whose value in the lookup index's column may
/// satisfy `query`, with every unindexed row beside them (the caller
/// applies the predicate exactly); None when the index cannot answer it.
pub async fn lookup_candidates(
    table: &Table,
    index: &IndexMeta,
    query: &ValueQuery,
) -> Result<Option<Candidates>, IndexError> {
    Ok(indexed_rows(table, index, query)
        .await?
        .map(|rows| with_unindexed(table, index, rows, None)))
}

/// Corpus statistics of the text index's column over the table's live
/// rows: counted from the postings for the rows segments cover and from
/// the column itself for the rest, so they equal a scan of the whole
/// column.
pub async fn text_stats(table: &Table, index: &IndexMeta) -> Result<CorpusStats, IndexError> {
    let slot_of = slots(table);
    let mut stats = CorpusStats::default();
    for seg in index.segments.iter().filter(|s| holds_texts(s)) {
        let loaded = segment(table, seg).await?;
        let Loaded::Text(p) = loaded.as_ref() else {
            return Err(wrong_kind(seg, index));
        };
        let places = Places::new(table, seg, &slot_of);
        p.add_stats(&mut stats, |key| places.position(key, None).is_some());
    }
    // A hybrid index's texts are its second column.
    let Some(column) = index.columns.last() else {
        return Ok(stats);
    };
    for i in table.unindexed(index) {
        let batch = table.read_fragment(i, Some(&[column.as_str()])).await?;
        stats.add(batch.column(0))?;
    }
    Ok(stats)
}

/// A positive count an index's parameters set (`nprobe`, `rerank`).
pub fn index_param(index: &IndexMeta, name: &str) -> Option<usize> {
    index
        .params
        .get(name)
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
}
