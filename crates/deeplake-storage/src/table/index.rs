//! A table's indexes as storage sees them: definitions and segments in the
//! manifest (see `manifest`'s invariant), and their files under
//! `index/<segment id>/`, written before the commit that names them and
//! never changed after, like data files. What an index file holds is the
//! index crate's business; here it is bytes.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use crate::error::{Result, StorageError};
use crate::manifest::{IndexMeta, IndexSegment, Transaction};

use super::Table;

impl Table {
    pub fn indexes(&self) -> &[IndexMeta] {
        &self.manifest.indexes
    }

    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.manifest.index(name)
    }

    /// Positions of the live fragments no segment of `index` covers: the
    /// rows a reader scans exactly besides what the index answers.
    pub fn unindexed(&self, index: &IndexMeta) -> Vec<usize> {
        let covered: std::collections::HashSet<&str> = index
            .segments
            .iter()
            .flat_map(|s| s.fragments.iter().map(String::as_str))
            .collect();
        (0..self.manifest.fragments.len())
            .filter(|&i| !covered.contains(self.manifest.fragments[i].id.as_str()))
            .collect()
    }

    /// Commits a new index (its segments written beforehand, if any).
    pub async fn create_index(&mut self, index: IndexMeta) -> Result<()> {
        self.commit(Transaction::CreateIndex { index }).await
    }

    /// Commits a new index on exactly this version; false (the handle
    /// refreshed) when the table moved on first, for an index whose build
    /// checked the rows (`unique`).
    pub async fn create_index_on(&mut self, index: IndexMeta) -> Result<bool> {
        self.commit_on(Transaction::CreateIndex { index }).await
    }

    pub async fn drop_index(&mut self, name: &str) -> Result<()> {
        self.commit(Transaction::DropIndex {
            name: name.to_string(),
        })
        .await
    }

    /// Commits segments built since the index's last commit.
    pub async fn add_index_segments(
        &mut self,
        name: &str,
        segments: Vec<IndexSegment>,
    ) -> Result<()> {
        self.commit(Transaction::AddIndexSegments {
            name: name.to_string(),
            segments,
        })
        .await
    }

    /// Commits segments merged from `replaced` (ids) in their place.
    pub async fn replace_index_segments(
        &mut self,
        name: &str,
        replaced: Vec<String>,
        segments: Vec<IndexSegment>,
    ) -> Result<()> {
        self.commit(Transaction::ReplaceIndexSegments {
            name: name.to_string(),
            replaced,
            segments,
        })
        .await
    }

    fn index_path(&self, segment: &str, file: &str) -> Result<Path> {
        let plain = |p: &str| !p.is_empty() && p != "." && p != ".." && !p.contains(['/', '\\']);
        if !plain(segment) || !plain(file) {
            return Err(StorageError::Corrupt(format!(
                "bad index file name '{segment}/{file}'"
            )));
        }
        Ok(self.dir.clone().join("index").join(segment).join(file))
    }

    /// Writes one file of a segment not yet committed.
    pub async fn put_index_file(&self, segment: &str, file: &str, bytes: Bytes) -> Result<()> {
        let path = self.index_path(segment, file)?;
        self.store.put(&path, PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Reads one file of a segment; a missing file of a committed segment
    /// is damage.
    pub async fn get_index_file(&self, segment: &str, file: &str) -> Result<Bytes> {
        let path = self.index_path(segment, file)?;
        match self.store.get(&path).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::Corrupt(format!(
                "index file '{segment}/{file}' of table '{}' is missing",
                self.name
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
