//! A table handle: one committed version of a table directory, with scans,
//! random row reads, appends, deletes and compaction.
//!
//! Layout under the table directory:
//! `_versions/<v>.json` (manifests), `_latest` (hint), `data/<uuid>.dlf`,
//! `index/<segment uuid>/<file>`. Reads live in `read`, deletes and
//! compaction in `rewrite`, the shared local data files in `datafile`,
//! index definitions and files in `index`.

mod datafile;
mod index;
mod read;
mod rewrite;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::stream::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::codec::{self};
use crate::error::{Result, StorageError};
use crate::manifest::{FileSpan, Fragment, Log, Manifest, Transaction};
use crate::upkeep::{self, Pending};

use datafile::DataFile;

use read::Cache;

/// An open table at one version. Cloning is cheap and shares caches.
#[derive(Clone)]
pub struct Table {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    name: String,
    manifest: Arc<Manifest>,
    /// `starts[i]` is the global index of fragment i's first live row.
    starts: Arc<Vec<u64>>,
    /// Live rows in all fragments.
    live: u64,
    cache: Arc<Cache>,
    /// The table directory when the store is the local disk: data files are
    /// then memory-mapped, so reads are slices of the page cache instead of
    /// a system call and a copy each.
    local: Option<Arc<std::path::PathBuf>>,
    /// On local disk, the (length, modification time) of this version's
    /// manifest file when a refresh last found it the newest: see
    /// [`Table::unchanged_on_disk`].
    stamp: Option<FileStamp>,
}

type FileStamp = (u64, std::time::SystemTime);

