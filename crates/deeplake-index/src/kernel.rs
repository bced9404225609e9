//! Cosine kernels over contiguous f32 rows.
//!
//! The loop is written once and compiled twice: a portable build and, on
//! x86-64 CPUs that have them, an AVX2+FMA build picked at run time, so one
//! binary runs everywhere and still uses the wide registers where present.

/// Lanes accumulated independently: four AVX2 registers each for the dot
/// product and the norm, enough independent FMA chains to hide their latency.
const LANES: usize = 32;
/// Lanes of the tail loop (one AVX2 register), for sizes like 50.
const TAIL: usize = 8;

#[inline(always)]
fn fma<const FMA: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FMA {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

/// Sums the wide and tail accumulators pairwise: a left-to-right sum is a
/// serial chain of adds that costs more than the products for short vectors.
#[inline(always)]
fn fold(wide: &[f32; LANES], tail: &[f32; TAIL]) -> f32 {
    let mut v = *wide;
    let mut half = LANES / 2;
    while half >= TAIL {
        for i in 0..half {
            v[i] += v[i + half];
        }
        half /= 2;
    }
    let mut t = [0f32; TAIL];
    for i in 0..TAIL {
        t[i] = v[i] + tail[i];
    }
    let (a, b) = ((t[0] + t[4]) + (t[1] + t[5]), (t[2] + t[6]) + (t[3] + t[7]));
    a + b
}

#[inline(always)]
fn dot_and_norm<const FMA: bool>(q: &[f32], x: &[f32]) -> (f32, f32) {
    let mut dot = [0f32; LANES];
    let mut norm = [0f32; LANES];
    let qc = q.chunks_exact(LANES);
    let xc = x.chunks_exact(LANES);
    let (qr, xr) = (qc.remainder(), xc.remainder());
    for (a, b) in qc.zip(xc) {
        for i in 0..LANES {
            dot[i] = fma::<FMA>(a[i], b[i], dot[i]);
            norm[i] = fma::<FMA>(b[i], b[i], norm[i]);
        }
    }
    let mut dt = [0f32; TAIL];
    let mut nt = [0f32; TAIL];
    let qt = qr.chunks_exact(TAIL);
    let xt = xr.chunks_exact(TAIL);
    let (qs, xs) = (qt.remainder(), xt.remainder());
    for (a, b) in qt.zip(xt) {
        for i in 0..TAIL {
            dt[i] = fma::<FMA>(a[i], b[i], dt[i]);
            nt[i] = fma::<FMA>(b[i], b[i], nt[i]);
        }
    }
    let mut d = fold(&dot, &dt);
    let mut n = fold(&norm, &nt);
    for (a, b) in qs.iter().zip(xs) {
        d += a * b;
        n += b * b;
    }
    (d, n)
}

#[inline(always)]
fn cosines_with<const FMA: bool>(q: &[f32], q_norm: f32, rows: &[f32], out: &mut [f32]) {
    let dim = q.len();
    for (x, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        let (d, n) = dot_and_norm::<FMA>(q, x);
        let denom = q_norm * n.sqrt();
        *o = if denom > 0.0 { d / denom } else { 0.0 };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cosines_avx2(q: &[f32], q_norm: f32, rows: &[f32], out: &mut [f32]) {
    cosines_with::<true>(q, q_norm, rows, out)
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[inline(always)]
fn dot<const FMA: bool>(q: &[f32], x: &[f32]) -> f32 {
    let mut wide = [0f32; LANES];
    let qc = q.chunks_exact(LANES);
    let xc = x.chunks_exact(LANES);
    let (qr, xr) = (qc.remainder(), xc.remainder());
    for (a, b) in qc.zip(xc) {
        for i in 0..LANES {
            wide[i] = fma::<FMA>(a[i], b[i], wide[i]);
        }
    }
    let mut tail = [0f32; TAIL];
    let qt = qr.chunks_exact(TAIL);
    let xt = xr.chunks_exact(TAIL);
    let (qs, xs) = (qt.remainder(), xt.remainder());
    for (a, b) in qt.zip(xt) {
        for i in 0..TAIL {
            tail[i] = fma::<FMA>(a[i], b[i], tail[i]);
        }
    }
    let mut d = fold(&wide, &tail);
    for (a, b) in qs.iter().zip(xs) {
        d += a * b;
    }
    d
}

#[inline(always)]
fn dots_with<const FMA: bool>(q: &[f32], rows: &[f32], out: &mut [f32]) {
    for (x, o) in rows.chunks_exact(q.len()).zip(out.iter_mut()) {
        *o = dot::<FMA>(q, x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    dots_with::<true>(q, rows, out)
}

/// Dot products of `q` against each `q.len()`-wide row of `rows`, written
/// to `out`: the cosine when both sides are unit vectors, as an index
/// stores them, without the per-row norm the raw-column kernel computes.
pub fn dots(q: &[f32], rows: &[f32], out: &mut [f32]) {
    if q.is_empty() {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { dots_avx2(q, rows, out) };
        return;
    }
    dots_with::<false>(q, rows, out)
}

/// Integer dot products of `q` against each `q.len()`-wide row of codes;
/// codes must be below 128, so that a pair of products (at most 2 * 127 *
/// 128) fits the 16 bits the AVX2 multiply-add sums them in.
pub fn dots_codes(q: &[i8], codes: &[u8], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if q.len() >= 32 && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { dots_codes_avx2(q, codes, out) };
        return;
    }
    for (x, o) in codes.chunks_exact(q.len().max(1)).zip(out.iter_mut()) {
        *o = dot_codes_tail(q, x, 0);
    }
}

/// The integer dot product of `q` and `x` from position `from` on.
#[inline(always)]
fn dot_codes_tail(q: &[i8], x: &[u8], from: usize) -> i32 {
    q[from..]
        .iter()
        .zip(&x[from..])
        .map(|(a, b)| i32::from(*a) * i32::from(*b))
        .sum()
}

/// 32 codes per step: unsigned codes times signed query bytes, adjacent
/// products summed to 16 bits, then to 32 bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_codes_avx2(q: &[i8], codes: &[u8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let dim = q.len();
    let wide = dim / 32 * 32;
    let ones = _mm256_set1_epi16(1);
    for (x, o) in codes.chunks_exact(dim).zip(out.iter_mut()) {
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i < wide {
            // SAFETY: i + 32 <= wide <= dim, the length of both rows.
            let c = _mm256_loadu_si256(x.as_ptr().add(i).cast());
            let qv = _mm256_loadu_si256(q.as_ptr().add(i).cast());
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(c, qv), ones));
            i += 32;
        }
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let s = _mm_hadd_epi32(s, s);
        let s = _mm_hadd_epi32(s, s);
        *o = _mm_cvtsi128_si32(s) + dot_codes_tail(q, x, wide);
    }
}

/// `v` scaled to unit length; a zero vector stays zero (it scores 0
/// against everything, as the cosine kernel scores it).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = norm(v);
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// Euclidean norm of `q`.
pub fn norm(q: &[f32]) -> f32 {
    q.iter().map(|v| v * v).sum::<f32>().sqrt()
}

/// Cosine similarity of `q` against each `q.len()`-wide row of `rows`,
/// written to `out` (one slot per row). A zero vector scores 0.
pub fn cosines(q: &[f32], rows: &[f32], out: &mut [f32]) {
    if q.is_empty() {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let q_norm = norm(q);
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { cosines_avx2(q, q_norm, rows, out) };
        return;
    }
    let _ = has_avx2;
    cosines_with::<false>(q, q_norm, rows, out)
}

/// Cosine similarity of two vectors of equal length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let mut out = [0f32];
    cosines(a, b, &mut out);
    out[0]
}

/// MaxSim (late interaction): for each query vector, its best cosine
/// against the document's vectors, summed. An empty document scores 0.
pub fn maxsim(query: &[f32], doc: &[f32], dim: usize) -> f32 {
    if dim == 0 || doc.is_empty() {
        return 0.0;
    }
    let mut sims = vec![0f32; doc.len() / dim];
    let mut total = 0f32;
    for q in query.chunks_exact(dim) {
        cosines(q, doc, &mut sims);
        total += sims.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32]) -> f64 {
        let d: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        d / (na * nb)
    }

    #[test]
    fn cosine_matches_double_precision_for_odd_sizes() {
        for dim in [1usize, 3, 15, 16, 17, 50, 384, 1000] {
            let a: Vec<f32> = (0..dim)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0)
                .collect();
            let b: Vec<f32> = (0..dim)
                .map(|i| ((i * 5 % 11) as f32 - 4.5) / 2.0)
                .collect();
            let got = f64::from(cosine(&a, &b));
            assert!((got - naive(&a, &b)).abs() < 1e-5, "dim {dim}: {got}");
        }
    }

    #[test]
    fn code_dots_are_exact_integer_sums() {
        for dim in [1usize, 31, 32, 50, 384] {
            let q: Vec<i8> = (0..dim)
                .map(|i| ((i * 37 % 255) as i32 - 127) as i8)
                .collect();
            let rows: Vec<u8> = (0..dim * 3).map(|i| (i * 53 % 128) as u8).collect();
            let mut out = [0i32; 3];
            dots_codes(&q, &rows, &mut out);
            for (r, got) in rows.chunks_exact(dim).zip(out) {
                let want: i32 = q
                    .iter()
                    .zip(r)
                    .map(|(a, b)| i32::from(*a) * i32::from(*b))
                    .sum();
                assert_eq!(got, want, "dim {dim}");
            }
        }
    }

    #[test]
    fn zero_vectors_score_zero_and_maxsim_sums_best_matches() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        let q = [1.0, 0.0, 0.0, 1.0];
        let doc = [1.0, 0.0, 1.0, 1.0, -1.0, 0.0];
        let want = 1.0 + naive(&[0.0, 1.0], &[1.0, 1.0]) as f32;
        assert!((maxsim(&q, &doc, 2) - want).abs() < 1e-6);
        assert_eq!(maxsim(&q, &[], 2), 0.0);
    }
}
