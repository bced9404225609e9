//! The sorted-values index behind `exact_text`, `unique` and the numeric
//! `inverted_index`: every non-NULL value of a segment's rows in order,
//! with its row's key, so `=`, `IN` and ranges are binary searches.
//!
//! Lookups return a superset of the matching rows, never fewer: the
//! caller still applies the statement's WHERE exactly to what comes back.
//! That is what lets numbers of every width share one order (as `f64`,
//! a monotone map: rounding may merge neighbours, never reorder them) and
//! every bound be taken inclusively.

use std::cmp::Ordering;
use std::ops::Bound;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use crate::file::Reader;
use crate::IndexError;

const MAGIC: &[u8; 8] = b"DLVAL001";

/// A literal a predicate compares a column with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Text(String),
}

/// What a WHERE asks of one indexed column.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueQuery {
    /// `= v` or `IN (v, ...)`.
    AnyOf(Vec<Literal>),
    /// `<`, `<=`, `>`, `>=`, `BETWEEN`.
    Range(Bound<Literal>, Bound<Literal>),
    /// `@> 'kw'`, `contains(col, 'kw')`: the text holds `kw`.
    Contains(String),
    IsNull,
}

/// The values, one flavour per segment.
#[derive(Debug, Clone, PartialEq)]
enum Sorted {
    Numbers(Vec<f64>),
    Texts(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    sorted: Sorted,
    /// The key of each value's row, in value order.
    keys: Vec<u64>,
    /// Keys of the rows whose value is NULL.
    nulls: Vec<u64>,
}

/// Whether a column of `data_type` is indexed as text (else as numbers).
pub fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)
    )
}

fn order(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}

/// Sorts `items` by value (then key) into the values and their keys.
fn split<T>(mut items: Vec<(T, u64)>, cmp: impl Fn(&T, &T) -> Ordering) -> (Vec<T>, Vec<u64>) {
    items.sort_unstable_by(|a, b| cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
    items.into_iter().unzip()
}

/// Builds the index of one column's values. `keys[i]` names `column[i]`'s row.
pub fn build(column: &ArrayRef, keys: &[u64]) -> Result<Values, IndexError> {
    let mut nulls = Vec::new();
    let (sorted, keys) = match is_text(column.data_type()) {
        true => {
            let col = arrow_cast::cast(column, &DataType::Utf8)?;
            let mut items = Vec::with_capacity(col.len());
            for (v, &k) in col.as_string::<i32>().iter().zip(keys) {
                match v {
                    Some(v) => items.push((v.to_string(), k)),
                    None => nulls.push(k),
                }
            }
            let (texts, keys) = split(items, |a: &String, b| a.as_bytes().cmp(b.as_bytes()));
            (Sorted::Texts(texts), keys)
        }
        false => {
            let col = arrow_cast::cast(column, &DataType::Float64).map_err(|_| {
                IndexError::BadInput(format!(
                    "values of type {} cannot be indexed by value",
                    column.data_type()
                ))
            })?;
            let mut items = Vec::with_capacity(col.len());
            for (v, &k) in col.as_primitive::<Float64Type>().iter().zip(keys) {
                match v {
                    Some(v) => items.push((v, k)),
                    None => nulls.push(k),
                }
            }
            let (numbers, keys) = split(items, order);
            (Sorted::Numbers(numbers), keys)
        }
    };
    Ok(Values {
        sorted,
        keys,
        nulls,
    })
}

/// The range of sorted `values` within the bounds (both inclusive, the
/// superset every lookup may return).
fn span<T>(
    values: &[T],
    lo: Bound<&T>,
    hi: Bound<&T>,
    cmp: impl Fn(&T, &T) -> Ordering,
) -> (usize, usize) {
    let start = match lo {
        Bound::Unbounded => 0,
        Bound::Included(v) | Bound::Excluded(v) => {
            values.partition_point(|x| cmp(x, v) == Ordering::Less)
        }
    };
    let end = match hi {
        Bound::Unbounded => values.len(),
        Bound::Included(v) | Bound::Excluded(v) => {
            values.partition_point(|x| cmp(x, v) != Ordering::Greater)
        }
    };
    (start, end.max(start))
}

fn number(l: &Literal) -> Option<f64> {
    match l {
        Literal::Number(n) => Some(*n),
        Literal::Text(t) => t.trim().parse().ok(),
    }
}

fn text(l: &Literal) -> Option<String> {
    match l {
        Literal::Text(t) => Some(t.clone()),
        Literal::Number(_) => None,
    }
}

fn bound<T>(b: &Bound<Literal>, conv: impl Fn(&Literal) -> Option<T>) -> Option<Bound<T>> {
    Some(match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(l) | Bound::Excluded(l) => Bound::Included(conv(l)?),
    })
}