fn file_stamp(path: &std::path::Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Global index of each fragment's first live row, and the live total.
fn row_starts(manifest: &Manifest) -> (Vec<u64>, u64) {
    let mut acc = 0;
    let starts = manifest
        .fragments
        .iter()
        .map(|f| {
            let s = acc;
            acc += f.live_rows();
            s
        })
        .collect();
    (starts, acc)
}

/// Data files larger than this go to object storage in parts.
const MULTIPART_BYTES: usize = 16 << 20;
const PART_BYTES: usize = 8 << 20;
/// Parts uploading at once: the spec's storage I/O concurrency.
const UPLOADS: usize = 32;

fn data_path(dir: &Path, id: &str) -> Path {
    dir.clone().join("data").join(format!("{id}.dlf"))
}

impl Table {
    fn log(&self) -> Log<'_> {
        Log {
            store: self.store.as_ref(),
            dir: &self.dir,
        }
    }

    fn with_manifest(&self, manifest: Manifest) -> Table {
        let mut t = self.clone();
        t.set_manifest(manifest);
        t
    }

    fn set_manifest(&mut self, manifest: Manifest) {
        let (starts, live) = row_starts(&manifest);
        self.starts = Arc::new(starts);
        self.live = live;
        self.manifest = Arc::new(manifest);
        self.stamp = None;
    }

    fn version_file(&self, version: u64) -> Option<std::path::PathBuf> {
        let dir = self.local.as_ref()?;
        Some(dir.join("_versions").join(format!("{version:020}.json")))
    }

    /// On local disk: whether this handle's version is still the newest
    /// and its manifest file the one last checked (no file for the next
    /// version, the same length and modification time for this one), in
    /// two `stat` calls. Versions are numbered without gaps, so a missing
    /// next version means no commit since; the stamp tells a table dropped
    /// and made again up to the same version number.
    fn unchanged_on_disk(&self) -> bool {
        let (Some(stamp), Some(next), Some(this)) = (
            self.stamp,
            self.version_file(self.manifest.version + 1),
            self.version_file(self.manifest.version),
        ) else {
            return false;
        };
        !next.exists() && file_stamp(&this) == Some(stamp)
    }

    fn handle(
        store: Arc<dyn ObjectStore>,
        dir: Path,
        local: Option<std::path::PathBuf>,
        name: &str,
        manifest: Manifest,
    ) -> Table {
        let (starts, live) = row_starts(&manifest);
        Table {
            store,
            dir,
            name: name.to_string(),
            manifest: Arc::new(manifest),
            starts: Arc::new(starts),
            live,
            cache: Arc::default(),
            local: local.map(Arc::new),
            stamp: None,
        }
    }

    /// Creates an empty table; fails with `TableExists` if one is there.
    /// `local` is the table's directory when `store` is the local disk.
    pub async fn create(
        store: Arc<dyn ObjectStore>,
        dir: Path,
        local: Option<std::path::PathBuf>,
        name: &str,
        schema: SchemaRef,
    ) -> Result<Table> {
        let log = Log {
            store: store.as_ref(),
            dir: &dir,
        };
        let manifest = log
            .commit(&Transaction::Create { schema }, None)
            .await
            .map_err(|e| match e {
                StorageError::TableExists(_) => StorageError::TableExists(name.to_string()),
                e => e,
            })?;
        Ok(Table::handle(store, dir, local, name, manifest))
    }

    /// Opens the latest committed version.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        dir: Path,
        local: Option<std::path::PathBuf>,
        name: &str,
    ) -> Result<Table> {
        let log = Log {
            store: store.as_ref(),
            dir: &dir,
        };
        let manifest = log
            .latest()
            .await?
            .ok_or_else(|| StorageError::TableNotFound(name.to_string()))?;
        Ok(Table::handle(store, dir, local, name, manifest))
    }

    /// True when a committed table lives at `dir`.
    pub async fn exists(store: &dyn ObjectStore, dir: &Path) -> Result<bool> {
        Ok(Log { store, dir }.latest_version().await?.is_some())
    }

    /// Removes every object of the table: manifests first, so a crash midway
    /// leaves no half-table that opens.
    pub async fn drop_table(store: &dyn ObjectStore, dir: &Path) -> Result<bool> {
        let log = Log { store, dir };
        let versions = log.list_versions().await?;
        if versions.is_empty() {
            return Ok(false);
        }
        let hint = dir.clone().join("_latest");
        match store.delete(&hint).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        for v in versions.iter().rev() {
            match store
                .delete(&dir.clone().join("_versions").join(format!("{v:020}.json")))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let rest: Vec<Path> = store
            .list(Some(dir))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        for p in rest {
            match store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn version(&self) -> u64 {
        self.manifest.version
    }
    pub fn schema(&self) -> SchemaRef {
        self.manifest.schema.clone()
    }
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// Number of live rows.
    pub fn len(&self) -> u64 {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The global live index of fragment `i`'s first live row: the
    /// position [`Table::take`] reads that row back by.
    pub fn fragment_start(&self, i: usize) -> Option<u64> {
        self.starts.get(i).copied()
    }

    /// Every committed version number, oldest first.
    pub async fn versions(&self) -> Result<Vec<u64>> {
        self.log().list_versions().await
    }

    /// This table as of an older (or newer) committed version.
    pub async fn checkout(&self, version: u64) -> Result<Table> {
        let m = self
            .log()
            .load(version)
            .await?
            .ok_or_else(|| StorageError::VersionNotFound {
                table: self.name.clone(),
                version,
            })?;
        Ok(self.with_manifest(m))
    }

    /// Moves this handle to the newest commit; returns whether it changed.
    pub async fn refresh(&mut self) -> Result<bool> {
        if self.unchanged_on_disk() {
            return Ok(false);
        }
        let m = self
            .log()
            .latest()
            .await?
            .ok_or_else(|| StorageError::TableNotFound(self.name.clone()))?;
        // A table dropped and created again can reach the same version
        // number: any difference in the manifest counts.
        let changed = m.version != self.manifest.version
            || m.timestamp_ms != self.manifest.timestamp_ms
            || m.fragments != self.manifest.fragments;
        if changed {
            self.set_manifest(m);
        }
        // Read before the stamp: a commit in between shows as a next version.
        self.stamp = self
            .version_file(self.manifest.version)
            .and_then(|p| file_stamp(&p));
        Ok(changed)
    }

    /// Writes a batch as an uncommitted fragment, invisible until committed.
    /// On local disk it is appended to a data file shared with the table's
    /// other recent fragments (see `datafile`). On object storage it is a
    /// file of its own, and a large one goes up as a multipart upload with
    /// up to 32 parts in flight (the spec's storage concurrency).
    pub async fn write_fragment(&self, batch: &RecordBatch) -> Result<Fragment> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let rows = batch.num_rows() as u64;
        if let Some(dir) = &self.local {
            let batch = batch.clone();
            let dir = dir.clone();
            let (stem, offset, len) = read::blocking(move || {
                let file = DataFile::take(&dir)?;
                let pieces = codec::encode_at(&batch, file.len)?;
                let (file, offset) = file.append(&pieces)?;
                let span = (file.stem.clone(), offset, file.len - offset);
                file.put_back();
                Ok::<_, StorageError>(span)
            })
            .await?;
            return Ok(Fragment {
                id,
                rows,
                deleted: vec![],
                span: Some(FileSpan {
                    file: stem,
                    offset,
                    len,
                }),
            });
        }
        let pieces = codec::encode(batch)?;
        let path = data_path(&self.dir, &id);
        let size: usize = pieces.iter().map(bytes::Bytes::len).sum();
        if size > MULTIPART_BYTES {
            let upload = self.store.put_multipart(&path).await?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            for piece in pieces {
                w.wait_for_capacity(UPLOADS).await?;
                w.put(piece);
            }
            w.finish().await?;
        } else {
            self.store.put(&path, PutPayload::from_iter(pieces)).await?;
        }
        Ok(Fragment {
            id,
            rows,
            deleted: vec![],
            span: None,
        })
    }

    async fn commit(&mut self, txn: Transaction) -> Result<()> {
        let m = self
            .log()
            .commit(&txn, Some(&self.manifest))
            .await
            .map_err(|e| match e {
                StorageError::TableNotFound(_) => StorageError::TableNotFound(self.name.clone()),
                e => e,
            })?;
        self.set_manifest(m);
        Ok(())
    }

    /// Commits `txn` on exactly this handle's version: false (and the
    /// handle refreshed) when another commit came first, so that what the
    /// caller checked against this version still holds for the commit.
    async fn commit_on(&mut self, txn: Transaction) -> Result<bool> {
        match self.log().commit_on(&txn, &self.manifest).await? {
            Some(m) => {
                self.set_manifest(m);
                Ok(true)
            }
            None => {
                self.refresh().await?;
                Ok(false)
            }
        }
    }

    /// Commits written fragments as an append, checked first by the index
    /// upkeep on exactly the version it lands on (see [`crate::upkeep`]).
    pub async fn commit_append(&mut self, fragments: Vec<Fragment>) -> Result<()> {
        self.commit_rows(None, fragments).await
    }

    /// Commits a new version whose only rows are `fragments`, with
    /// `schema`, checked as an append is.
    pub async fn commit_overwrite(
        &mut self,
        schema: SchemaRef,
        fragments: Vec<Fragment>,
    ) -> Result<()> {
        self.commit_rows(Some(schema), fragments).await
    }

    /// The one commit of new rows: an append (`schema` None) or an
    /// overwrite, checked by the index upkeep against exactly the version
    /// it lands on; when another commit came first, the handle moves to
    /// the newer version (whose indexes may differ) and checks again.
    async fn commit_rows(
        &mut self,
        schema: Option<SchemaRef>,
        fragments: Vec<Fragment>,
    ) -> Result<()> {
        loop {
            let (pending, txn) = match &schema {
                Some(s) => (
                    Pending::Overwrite(s, &fragments),
                    Transaction::Overwrite {
                        schema: s.clone(),
                        fragments: fragments.clone(),
                    },
                ),
                None => (
                    Pending::Append(&fragments),
                    Transaction::Append {
                        schema: self.schema(),
                        fragments: fragments.clone(),
                    },
                ),
            };
            upkeep::check(self, pending).await?;
            if self.commit_on(txn).await? {
                return Ok(());
            }
        }
    }

    /// Writes and commits one batch.
    pub async fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let f = self.write_fragment(batch).await?;
        self.commit_append(vec![f]).await
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StorageError {
    StorageError::Corrupt("a reader thread panicked while holding the fragment cache".into())
}
