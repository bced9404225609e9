//! Text chunking with the reference's rules, counted in characters (not
//! bytes), so any UTF-8 text is cut on character boundaries.
//!
//! A text no longer than `size` is one chunk (none if blank). Otherwise each
//! cut prefers, in order, the last `". "`, `"? "`, `"! "`, `"\n\n"`, `"\n"`
//! found between `start + size - 100` and `end + 50`, cutting after the
//! separator; chunks are stripped, and the next chunk starts `overlap`
//! characters before the cut, always moving forward.

use crate::error::{IngestError, Result};

const SEPARATORS: [&str; 5] = [". ", "? ", "! ", "\n\n", "\n"];
/// How far before the nominal end a separator may be taken.
const LOOK_BEHIND: usize = 100;
/// How far past the nominal end a separator may be taken.
const LOOK_AHEAD: usize = 50;

/// Chunk size and overlap in characters, checked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    pub size: usize,
    pub overlap: usize,
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            size: 1000,
            overlap: 200,
        }
    }
}

impl Chunking {
    pub fn new(size: i64, overlap: i64) -> Result<Chunking> {
        if size <= 0 {
            return Err(IngestError::Invalid(format!(
                "chunk_size must be positive, got {size}."
            )));
        }
        if overlap < 0 {
            return Err(IngestError::Invalid(format!(
                "chunk_overlap must not be negative, got {overlap}."
            )));
        }
        Ok(Chunking {
            size: size as usize,
            overlap: overlap as usize,
        })
    }

    pub fn split(&self, text: &str) -> Vec<String> {
        // Character positions become byte offsets by walking forward from
        // the current chunk's start, so the cost per chunk is its own
        // length and no table of offsets is built; ASCII needs no walk.
        let ascii = text.is_ascii();
        let advance = |from: usize, k: usize| -> usize {
            if ascii {
                (from + k).min(text.len())
            } else {
                text[from..]
                    .char_indices()
                    .nth(k)
                    .map_or(text.len(), |(i, _)| from + i)
            }
        };
        let n = if ascii {
            text.len()
        } else {
            text.chars().count()
        };
        if n <= self.size {
            let t = text.trim();
            return if t.is_empty() {
                vec![]
            } else {
                vec![t.to_string()]
            };
        }
        let mut chunks = vec![];
        // The chunk's start as a character index and as a byte offset.
        let (mut start, mut start_b) = (0, 0);
        loop {
            let mut end = (start + self.size).min(n);
            let mut end_b = advance(start_b, end - start);
            if end < n {
                let lo = (start + self.size).saturating_sub(LOOK_BEHIND).max(start);
                let lo_b = advance(start_b, lo - start);
                let hi_b = advance(end_b, (end + LOOK_AHEAD).min(n) - end);
                let window = &text[lo_b..hi_b];
                // A separator right at the chunk's start would make an
                // empty chunk: the next kind of separator is tried instead.
                if let Some(cut) = SEPARATORS.iter().find_map(|sep| {
                    let at = lo_b + window.rfind(sep)?;
                    (at > start_b).then_some(at + sep.len())
                }) {
                    end = if ascii {
                        cut
                    } else {
                        start + text[start_b..cut].chars().count()
                    };
                    end_b = cut;
                }
            }
            let chunk = text[start_b..end_b].trim();
            if !chunk.is_empty() {
                chunks.push(chunk.to_string());
            }
            if end >= n {
                break;
            }
            let next = end.saturating_sub(self.overlap);
            (start, start_b) = if next > start {
                (next, advance(start_b, next - start))
            } else {
                (end, end_b)
            };
        }
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, size: usize, overlap: usize) -> Vec<String> {
        Chunking { size, overlap }.split(text)
    }

    #[test]
    fn short_and_blank_texts() {
        assert_eq!(split("  hello  ", 10, 2), vec!["hello"]);
        assert!(split(" \n\t ", 10, 2).is_empty());
        assert!(split("", 10, 2).is_empty());
    }

    #[test]
    fn no_separator_cuts_at_size_with_overlap() {
        let text = "a".repeat(250);
        let chunks = split(&text, 100, 20);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![100, 100, 90]
        );
    }

    #[test]
    fn prefers_sentence_end_over_newline() {
        // A sentence end at 140 and a newline at 160; size 150: the window
        // is [50, 200), the ". " wins even though the newline is later.
        let mut text = "x".repeat(139);
        text.push_str(". ");
        text.push_str(&"y".repeat(19));
        text.push('\n');
        text.push_str(&"z".repeat(100));
        let chunks = split(&text, 150, 0);
        assert_eq!(chunks[0], format!("{}.", "x".repeat(139)));
        assert!(chunks[1].starts_with('y'));
    }

    #[test]
    fn a_separator_at_the_start_does_not_cut() {
        // The only "\n" is the chunk's first character: no cut there, the
        // chunk runs to the nominal size (79 letters once stripped).
        let text = format!("\n{}", "a".repeat(150));
        let lens: Vec<usize> = split(&text, 80, 0).iter().map(|c| c.len()).collect();
        assert_eq!(lens, vec![79, 71]);
    }

    #[test]
    fn multibyte_characters_are_counted_as_characters() {
        let text = "é😀ж".repeat(100); // 300 characters, 900+ bytes
        let chunks = split(&text, 100, 10);
        assert!(chunks.iter().all(|c| c.chars().count() <= 100));
        assert_eq!(chunks[0].chars().count(), 100);
        let joined: usize = chunks.iter().map(|c| c.chars().count()).sum();
        assert_eq!(joined, 300 + 10 * (chunks.len() - 1));
    }

    #[test]
    fn overlap_not_smaller_than_size_still_moves_forward() {
        let text = "b".repeat(1000);
        for overlap in [100, 150, 5000] {
            let chunks = split(&text, 100, overlap);
            assert_eq!(chunks.len(), 10, "overlap {overlap}");
        }
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(Chunking::new(0, 0).is_err());
        assert!(Chunking::new(10, -1).is_err());
        assert_eq!(Chunking::new(10, 20).map(|c| c.overlap).ok(), Some(20));
    }
}
