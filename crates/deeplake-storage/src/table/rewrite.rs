//! Rewriting fragments: deletes (deletion ranges) and compaction.

use arrow_array::{Array, BooleanArray, RecordBatch};

use crate::error::{Result, StorageError};
use crate::manifest::{to_ranges, Fragment, RewriteGroup, Transaction};

use super::Table;
use crate::trim::trimmed;

impl Table {
    /// Commits rewrite groups; false when a concurrent commit changed the
    /// fragments they read, so the caller recomputes from the new version.
    async fn commit_rewrite(
        &mut self,
        groups: Vec<RewriteGroup>,
        operation: &'static str,
    ) -> Result<bool> {
        match self
            .commit(Transaction::Rewrite { groups, operation })
            .await
        {
            Ok(()) => Ok(true),
            Err(StorageError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the rows for which `predicate` is true; returns how many.
    ///
    /// The predicate sees each fragment's live rows (all columns). A
    /// concurrent commit touching the same fragments makes it start over.
    /// The predicate's errors are the caller's type (a query engine's),
    /// returned as they were raised.
    pub async fn delete_where<P, E>(&mut self, predicate: P) -> Result<u64, E>
    where
        P: Fn(&RecordBatch) -> Result<BooleanArray, E>,
        E: From<StorageError>,
    {
        loop {
            self.refresh().await?;
            let mut groups = Vec::new();
            let mut count = 0;
            for (i, frag) in self.manifest.fragments.iter().enumerate() {
                let batch = self.read_fragment(i, None).await?;
                let mask = predicate(&batch)?;
                if mask.len() != batch.num_rows() {
                    return Err(StorageError::Corrupt(
                        "predicate returned the wrong length".into(),
                    )
                    .into());
                }
                let hits: Vec<u64> = (0..mask.len())
                    .filter(|&k| mask.is_valid(k) && mask.value(k))
                    .map(|k| frag.nth_live(k as u64))
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                count += hits.len() as u64;
                let mut all: Vec<u64> = frag.deleted.iter().flat_map(|(a, b)| *a..*b).collect();
                all.extend(hits);
                all.sort_unstable();
                groups.push(RewriteGroup {
                    base: vec![frag.clone()],
                    replace_with: vec![Fragment {
                        deleted: to_ranges(all),
                        ..frag.clone()
                    }],
                });
            }
            if count == 0 {
                return Ok(0);
            }
            if self.commit_rewrite(groups, "delete").await? {
                return Ok(count);
            }
        }
    }

    /// Rewrites each run of adjacent small fragments (and any fragment with
    /// deletions) into fragments of `target_rows` live rows, keeping row
    /// order. Returns the number of fragments replaced.
    pub async fn compact(&mut self, target_rows: usize) -> Result<usize> {
        self.compact_where(target_rows, |_| true).await
    }

    /// Like [`Table::compact`], restricted to the fragments `eligible`
    /// accepts (a writer compacts only what it wrote itself).
    pub async fn compact_where(
        &mut self,
        target_rows: usize,
        eligible: impl Fn(&Fragment) -> bool,
    ) -> Result<usize> {
        let target_rows = target_rows.max(1);
        loop {
            self.refresh().await?;
            let schema = self.schema();
            let runs = compaction_runs(&self.manifest.fragments, target_rows, &eligible);
            if runs.is_empty() {
                return Ok(0);
            }
            let mut groups = Vec::with_capacity(runs.len());
            for run in runs {
                let mut batches = Vec::with_capacity(run.len());
                for i in run.clone() {
                    batches.push(self.read_fragment(i, None).await?);
                }
                let all = arrow_select::concat::concat_batches(&schema, &batches)?;
                let mut replace_with = Vec::new();
                let mut at = 0;
                while at < all.num_rows() {
                    let n = target_rows.min(all.num_rows() - at);
                    replace_with.push(self.write_fragment(&trimmed(&all.slice(at, n))?).await?);
                    at += n;
                }
                groups.push(RewriteGroup {
                    base: self.manifest.fragments[run].to_vec(),
                    replace_with,
                });
            }
            let replaced = groups.iter().map(|g| g.base.len()).sum();
            if self.commit_rewrite(groups, "compact").await? {
                return Ok(replaced);
            }
        }
    }
}

/// Maximal runs of adjacent fragments worth rewriting: two or more below
/// `target_rows`, or any run holding deleted rows.
fn compaction_runs(
    fragments: &[Fragment],
    target_rows: usize,
    eligible: &impl Fn(&Fragment) -> bool,
) -> Vec<std::ops::Range<usize>> {
    let small =
        |f: &Fragment| eligible(f) && ((f.rows as usize) < target_rows || !f.deleted.is_empty());
    let mut runs = Vec::new();
    let mut i = 0;
    while i < fragments.len() {
        if !small(&fragments[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < fragments.len() && small(&fragments[i]) {
            i += 1;
        }
        let run = &fragments[start..i];
        if run.len() > 1 || run.iter().any(|f| !f.deleted.is_empty()) {
            runs.push(start..i);
        }
    }
    runs
}
