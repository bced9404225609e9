//! The `bm25` text index: an inverted index of our tokenizer's terms, with
//! every document's exact length.
//!
//! Exact lengths (not a lossy norm byte) and statistics counted over the
//! live documents at query time are what let an indexed search give the
//! scores the scan gives: the same tokenizer, the same corpus statistics,
//! the same per-term sums in the same order ([`Bm25Query::term_score`]).
//! A document is a non-NULL text; its key is the caller's (see `segment`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::bm25::{for_each_token, Bm25Query, CorpusStats};
use crate::file::Reader;
use crate::ivf::TopK;
use crate::IndexError;

const MAGIC: &[u8; 8] = b"DLBM2501";

#[derive(Debug, Clone, PartialEq)]
pub struct Postings {
    keys: Vec<u64>,
    /// Tokens per document.
    lens: Vec<u32>,
    /// Term → its range in `docs` / `tfs`.
    terms: HashMap<String, (usize, usize)>,
    /// Document numbers (into `keys`), ascending within a term.
    docs: Vec<u32>,
    tfs: Vec<u32>,
    norms: NormCache,
}

/// Every document's length normalization for the last average length a
/// query used: it changes only when the table does, and saves a division
/// per posting.
#[derive(Debug, Default)]
struct NormCache(Mutex<Option<(u64, Arc<Vec<f64>>)>>);

/// A cache is not part of what the postings hold.
impl Clone for NormCache {
    fn clone(&self) -> Self {
        NormCache::default()
    }
}

