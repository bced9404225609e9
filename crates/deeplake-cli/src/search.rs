//! Exact cosine top-k over an embedding column, scanning it batch by batch.

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::Array;
use deeplake_client::{Dataset, Result};

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// The `k` rows most similar to `query`, best first, as `(row, cosine)`.
pub fn top_k_cosine(
    ds: &Dataset,
    column: &str,
    query: &[f32],
    k: usize,
) -> Result<Vec<(u64, f32)>> {
    let qn = norm(query).max(f32::MIN_POSITIVE);
    let mut best: Vec<(u64, f32)> = Vec::with_capacity(k + 1);
    let mut base = 0u64;
    for batch in ds.batches(8192, false, Some(&[column]))? {
        let batch = batch?;
        let list = batch.column(0).as_fixed_size_list();
        let dim = list.value_length() as usize;
        let values = list.values().as_primitive::<Float32Type>().values();
        for i in 0..list.len() {
            if list.is_null(i) {
                continue;
            }
            let v = &values[i * dim..(i + 1) * dim];
            let dot: f32 = v.iter().zip(query).map(|(a, b)| a * b).sum();
            let score = dot / (norm(v).max(f32::MIN_POSITIVE) * qn);
            if best.len() < k || score > best[best.len() - 1].1 {
                let at = best.partition_point(|(_, s)| *s >= score);
                best.insert(at, (base + i as u64, score));
                best.truncate(k);
            }
        }
        base += batch.num_rows() as u64;
    }
    Ok(best)
}