impl Values {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn size_bytes(&self) -> usize {
        let values = match &self.sorted {
            Sorted::Numbers(n) => n.len() * 8,
            Sorted::Texts(t) => t.iter().map(|s| s.len() + 24).sum(),
        };
        values + (self.keys.len() + self.nulls.len()) * 8
    }

    /// The keys of the rows whose value may satisfy `query`; None when
    /// this index cannot answer it (a text literal against numbers, a
    /// substring search).
    pub fn lookup(&self, query: &ValueQuery) -> Option<Vec<u64>> {
        let ranges: Vec<(usize, usize)> = match (query, &self.sorted) {
            (ValueQuery::IsNull, _) => return Some(self.nulls.clone()),
            (ValueQuery::Contains(_), _) => return None,
            (ValueQuery::AnyOf(list), Sorted::Numbers(n)) => list
                .iter()
                .map(|l| {
                    number(l).map(|v| span(n, Bound::Included(&v), Bound::Included(&v), order))
                })
                .collect::<Option<_>>()?,
            (ValueQuery::AnyOf(list), Sorted::Texts(t)) => list
                .iter()
                .map(|l| {
                    text(l).map(|v| {
                        span(t, Bound::Included(&v), Bound::Included(&v), |a, b| {
                            a.as_bytes().cmp(b.as_bytes())
                        })
                    })
                })
                .collect::<Option<_>>()?,
            (ValueQuery::Range(lo, hi), Sorted::Numbers(n)) => {
                let (lo, hi) = (bound(lo, number)?, bound(hi, number)?);
                vec![span(n, lo.as_ref(), hi.as_ref(), order)]
            }
            (ValueQuery::Range(lo, hi), Sorted::Texts(t)) => {
                let (lo, hi) = (bound(lo, text)?, bound(hi, text)?);
                vec![span(t, lo.as_ref(), hi.as_ref(), |a, b| {
                    a.as_bytes().cmp(b.as_bytes())
                })]
            }
        };
        Some(
            ranges
                .into_iter()
                .flat_map(|(a, b)| self.keys[a..b].iter().copied())
                .collect(),
        )
    }

    /// Values held more than once, with the keys of their rows (for the
    /// `unique` check), at most `limit` of them.
    pub fn repeats(&self, limit: usize) -> Vec<(Literal, Vec<u64>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < self.keys.len() && out.len() < limit {
            let same = |i: usize| match &self.sorted {
                Sorted::Numbers(n) => order(&n[i], &n[at]) == Ordering::Equal,
                Sorted::Texts(t) => t[i] == t[at],
            };
            let mut end = at + 1;
            while end < self.keys.len() && same(end) {
                end += 1;
            }
            if end - at > 1 {
                out.push((self.literal(at), self.keys[at..end].to_vec()));
            }
            at = end;
        }
        out
    }

    /// The value at sorted position `i`, as a literal.
    fn literal(&self, i: usize) -> Literal {
        match &self.sorted {
            Sorted::Numbers(n) => Literal::Number(n[i]),
            Sorted::Texts(t) => Literal::Text(t[i].clone()),
        }
    }

