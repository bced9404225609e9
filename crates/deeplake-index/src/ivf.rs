//! The `clustered` vector index: an inverted file (IVF) over unit vectors.
//!
//! Build: spherical k-means on a sample picks `partitions` centroids; every
//! vector goes to the partition of its nearest centroid, and each
//! partition keeps its vectors contiguous (normalized, so a score is one
//! dot product) with the caller's key for each. Search: the query scores
//! the centroids, the best `nprobe` partitions are scanned with the SIMD
//! dot kernel, and a top-k heap keeps the best keys. A caller's `accept`
//! decides which keys count (deleted rows, a WHERE clause's rows); with a
//! filter, probing goes on past `nprobe` until k accepted keys are found,
//! so a selective filter never starves the result.
//!
//! Scores are cosines computed from stored unit vectors: equal to the
//! exact path's up to float rounding, which is why the SQL layer re-scores
//! the candidates it gets from here with the exact kernel.
//!
//! The `clustered_quantized` form keeps a byte per component instead of
//! the vectors (a scalar quantizer: each dimension's range over the
//! indexed vectors in 127 steps), and scores with the query quantized to
//! bytes too, in integer arithmetic: a probe reads a quarter of the bytes
//! and does 32 products per instruction. Its scores are approximate, so
//! the caller asks for more candidates than it returns and the exact
//! re-score decides the order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::file::Reader;
use crate::kernel::{dots, dots_codes, norm};
use crate::IndexError;

/// Lloyd iterations of the k-means.
const ITERATIONS: usize = 10;
/// Training points per centroid at most; fewer points train faster and
/// place centroids nearly as well.
const SAMPLE_PER_PARTITION: usize = 64;
/// File magic and version of the serialized index, full vectors.
const MAGIC: &[u8; 8] = b"DLIVF001";
/// The same with 8-bit codes.
const MAGIC_CODES: &[u8; 8] = b"DLIVFQ01";
/// Steps of the scalar quantizer: 7-bit codes, so the integer kernel's
/// paired products fit 16 bits.
const LEVELS: f32 = 127.0;

/// How an index keeps its vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// f32 unit vectors: scores are the exact cosines.
    Full,
    /// Byte codes: a quarter of the bytes, approximate scores.
    Codes,
}

/// How to build an IVF index.
#[derive(Debug, Clone, Copy)]
pub struct IvfParams {
    /// Partitions (centroids); None: about the square root of the row count.
    pub partitions: Option<usize>,
    /// Seed of the sampling and initialization, so builds repeat.
    pub seed: u64,
    /// Threads for training and assignment.
    pub threads: usize,
    pub encoding: Encoding,
}

impl Default for IvfParams {
    fn default() -> Self {
        IvfParams {
            partitions: None,
            seed: 0x5eed,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            encoding: Encoding::Full,
        }
    }
}

/// The default partition count for `rows` vectors.
pub fn default_partitions(rows: usize) -> usize {
    ((rows as f64).sqrt().round() as usize).clamp(1, rows.max(1))
}

/// An IVF index held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Ivf {
    dim: usize,
    /// `partitions * dim` unit centroids.
    centroids: Vec<f32>,
    /// Partition `p` holds entries `offsets[p]..offsets[p + 1]`.
    offsets: Vec<usize>,
    keys: Vec<u64>,
    /// One vector per key, in entry order.
    vectors: Stored,
}

#[derive(Debug, Clone, PartialEq)]
enum Stored {
    /// `keys.len() * dim` unit vectors.
    Full(Vec<f32>),
    /// `keys.len() * dim` codes; component `d` of a vector is about
    /// `min[d] + step[d] * code`.
    Codes {
        min: Vec<f32>,
        step: Vec<f32>,
        codes: Vec<u8>,
    },
}

