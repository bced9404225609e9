//! The `inverted_index` on text and JSON columns: for every three-byte
//! sequence (trigram) of the texts, the documents holding it.
//!
//! A text containing `kw` contains every trigram of `kw`, so the documents
//! in all of `kw`'s lists are a superset of the matches of `col @> 'kw'`,
//! `contains(col, 'kw')` or `col = 'kw'`, at any position and for any
//! bytes: the caller applies the predicate exactly to them, which keeps
//! the index exact where a word index would miss substrings. Needles
//! shorter than three bytes have no trigram: such a lookup is refused and
//! the query scans.

use std::collections::HashMap;

use crate::file::Reader;
use crate::IndexError;

const MAGIC: &[u8; 8] = b"DLGRAM01";

fn gram(b: &[u8]) -> u32 {
    (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grams {
    keys: Vec<u64>,
    /// Trigram → its range in `docs`.
    lists: HashMap<u32, (usize, usize)>,
    /// Document numbers (into `keys`), ascending within a trigram.
    docs: Vec<u32>,
    /// Keys of the NULL rows.
    nulls: Vec<u64>,
}

impl Grams {
    /// Indexes `texts` (None: NULL) under their keys.
    pub fn build<'a>(items: impl IntoIterator<Item = (u64, Option<&'a str>)>) -> Grams {
        let mut keys = Vec::new();
        let mut nulls = Vec::new();
        let mut lists: HashMap<u32, Vec<u32>> = HashMap::new();
        for (key, text) in items {
            let Some(text) = text else {
                nulls.push(key);
                continue;
            };
            let doc = keys.len() as u32;
            keys.push(key);
            for w in text.as_bytes().windows(3) {
                let list = lists.entry(gram(w)).or_default();
                // Documents arrive in order: a repeat is the list's last.
                if list.last() != Some(&doc) {
                    list.push(doc);
                }
            }
        }
        let mut grams: Vec<(u32, Vec<u32>)> = lists.into_iter().collect();
        grams.sort_unstable_by_key(|(g, _)| *g);
        let mut docs = Vec::new();
        let mut ranges = HashMap::with_capacity(grams.len());
        for (g, list) in grams {
            ranges.insert(g, (docs.len(), docs.len() + list.len()));
            docs.extend(list);
        }
        Grams {
            keys,
            lists: ranges,
            docs,
            nulls,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn size_bytes(&self) -> usize {
        (self.keys.len() + self.nulls.len()) * 8 + self.docs.len() * 4 + self.lists.len() * 24
    }

    pub fn nulls(&self) -> &[u64] {
        &self.nulls
    }

    /// The keys of the texts that may contain `needle`; None when it is
    /// too short to narrow anything.
    pub fn containing(&self, needle: &str) -> Option<Vec<u64>> {
        let bytes = needle.as_bytes();
        if bytes.len() < 3 {
            return None;
        }
        let mut lists: Vec<&[u32]> = Vec::new();
        for w in bytes.windows(3) {
            match self.lists.get(&gram(w)) {
                Some(&(a, b)) => lists.push(&self.docs[a..b]),
                None => return Some(vec![]),
            }
        }
        // Shortest first: each step keeps only what the next list has.
        lists.sort_unstable_by_key(|l| l.len());
        let mut docs: Vec<u32> = lists[0].to_vec();
        for list in &lists[1..] {
            let mut at = 0;
            docs.retain(|d| {
                at += list[at..].partition_point(|x| x < d);
                list.get(at) == Some(d)
            });
            if docs.is_empty() {
                break;
            }
        }
        Some(docs.into_iter().map(|d| self.keys[d as usize]).collect())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let mut grams: Vec<(&u32, &(usize, usize))> = self.lists.iter().collect();
        grams.sort_unstable_by_key(|(_, r)| r.0);
        for n in [
            self.keys.len(),
            self.nulls.len(),
            grams.len(),
            self.docs.len(),
        ] {
            out.extend((n as u64).to_le_bytes());
        }
        self.keys.iter().for_each(|k| out.extend(k.to_le_bytes()));
        self.nulls.iter().for_each(|k| out.extend(k.to_le_bytes()));
        for (g, (a, b)) in grams {
            out.extend(g.to_le_bytes());
            out.extend(((b - a) as u32).to_le_bytes());
        }
        self.docs.iter().for_each(|d| out.extend(d.to_le_bytes()));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Grams, IndexError> {
        let mut r = Reader::new(bytes, "trigram index");
        if r.take(8)? != MAGIC {
            return Err(r.corrupt("not a trigram index file"));
        }
        let counts = r.u64s(4)?;
        let [keys, nulls, grams, docs] = [counts[0], counts[1], counts[2], counts[3]];
        let need = keys
            .checked_add(nulls)
            .and_then(|n| n.checked_mul(8))
            .and_then(|n| n.checked_add(grams.checked_mul(8)?))
            .and_then(|n| n.checked_add(docs.checked_mul(4)?));
        if need != Some(r.left() as u64) {
            return Err(r.corrupt("sizes do not match the file"));
        }
        let keys = r.u64s(keys as usize)?;
        let nulls = r.u64s(nulls as usize)?;
        let table = r.u32s(grams as usize * 2)?;
        let docs = r.u32s(docs as usize)?;
        let mut lists = HashMap::with_capacity(table.len() / 2);
        let mut at = 0usize;
        for pair in table.chunks_exact(2) {
            let end = at + pair[1] as usize;
            if end > docs.len() {
                return Err(r.corrupt("a list runs past the documents"));
            }
            lists.insert(pair[0], (at, end));
            at = end;
        }
        if at != docs.len() || docs.iter().any(|&d| d as usize >= keys.len()) {
            return Err(r.corrupt("documents out of range"));
        }
        Ok(Grams {
            keys,
            lists,
            docs,
            nulls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_are_found_and_the_file_reads_back() {
        let texts = [
            Some("concatenate the strings"),
            Some("a cat sat"),
            None,
            Some("dogs only"),
        ];
        let g = Grams::build(texts.iter().enumerate().map(|(i, t)| (i as u64 * 10, *t)));
        assert_eq!(g.containing("cat"), Some(vec![0, 10]));
        assert_eq!(g.containing("catenate"), Some(vec![0]));
        assert_eq!(g.containing("zebra"), Some(vec![]));
        assert_eq!(g.containing("ca"), None);
        assert_eq!(g.nulls(), &[20]);
        let back = Grams::from_bytes(&g.to_bytes()).unwrap();
        assert_eq!(back, g);
        let mut bad = g.to_bytes();
        bad.truncate(bad.len() - 3);
        assert!(matches!(
            Grams::from_bytes(&bad),
            Err(IndexError::Corrupt(_))
        ));
    }
}