    /// Every value, in order.
    pub fn literals(&self) -> impl Iterator<Item = Literal> + '_ {
        (0..self.keys.len()).map(|i| self.literal(i))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let n = self.keys.len() as u64;
        match &self.sorted {
            Sorted::Numbers(v) => {
                out.push(0);
                out.extend(n.to_le_bytes());
                v.iter().for_each(|x| out.extend(x.to_le_bytes()));
            }
            Sorted::Texts(v) => {
                out.push(1);
                out.extend(n.to_le_bytes());
                let mut end = 0u64;
                for t in v {
                    end += t.len() as u64;
                    out.extend(end.to_le_bytes());
                }
                v.iter().for_each(|t| out.extend(t.as_bytes()));
            }
        }
        self.keys.iter().for_each(|k| out.extend(k.to_le_bytes()));
        out.extend((self.nulls.len() as u64).to_le_bytes());
        self.nulls.iter().for_each(|k| out.extend(k.to_le_bytes()));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Values, IndexError> {
        let mut r = Reader::new(bytes, "value index");
        if r.take(8)? != MAGIC {
            return Err(r.corrupt("not a value index file"));
        }
        let flavour = r.take(1)?[0];
        let n = r.u64()? as usize;
        // Every entry needs at least 16 bytes: refuse a count the file cannot hold.
        if n > r.left() / 16 {
            return Err(r.corrupt("entry count past the file's end"));
        }
        let sorted = match flavour {
            0 => Sorted::Numbers(r.u64s(n)?.into_iter().map(f64::from_bits).collect()),
            1 => {
                let ends = r.u64s(n)?;
                let total = ends.last().copied().unwrap_or(0) as usize;
                let body = r.take(total)?;
                let mut texts = Vec::with_capacity(n);
                let mut start = 0usize;
                for end in ends {
                    let end = end as usize;
                    let piece = body
                        .get(start..end)
                        .ok_or_else(|| r.corrupt("text offsets out of order"))?;
                    let s =
                        std::str::from_utf8(piece).map_err(|_| r.corrupt("text is not UTF-8"))?;
                    texts.push(s.to_string());
                    start = end;
                }
                Sorted::Texts(texts)
            }
            _ => return Err(r.corrupt("unknown value kind")),
        };
        let keys = r.u64s(n)?;
        let nulls = r.u64()? as usize;
        if nulls > r.left() / 8 {
            return Err(r.corrupt("null count past the file's end"));
        }
        let nulls = r.u64s(nulls)?;
        if r.left() != 0 {
            return Err(r.corrupt("trailing bytes"));
        }
        Ok(Values {
            sorted,
            keys,
            nulls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn lookups_return_every_match_and_the_file_reads_back() {
        let col: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(5),
            None,
            Some(1),
            Some(5),
            Some(9),
        ]));
        let v = build(&col, &[10, 11, 12, 13, 14]).unwrap();
        let n = |x: f64| Literal::Number(x);
        assert_eq!(
            v.lookup(&ValueQuery::AnyOf(vec![n(5.0), n(9.0)])),
            Some(vec![10, 13, 14])
        );
        assert_eq!(
            v.lookup(&ValueQuery::AnyOf(vec![Literal::Text("1".into())])),
            Some(vec![12])
        );
        assert_eq!(
            v.lookup(&ValueQuery::Range(
                Bound::Excluded(n(1.0)),
                Bound::Unbounded
            )),
            Some(vec![12, 10, 13, 14])
        );
        assert_eq!(v.lookup(&ValueQuery::IsNull), Some(vec![11]));
        assert_eq!(v.lookup(&ValueQuery::Contains("5".into())), None);
        assert_eq!(v.repeats(10), vec![(n(5.0), vec![10, 13])]);
        assert_eq!(Values::from_bytes(&v.to_bytes()).unwrap(), v);

        let col: ArrayRef = Arc::new(StringArray::from(vec!["pear", "apple", "fig"]));
        let t = build(&col, &[0, 1, 2]).unwrap();
        let s = |x: &str| Literal::Text(x.into());
        assert_eq!(t.lookup(&ValueQuery::AnyOf(vec![s("fig")])), Some(vec![2]));
        assert_eq!(
            t.lookup(&ValueQuery::Range(
                Bound::Included(s("b")),
                Bound::Included(s("g"))
            )),
            Some(vec![2])
        );
        assert_eq!(t.lookup(&ValueQuery::AnyOf(vec![n(1.0)])), None);
        assert!(t.repeats(10).is_empty());
        let bytes = t.to_bytes();
        assert_eq!(Values::from_bytes(&bytes).unwrap(), t);
        assert!(matches!(
            Values::from_bytes(&bytes[..bytes.len() - 1]),
            Err(IndexError::Corrupt(_))
        ));
    }
}
