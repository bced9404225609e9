//! Okapi BM25: the tokenizer, corpus statistics and per-document scores
//! that every BM25 path shares, so an index and a scan score alike.
//!
//! Scores follow the Lucene variant (as `bm25s` with `method="lucene"`):
//! `idf = ln(1 + (N - df + 0.5) / (df + 0.5))` and
//! `tf / (tf + k1 * (1 - b + b * dl / avgdl))`, with k1 = 1.2, b = 0.75, so
//! every score is >= 0. Corpus statistics (N, average length, document
//! frequencies) come from the whole table as committed, not from the rows a
//! WHERE clause keeps. NULL texts are not documents.
//!
//! Tokenizer: Unicode-lowercase, then maximal runs of alphanumeric
//! characters or `_` (Python's `re.findall(r"\w+", text.lower())` on the
//! same text). No stemming, no stop words.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::ArrayRef;
use arrow_schema::{ArrowError, DataType};

pub const K1: f64 = 1.2;
pub const B: f64 = 0.75;

fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Calls `f` with each token of `text`, reusing one buffer.
pub fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut buf = String::new();
    for c in text.chars() {
        if c.is_ascii() {
            // The common case, without the general lowercase mapping.
            if c.is_ascii_alphanumeric() || c == '_' {
                buf.push(c.to_ascii_lowercase());
                continue;
            }
        } else if is_token_char(c) {
            buf.extend(c.to_lowercase());
            continue;
        }
        if !buf.is_empty() {
            f(&buf);
            buf.clear();
        }
    }
    if !buf.is_empty() {
        f(&buf);
    }
}

/// The tokens of `text`, in order.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |t| out.push(t.to_string()));
    out
}

/// Statistics of one text column of one table version.
#[derive(Debug, Default)]
pub struct CorpusStats {
    pub docs: u64,
    pub total_len: u64,
    pub df: HashMap<String, u32>,
}

impl CorpusStats {
    /// Adds every non-null text of `column` (any string array).
    pub fn add(&mut self, column: &ArrayRef) -> Result<(), ArrowError> {
        let col = arrow_cast::cast(column, &DataType::Utf8)?;
        let mut seen: Vec<String> = Vec::new();
        for text in col.as_string::<i32>().iter().flatten() {
            self.docs += 1;
            seen.clear();
            for_each_token(text, |t| {
                self.total_len += 1;
                if !seen.iter().any(|s| s == t) {
                    seen.push(t.to_string());
                }
            });
            for t in seen.drain(..) {
                *self.df.entry(t).or_insert(0) += 1;
            }
        }
        Ok(())
    }

    pub fn avg_len(&self) -> f64 {
        if self.docs == 0 {
            0.0
        } else {
            self.total_len as f64 / self.docs as f64
        }
    }

    pub fn idf(&self, term: &str) -> f64 {
        let n = self.docs as f64;
        let df = f64::from(self.df.get(term).copied().unwrap_or(0));
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}

/// A query prepared against corpus statistics: its terms' idf and the
/// length normalization.
#[derive(Debug, Clone, PartialEq)]
pub struct Bm25Query {
    /// Distinct query terms with their idf and how often the query repeats them.
    terms: Vec<(String, f64, f64)>,
    avg_len: f64,
}

impl Bm25Query {
    pub fn new(query: &str, stats: &CorpusStats) -> Bm25Query {
        let mut terms: Vec<(String, f64, f64)> = Vec::new();
        for_each_token(query, |t| match terms.iter_mut().find(|(s, _, _)| s == t) {
            Some(e) => e.2 += 1.0,
            None => terms.push((t.to_string(), stats.idf(t), 1.0)),
        });
        // A term no document has cannot score.
        terms.retain(|(t, _, _)| stats.df.contains_key(t));
        Bm25Query {
            terms,
            avg_len: stats.avg_len(),
        }
    }

    /// The query's distinct terms that some document has, in the order
    /// [`Bm25Query::term_score`] takes them.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|(t, _, _)| t.as_str())
    }

    /// The length normalization of a document of `len` tokens; it
    /// depends on the corpus only through the average length, so an index
    /// computes it once per document, not once per posting.
    pub fn length_norm(&self, len: u64) -> f64 {
        K1 * (1.0 - B + B * len as f64 / self.avg_len.max(f64::MIN_POSITIVE))
    }

    pub fn avg_len(&self) -> f64 {
        self.avg_len
    }

    /// What term `i` adds to the score of a document that holds it `tf`
    /// times, with the document's [`Bm25Query::length_norm`]. A document's
    /// score is the sum over its terms in term order, which is how
    /// [`Bm25Query::score`] adds them too, so an index summing these gets
    /// exactly the scan's scores.
    pub fn term_score(&self, i: usize, tf: u32, norm: f64) -> f64 {
        let (_, idf, times) = &self.terms[i];
        let f = f64::from(tf);
        times * idf * f / (f + norm)
    }

    /// The BM25 score of one document.
    pub fn score(&self, text: &str) -> f32 {
        if self.terms.is_empty() {
            return 0.0;
        }
        let mut tf = [0u32; 32];
        let mut tf_more: Vec<u32> = Vec::new();
        if self.terms.len() > tf.len() {
            tf_more = vec![0; self.terms.len()];
        }
        let mut len = 0u64;
        for_each_token(text, |t| {
            len += 1;
            if let Some(i) = self.terms.iter().position(|(s, _, _)| s == t) {
                if tf_more.is_empty() {
                    tf[i] += 1;
                } else {
                    tf_more[i] += 1;
                }
            }
        });
        let tfs: &[u32] = if tf_more.is_empty() { &tf } else { &tf_more };
        let mut score = 0.0;
        let norm = self.length_norm(len);
        for (i, &f) in tfs.iter().take(self.terms.len()).enumerate() {
            if f > 0 {
                score += self.term_score(i, f, norm);
            }
        }
        score as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;
    use std::sync::Arc;

    #[test]
    fn tokenizer_lowercases_and_splits_on_non_word_characters() {
        assert_eq!(
            tokenize("Hello, WORLD! snake_case x2 Über-café"),
            ["hello", "world", "snake_case", "x2", "über", "café"]
        );
        assert!(tokenize(" ,.; ").is_empty());
    }

    #[test]
    fn scores_follow_the_formula() {
        let docs: ArrayRef = Arc::new(StringArray::from(vec![
            Some("the cat sat"),
            Some("the dog"),
            None,
            Some("cat cat cat"),
        ]));
        let mut s = CorpusStats::default();
        s.add(&docs).unwrap();
        assert_eq!((s.docs, s.total_len), (3, 8));
        let q = Bm25Query::new("Cat unknownword", &s);
        let idf = (1.0f64 + (3.0 - 2.0 + 0.5) / (2.0 + 0.5)).ln();
        let avg = 8.0 / 3.0;
        let want = |tf: f64, dl: f64| idf * tf / (tf + K1 * (1.0 - B + B * dl / avg));
        assert!((f64::from(q.score("the cat sat")) - want(1.0, 3.0)).abs() < 1e-6);
        assert!((f64::from(q.score("cat cat cat")) - want(3.0, 3.0)).abs() < 1e-6);
        assert_eq!(q.score("the dog"), 0.0);
    }
}