impl PartialEq for NormCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Per-thread score accumulators, one slot per document, kept zero
/// between searches (only the touched slots are reset).
#[derive(Default)]
struct Scratch {
    scores: Vec<f64>,
    touched: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Postings {
    /// Indexes `texts` (NULLs are not documents) under `keys`.
    pub fn build<'a>(items: impl IntoIterator<Item = (u64, &'a str)>) -> Postings {
        let mut keys = Vec::new();
        let mut lens = Vec::new();
        let mut lists: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut counts: Vec<(String, u32)> = Vec::new();
        for (key, text) in items {
            let doc = keys.len() as u32;
            keys.push(key);
            counts.clear();
            let mut len = 0u32;
            for_each_token(text, |t| {
                len += 1;
                match counts.iter_mut().find(|(s, _)| s == t) {
                    Some(c) => c.1 += 1,
                    None => counts.push((t.to_string(), 1)),
                }
            });
            lens.push(len);
            for (t, tf) in counts.drain(..) {
                lists.entry(t).or_default().push((doc, tf));
            }
        }
        let mut sorted: Vec<(String, Vec<(u32, u32)>)> = lists.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut terms = HashMap::with_capacity(sorted.len());
        let (mut docs, mut tfs) = (Vec::new(), Vec::new());
        for (t, list) in sorted {
            let start = docs.len();
            for (d, f) in list {
                docs.push(d);
                tfs.push(f);
            }
            terms.insert(t, (start, docs.len()));
        }
        Postings {
            keys,
            lens,
            terms,
            docs,
            tfs,
            norms: NormCache::default(),
        }
    }

    /// Each document's length normalization under `query`'s corpus.
    fn norms(&self, query: &Bm25Query) -> Arc<Vec<f64>> {
        let avg = query.avg_len().to_bits();
        let mut cached = match self.norms.0.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        match cached.as_ref() {
            Some((a, n)) if *a == avg => n.clone(),
            _ => {
                let norms: Arc<Vec<f64>> = Arc::new(
                    self.lens
                        .iter()
                        .map(|l| query.length_norm(u64::from(*l)))
                        .collect(),
                );
                *cached = Some((avg, norms.clone()));
                norms
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn size_bytes(&self) -> usize {
        self.keys.len() * 12
            + self.docs.len() * 8
            + self.terms.keys().map(|t| t.len() + 40).sum::<usize>()
    }

    /// Adds the accepted documents to `stats`, as a scan over their texts
    /// would.
    pub fn add_stats(&self, stats: &mut CorpusStats, accept: impl Fn(u64) -> bool) {
        let live: Vec<bool> = self.keys.iter().map(|k| accept(*k)).collect();
        for (d, len) in self.lens.iter().enumerate() {
            if live[d] {
                stats.docs += 1;
                stats.total_len += u64::from(*len);
            }
        }
        for (t, (a, b)) in &self.terms {
            let df = self.docs[*a..*b]
                .iter()
                .filter(|d| live[**d as usize])
                .count() as u32;
            if df > 0 {
                *stats.df.entry(t.clone()).or_insert(0) += df;
            }
        }
    }

    /// The `k` accepted keys scoring best for `query`, best first.
    pub fn search(
        &self,
        query: &Bm25Query,
        k: usize,
        accept: impl Fn(u64) -> bool,
    ) -> Vec<(f32, u64)> {
        let norms = self.norms(query);
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let Scratch { scores, touched } = &mut *scratch;
            if scores.len() < self.keys.len() {
                scores.resize(self.keys.len(), 0.0);
            }
            // Term at a time, in the query's term order: each document's
            // sum is built in the scan's order. Every term score is > 0,
            // so a zero slot is an untouched document.
            for (i, term) in query.terms().enumerate() {
                let Some(&(a, b)) = self.terms.get(term) else {
                    continue;
                };
                for (&d, &tf) in self.docs[a..b].iter().zip(&self.tfs[a..b]) {
                    let slot = &mut scores[d as usize];
                    if *slot == 0.0 {
                        touched.push(d);
                    }
                    *slot += query.term_score(i, tf, norms[d as usize]);
                }
            }
            let mut top = TopK::new(k);
            for &d in touched.iter() {
                let s = scores[d as usize] as f32;
                scores[d as usize] = 0.0;
                let key = self.keys[d as usize];
                if top.would_take(s) && accept(key) {
                    top.push(s, key);
                }
            }
            touched.clear();
            top.into_sorted()
        })
    }

    /// Magic, counts, then keys, lengths, terms (length-prefixed UTF-8, in
    /// order) with their posting ranges, documents and frequencies;
    /// little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut terms: Vec<(&String, &(usize, usize))> = self.terms.iter().collect();
        terms.sort();
        let mut out = Vec::with_capacity(self.size_bytes() + 32);
        out.extend_from_slice(MAGIC);
        for n in [self.keys.len(), terms.len(), self.docs.len()] {
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
        self.keys
            .iter()
            .for_each(|k| out.extend_from_slice(&k.to_le_bytes()));
        self.lens
            .iter()
            .for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
        for (t, (a, b)) in terms {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(&(*a as u64).to_le_bytes());
            out.extend_from_slice(&(*b as u64).to_le_bytes());
        }
        self.docs
            .iter()
            .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
        self.tfs
            .iter()
            .for_each(|f| out.extend_from_slice(&f.to_le_bytes()));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Postings, IndexError> {
        let mut r = Reader::new(bytes, "bm25 index file");
        if r.take(8)? != MAGIC {
            return Err(r.corrupt("not a bm25 index file"));
        }
        let counts = r.u64s(3)?;
        let (n_docs, n_terms, n_postings) =
            (counts[0] as usize, counts[1] as usize, counts[2] as usize);
        if n_docs > r.left() || n_terms > r.left() || n_postings > r.left() {
            return Err(r.corrupt("sizes beyond the file"));
        }
        let keys = r.u64s(n_docs)?;
        let lens = r.u32s(n_docs)?;
        let mut terms = HashMap::with_capacity(n_terms);
        for _ in 0..n_terms {
            let n = r.u32s(1)?[0] as usize;
            let t = std::str::from_utf8(r.take(n)?)
                .map_err(|_| r.corrupt("a term is not UTF-8"))?
                .to_string();
            let range = r.u64s(2)?;
            let (a, b) = (range[0] as usize, range[1] as usize);
            if a > b || b > n_postings {
                return Err(r.corrupt("a posting range is out of bounds"));
            }
            terms.insert(t, (a, b));
        }
        let docs = r.u32s(n_postings)?;
        let tfs = r.u32s(n_postings)?;
        if r.left() != 0 || docs.iter().any(|d| *d as usize >= n_docs) {
            return Err(r.corrupt("damaged"));
        }
        Ok(Postings {
            keys,
            lens,
            terms,
            docs,
            tfs,
            norms: NormCache::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, StringArray};
    use std::sync::Arc;

    const DOCS: [&str; 6] = [
        "The cat sat on the mat",
        "a dog and a cat",
        "",
        "dogs are not cats",
        "cat cat cat, said the cat",
        "nothing here",
    ];

    #[test]
    fn indexed_scores_and_statistics_are_the_scan_s() {
        let p = Postings::build(DOCS.iter().enumerate().map(|(i, t)| (i as u64 * 10, *t)));
        let live = |k: u64| k != 30;
        let mut from_index = CorpusStats::default();
        p.add_stats(&mut from_index, live);
        let kept: Vec<&str> = DOCS
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, t)| *t)
            .collect();
        let mut scanned = CorpusStats::default();
        scanned
            .add(&(Arc::new(StringArray::from(kept.clone())) as ArrayRef))
            .unwrap();
        assert_eq!(
            (from_index.docs, from_index.total_len, &from_index.df),
            (scanned.docs, scanned.total_len, &scanned.df)
        );

        let q = Bm25Query::new("cat the dogs", &scanned);
        let got = p.search(&q, 3, live);
        let mut want: Vec<(f32, u64)> = DOCS
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(i, t)| (q.score(t), i as u64 * 10))
            .filter(|(s, _)| *s > 0.0)
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0));
        want.truncate(3);
        assert_eq!(got, want);
        // The per-thread accumulators are left clean for the next search.
        assert_eq!(p.search(&q, 3, live), want);
        assert_eq!(Postings::from_bytes(&p.to_bytes()).unwrap(), p);
        let bytes = p.to_bytes();
        assert!(Postings::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