impl Stored {
    /// Per-dimension ranges of the unit `vectors`, and their codes.
    fn quantize(vectors: &[f32], dim: usize) -> Stored {
        let mut min = vec![f32::INFINITY; dim];
        let mut max = vec![f32::NEG_INFINITY; dim];
        for v in vectors.chunks_exact(dim) {
            for d in 0..dim {
                min[d] = min[d].min(v[d]);
                max[d] = max[d].max(v[d]);
            }
        }
        if vectors.is_empty() {
            min.fill(0.0);
            max.fill(0.0);
        }
        let step: Vec<f32> = min
            .iter()
            .zip(&max)
            .map(|(a, b)| (b - a) / LEVELS)
            .collect();
        let codes = vectors
            .chunks_exact(dim)
            .flat_map(|v| {
                (0..dim).map(|d| match step[d] > 0.0 {
                    true => ((v[d] - min[d]) / step[d]).round().clamp(0.0, LEVELS) as u8,
                    false => 0,
                })
            })
            .collect();
        Stored::Codes { min, step, codes }
    }

    fn size_bytes(&self) -> usize {
        match self {
            Stored::Full(v) => v.len() * 4,
            Stored::Codes { min, step, codes } => (min.len() + step.len()) * 4 + codes.len(),
        }
    }
}

/// A query prepared for one encoding: the unit query, or (for codes) the
/// query scaled by each dimension's step and quantized to bytes, with the
/// scale that takes an integer sum back to a score and the constant the
/// dimensions' offsets add.
enum Scorer<'a> {
    Full(&'a [f32], &'a [f32]),
    Codes {
        q: Vec<i8>,
        scale: f32,
        offset: f32,
        codes: &'a [u8],
        sums: Vec<i32>,
    },
}

impl<'a> Scorer<'a> {
    fn codes(q: &[f32], min: &[f32], step: &[f32], codes: &'a [u8]) -> Scorer<'a> {
        let scaled: Vec<f32> = q.iter().zip(step).map(|(x, s)| x * s).collect();
        let top = scaled.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if top > 0.0 { top / 127.0 } else { 1.0 };
        Scorer::Codes {
            q: scaled.iter().map(|x| (x / scale).round() as i8).collect(),
            scale,
            offset: q.iter().zip(min).map(|(x, m)| x * m).sum(),
            codes,
            sums: Vec::new(),
        }
    }

    /// Scores of entries `a..b`.
    fn score(&mut self, dim: usize, a: usize, b: usize, out: &mut [f32]) {
        match self {
            Scorer::Full(q, v) => dots(q, &v[a * dim..b * dim], out),
            Scorer::Codes {
                q,
                scale,
                offset,
                codes,
                sums,
            } => {
                sums.resize(b - a, 0);
                dots_codes(q, &codes[a * dim..b * dim], sums);
                for (o, s) in out.iter_mut().zip(sums.iter()) {
                    *o = *offset + *scale * *s as f32;
                }
            }
        }
    }
}

/// SplitMix64: a small seeded generator for sampling, so that a build is
/// repeatable without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `k` distinct indices of `0..n` (k <= n), in random order.
    fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }
}

/// Index of the best-scoring centroid for each row of `points`, computed
/// on `threads` threads.
fn assign(points: &[f32], centroids: &[f32], dim: usize, threads: usize) -> Vec<u32> {
    let n = points.len() / dim;
    let mut out = vec![0u32; n];
    let chunk = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (pts, out) in points.chunks(chunk * dim).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                let mut scores = vec![0f32; centroids.len() / dim];
                for (p, o) in pts.chunks_exact(dim).zip(out.iter_mut()) {
                    dots(p, centroids, &mut scores);
                    *o = argmax(&scores) as u32;
                }
            });
        }
    });
    out
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

fn normalize_in_place(v: &mut [f32]) {
    let n = norm(v);
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Spherical k-means over the unit rows of `points`: `k` unit centroids.
fn kmeans(points: &[f32], dim: usize, k: usize, rng: &mut Rng, threads: usize) -> Vec<f32> {
    let n = points.len() / dim;
    let mut centroids = Vec::with_capacity(k * dim);
    for i in rng.sample(n, k) {
        centroids.extend_from_slice(&points[i * dim..(i + 1) * dim]);
    }
    for _ in 0..ITERATIONS {
        let owner = assign(points, &centroids, dim, threads);
        let mut sums = vec![0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (p, &c) in points.chunks_exact(dim).zip(&owner) {
            let c = c as usize;
            counts[c] += 1;
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                *s += x;
            }
        }
        for c in 0..k {
            let slot = &mut sums[c * dim..(c + 1) * dim];
            if counts[c] == 0 {
                // An empty partition restarts at a random point.
                let i = rng.below(n);
                slot.copy_from_slice(&points[i * dim..(i + 1) * dim]);
            }
            normalize_in_place(slot);
        }
        centroids = sums;
    }
    centroids
}

impl Ivf {
    /// Builds the index over `keys` and their vectors (`keys.len() * dim`
    /// floats, any length: they are normalized here).
    pub fn build(
        dim: usize,
        keys: Vec<u64>,
        vectors: Vec<f32>,
        params: IvfParams,
    ) -> Result<Ivf, IndexError> {
        Ivf::build_on(dim, keys, vectors, params, None)
    }

    /// The same, with `trained` centroids (an earlier segment's, unit, of
    /// this `dim`) instead of a k-means of its own: rows appended later
    /// join the partitions the index already has, as faiss's `add` does,
    /// which costs the assignment alone and not the training that is most
    /// of a build.
    pub fn build_on(
        dim: usize,
        keys: Vec<u64>,
        mut vectors: Vec<f32>,
        params: IvfParams,
        trained: Option<&[f32]>,
    ) -> Result<Ivf, IndexError> {
        if dim == 0 || vectors.len() != keys.len() * dim {
            return Err(IndexError::BadInput(format!(
                "{} floats for {} vectors of {dim} dimensions",
                vectors.len(),
                keys.len()
            )));
        }
        if vectors.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::BadInput(
                "vectors must hold finite numbers".into(),
            ));
        }
        for v in vectors.chunks_exact_mut(dim) {
            normalize_in_place(v);
        }
        let n = keys.len();
        let k = params
            .partitions
            .unwrap_or_else(|| default_partitions(n))
            .clamp(1, n.max(1));
        let mut rng = Rng(params.seed);
        let centroids = if let Some(c) = trained.filter(|c| !c.is_empty() && c.len() % dim == 0) {
            c.to_vec()
        } else if n == 0 {
            vec![0f32; dim]
        } else {
            let take = (k * SAMPLE_PER_PARTITION).min(n);
            let mut sample = Vec::with_capacity(take * dim);
            for i in rng.sample(n, take) {
                sample.extend_from_slice(&vectors[i * dim..(i + 1) * dim]);
            }
            kmeans(&sample, dim, k, &mut rng, params.threads)
        };
        let owner = assign(&vectors, &centroids, dim, params.threads);
        let mut ivf = Ivf::grouped(dim, centroids, &owner, &keys, &vectors);
        if params.encoding == Encoding::Codes {
            if let Stored::Full(v) = &ivf.vectors {
                ivf.vectors = Stored::quantize(v, dim);
            }
        }
        Ok(ivf)
    }

    /// Lays the entries out partition by partition (a counting sort).
    fn grouped(
        dim: usize,
        centroids: Vec<f32>,
        owner: &[u32],
        keys: &[u64],
        vectors: &[f32],
    ) -> Ivf {
        let parts = centroids.len() / dim;
        let mut offsets = vec![0usize; parts + 1];
        for &o in owner {
            offsets[o as usize + 1] += 1;
        }
        for p in 0..parts {
            offsets[p + 1] += offsets[p];
        }
        let mut next = offsets.clone();
        let mut out_keys = vec![0u64; keys.len()];
        let mut out_vectors = vec![0f32; vectors.len()];
        for (i, &o) in owner.iter().enumerate() {
            let at = next[o as usize];
            next[o as usize] += 1;
            out_keys[at] = keys[i];
            out_vectors[at * dim..(at + 1) * dim].copy_from_slice(&vectors[i * dim..(i + 1) * dim]);
        }
        Ivf {
            dim,
            centroids,
            offsets,
            keys: out_keys,
            vectors: Stored::Full(out_vectors),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn partitions(&self) -> usize {
        self.offsets.len() - 1
    }

    /// `partitions() * dim()` unit centroids.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    pub fn encoding(&self) -> Encoding {
        match self.vectors {
            Stored::Full(_) => Encoding::Full,
            Stored::Codes { .. } => Encoding::Codes,
        }
    }

    /// Bytes the index holds in memory.
    pub fn size_bytes(&self) -> usize {
        self.centroids.len() * 4
            + self.vectors.size_bytes()
            + self.keys.len() * 8
            + self.offsets.len() * 8
    }

    /// The `k` best accepted keys for `query` with their scores, best
    /// first. Scans the `nprobe` partitions nearest the query, and more
    /// while fewer than `k` accepted keys were seen.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        nprobe: usize,
        accept: impl Fn(u64) -> bool,
    ) -> Result<Vec<(f32, u64)>, IndexError> {
        if query.len() != self.dim {
            return Err(IndexError::BadInput(format!(
                "vector size mismatch: the index has {} dimensions, the query has {}",
                self.dim,
                query.len()
            )));
        }
        let q = crate::kernel::normalized(query);
        let mut order: Vec<(f32, usize)> = {
            let mut scores = vec![0f32; self.partitions()];
            dots(&q, &self.centroids, &mut scores);
            scores
                .into_iter()
                .enumerate()
                .map(|(i, s)| (s, i))
                .collect()
        };
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut scorer = match &self.vectors {
            Stored::Full(v) => Scorer::Full(&q, v),
            Stored::Codes { min, step, codes } => Scorer::codes(&q, min, step, codes),
        };
        let mut top = TopK::new(k);
        let mut scores = Vec::new();
        for (probed, &(_, p)) in order.iter().enumerate() {
            // While the heap is not full, every accepted key seen is in it.
            if probed >= nprobe.max(1) && top.len() >= k {
                break;
            }
            let (a, b) = (self.offsets[p], self.offsets[p + 1]);
            scores.resize(b - a, 0.0);
            scorer.score(self.dim, a, b, &mut scores);
            for (s, &key) in scores.iter().zip(&self.keys[a..b]) {
                if top.would_take(*s) && accept(key) {
                    top.push(*s, key);
                }
            }
        }
        Ok(top.into_sorted())
    }

    /// The index as bytes: magic, dim, partitions, entries, then centroids,
    /// offsets, keys and the vectors (full: f32s; codes: the per-dimension
    /// minimums and steps, then one byte per component), little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_bytes() + 32);
        out.extend_from_slice(match self.vectors {
            Stored::Full(_) => MAGIC,
            Stored::Codes { .. } => MAGIC_CODES,
        });
        for x in [self.dim, self.partitions(), self.keys.len()] {
            out.extend_from_slice(&(x as u64).to_le_bytes());
        }
        for x in &self.centroids {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for x in &self.offsets {
            out.extend_from_slice(&(*x as u64).to_le_bytes());
        }
        for x in &self.keys {
            out.extend_from_slice(&x.to_le_bytes());
        }
        match &self.vectors {
            Stored::Full(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Stored::Codes { min, step, codes } => {
                for x in min.iter().chain(step) {
                    out.extend_from_slice(&x.to_le_bytes());
                }
                out.extend_from_slice(codes);
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Ivf, IndexError> {
        let mut r = Reader::new(bytes, "clustered index file");
        let encoding = match r.take(8)? {
            m if m == MAGIC => Encoding::Full,
            m if m == MAGIC_CODES => Encoding::Codes,
            _ => return Err(IndexError::Corrupt("not a clustered index file".into())),
        };
        let dim = r.u64()? as usize;
        let parts = r.u64()? as usize;
        let n = r.u64()? as usize;
        let need = parts
            .checked_mul(dim)
            .and_then(|c| c.checked_mul(4))
            .and_then(|c| c.checked_add((parts + 1).checked_mul(8)?))
            .and_then(|c| match encoding {
                Encoding::Full => c.checked_add(n.checked_mul(8 + dim.checked_mul(4)?)?),
                Encoding::Codes => c
                    .checked_add(n.checked_mul(8 + dim)?)?
                    .checked_add(dim.checked_mul(8)?),
            });
        if dim == 0 || parts == 0 || need != Some(r.left()) {
            return Err(IndexError::Corrupt(
                "clustered index file has the wrong size".into(),
            ));
        }
        let centroids = r.f32s(parts * dim)?;
        let offsets: Vec<usize> = (0..=parts)
            .map(|_| r.u64().map(|x| x as usize))
            .collect::<Result<_, _>>()?;
        let keys: Vec<u64> = (0..n).map(|_| r.u64()).collect::<Result<_, _>>()?;
        let vectors = match encoding {
            Encoding::Full => Stored::Full(r.f32s(n * dim)?),
            Encoding::Codes => Stored::Codes {
                min: r.f32s(dim)?,
                step: r.f32s(dim)?,
                codes: r.take(n * dim)?.to_vec(),
            },
        };
        if let Stored::Codes { codes, .. } = &vectors {
            if codes.iter().any(|c| f32::from(*c) > LEVELS) {
                return Err(IndexError::Corrupt(
                    "clustered index codes are out of range".into(),
                ));
            }
        }
        let sorted = offsets.windows(2).all(|w| w[0] <= w[1]);
        if offsets.first() != Some(&0) || offsets.last() != Some(&n) || !sorted {
            return Err(IndexError::Corrupt(
                "clustered index partitions are damaged".into(),
            ));
        }
        Ok(Ivf {
            dim,
            centroids,
            offsets,
            keys,
            vectors,
        })
    }
}

/// A scored key, ordered worst-first for the heap's top.
#[derive(Clone, Copy)]
struct Scored(f32, u64);

impl PartialEq for Scored {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap's greatest is the worst score kept.
        o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
    }
}

/// The best `k` scores seen.
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            // k may be any caller's limit; the heap grows as it fills.
            heap: BinaryHeap::with_capacity(k.min(1 << 12) + 1),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Whether a key with score `s` would be kept now.
    pub fn would_take(&self, s: f32) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|w| s > w.0)
    }

    pub fn push(&mut self, s: f32, key: u64) {
        if self.k == 0 {
            return;
        }
        self.heap.push(Scored(s, key));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<(f32, u64)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|s| (s.0, s.1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::cosine;

    /// Points around `centers` random directions, from the generator.
    fn data(n: usize, dim: usize, centers: usize) -> Vec<f32> {
        let mut rng = Rng(7);
        let mut unit = || (rng.next() % 20_000) as f32 / 10_000.0 - 1.0;
        let c: Vec<f32> = (0..centers * dim).map(|_| unit()).collect();
        (0..n)
            .flat_map(|i| {
                let base = &c[(i % centers) * dim..(i % centers + 1) * dim];
                base.iter().map(|x| x + 0.3 * unit()).collect::<Vec<_>>()
            })
            .collect()
    }

    fn exact(v: &[f32], dim: usize, q: &[f32], k: usize, accept: impl Fn(u64) -> bool) -> Vec<u64> {
        let mut all: Vec<(f32, u64)> = v
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, x)| (cosine(q, x), i as u64))
            .filter(|(_, i)| accept(*i))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        all.into_iter().take(k).map(|(_, i)| i).collect()
    }

    /// The index over `v` with keys 0..n.
    fn index(v: &[f32], n: usize, dim: usize, encoding: Encoding) -> Ivf {
        let params = IvfParams {
            encoding,
            ..IvfParams::default()
        };
        Ivf::build(dim, (0..n as u64).collect(), v.to_vec(), params).unwrap()
    }

    #[test]
    fn probing_every_partition_is_exact_and_few_partitions_recall_most() {
        let (n, dim) = (3000, 24);
        let v = data(n, dim, 12);
        let ivf = index(&v, n, dim, Encoding::Full);
        assert_eq!((ivf.len(), ivf.partitions()), (n, default_partitions(n)));
        let mut recalled = 0;
        for qi in 0..20 {
            let q = &v[qi * 97 * dim..(qi * 97 + 1) * dim];
            let want = exact(&v, dim, q, 10, |_| true);
            let all = ivf.search(q, 10, ivf.partitions(), |_| true).unwrap();
            let got: Vec<u64> = all.iter().map(|x| x.1).collect();
            assert_eq!(got, want);
            for w in all.windows(2) {
                assert!(w[0].0 >= w[1].0);
            }
            let few = ivf.search(q, 10, 8, |_| true).unwrap();
            recalled += few.iter().filter(|x| want.contains(&x.1)).count();
        }
        assert!(recalled >= 180, "recall@10 {recalled}/200 at nprobe 8");
    }

    #[test]
    fn codes_rank_the_exact_top_among_a_few_more_candidates() {
        let (n, dim) = (3000, 24);
        let v = data(n, dim, 12);
        let ivf = index(&v, n, dim, Encoding::Codes);
        assert_eq!(ivf.encoding(), Encoding::Codes);
        assert!(ivf.size_bytes() < index(&v, n, dim, Encoding::Full).size_bytes() / 2);
        for qi in 0..20 {
            let q = &v[qi * 97 * dim..(qi * 97 + 1) * dim];
            let want = exact(&v, dim, q, 10, |_| true);
            let got = ivf.search(q, 40, ivf.partitions(), |_| true).unwrap();
            for (s, key) in &got {
                let x = &v[*key as usize * dim..(*key as usize + 1) * dim];
                assert!((s - cosine(q, x)).abs() < 0.02, "{s} vs {}", cosine(q, x));
            }
            let keys: Vec<u64> = got.iter().map(|x| x.1).collect();
            assert!(want.iter().all(|w| keys.contains(w)), "query {qi}");
        }
        let bytes = ivf.to_bytes();
        assert_eq!(Ivf::from_bytes(&bytes).unwrap(), ivf);
        assert!(Ivf::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn later_rows_join_the_trained_partitions() {
        let (n, dim) = (3000, 24);
        let v = data(n, dim, 12);
        let first = index(&v[..2000 * dim], 2000, dim, Encoding::Full);
        let params = IvfParams::default();
        let later = Ivf::build_on(
            dim,
            (2000..n as u64).collect(),
            v[2000 * dim..].to_vec(),
            params,
            Some(first.centroids()),
        )
        .unwrap();
        assert_eq!(later.centroids(), first.centroids());
        assert_eq!(later.len(), 1000);
        // Every partition searched: exact over the later rows.
        let q = &v[2500 * dim..2501 * dim];
        let got: Vec<u64> = later
            .search(q, 5, later.partitions(), |_| true)
            .unwrap()
            .iter()
            .map(|x| x.1)
            .collect();
        let want: Vec<u64> = exact(&v[2000 * dim..], dim, q, 5, |_| true)
            .into_iter()
            .map(|i| i + 2000)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_selective_filter_still_gets_k_rows() {
        let (n, dim) = (2000, 8);
        let v = data(n, dim, 5);
        let ivf = index(&v, n, dim, Encoding::Full);
        let q = &v[..dim];
        let rare = |k: u64| k % 97 == 3;
        let got = ivf.search(q, 10, 1, rare).unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|x| rare(x.1)));
        // Fewer matching rows than k: all of them.
        let got = ivf.search(q, 10, 1, |k| k < 4).unwrap();
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn bytes_round_trip_and_damage_is_refused() {
        let v = data(500, 16, 4);
        let ivf = Ivf::build(16, (100..600).collect(), v, IvfParams::default()).unwrap();
        let bytes = ivf.to_bytes();
        assert_eq!(Ivf::from_bytes(&bytes).unwrap(), ivf);
        assert!(Ivf::from_bytes(&bytes[..bytes.len() - 4]).is_err());
        assert!(Ivf::from_bytes(b"DLIVF001").is_err());
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(Ivf::from_bytes(&bad).is_err());
        assert!(ivf.search(&[1.0; 3], 5, 4, |_| true).is_err());
        let e = Ivf::build(4, vec![1], vec![f32::NAN; 4], IvfParams::default()).unwrap_err();
        assert!(e.to_string().contains("finite"), "{e}");
    }
}
