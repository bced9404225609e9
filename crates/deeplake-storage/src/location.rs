//! Where tables live: an object store plus a path prefix.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions};

use crate::error::{Result, StorageError};
use crate::table::Table;

/// A directory of tables (one workspace) on some object store.
#[derive(Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// The directory behind a local store: object stores have no
    /// directories, so emptied ones are removed here after a drop.
    local_dir: Option<std::path::PathBuf>,
}

impl Location {
    /// Tables under `prefix` of any object store (S3, GCS, Azure, memory).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Location {
        Location {
            store,
            prefix,
            local_dir: None,
        }
    }

    /// A local directory, created if missing.
    pub fn local(dir: &std::path::Path) -> Result<Location> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StorageError::BadLocation(format!("{}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Location {
            store: Arc::new(store),
            prefix: Path::default(),
            local_dir: Some(dir.to_path_buf()),
        })
    }

    /// The location a storage root names: `s3://bucket/prefix` (endpoint,
    /// region, keys and `AWS_ALLOW_HTTP` from the usual `AWS_*` variables),
    /// `file://PATH`, or a plain local path.
    pub fn from_root(root: &str) -> Result<Location> {
        let root = root.trim();
        if let Some(rest) = root.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageError::BadLocation(format!(
                    "{root}: the URL names no bucket"
                )));
            }
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| StorageError::BadLocation(format!("{root}: {e}")))?;
            let prefix = Path::parse(prefix.trim_matches('/'))
                .map_err(|e| StorageError::BadLocation(format!("{root}: {e}")))?;
            return Ok(Location::new(Arc::new(store), prefix));
        }
        if root.contains("://") && !root.starts_with("file://") {
            return Err(StorageError::BadLocation(format!(
                "{root}: only local paths, file:// and s3:// roots are supported"
            )));
        }
        Location::local(std::path::Path::new(root.trim_start_matches("file://")))
    }

    /// True when this location is on a local disk.
    pub fn is_local(&self) -> bool {
        self.local_dir.is_some()
    }

    /// A sub-directory of this location.
    pub fn child(&self, part: &str) -> Location {
        Location {
            store: self.store.clone(),
            prefix: self.prefix.clone().join(part),
            local_dir: self.local_dir.as_ref().map(|d| d.join(part)),
        }
    }

    fn local_table_dir(&self, name: &str) -> Option<std::path::PathBuf> {
        self.local_dir.as_ref().map(|d| d.join(name))
    }

    fn table_dir(&self, name: &str) -> Path {
        self.prefix.clone().join(name)
    }

    pub async fn create_table(&self, name: &str, schema: arrow_schema::SchemaRef) -> Result<Table> {
        Table::create(
            self.store.clone(),
            self.table_dir(name),
            self.local_table_dir(name),
            name,
            schema,
        )
        .await
    }

    pub async fn open_table(&self, name: &str) -> Result<Table> {
        Table::open(
            self.store.clone(),
            self.table_dir(name),
            self.local_table_dir(name),
            name,
        )
        .await
    }

    pub async fn table_exists(&self, name: &str) -> Result<bool> {
        Table::exists(self.store.as_ref(), &self.table_dir(name)).await
    }

    /// Drops a table; returns false when there was none.
    pub async fn drop_table(&self, name: &str) -> Result<bool> {
        let dropped = Table::drop_table(self.store.as_ref(), &self.table_dir(name)).await?;
        if let Some(dir) = &self.local_dir {
            match std::fs::remove_dir_all(dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StorageError::BadLocation(format!(
                        "{}: {e}",
                        dir.join(name).display()
                    )))
                }
            }
        }
        Ok(dropped)
    }

    /// Names of the committed tables here, sorted.
    pub async fn list_tables(&self) -> Result<Vec<String>> {
        let listing = match self.store.list_with_delimiter(Some(&self.prefix)).await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        let mut names = Vec::new();
        for dir in listing.common_prefixes {
            let Some(name) = dir.filename() else { continue };
            let versions = dir.clone().join("_versions");
            let any = self.store.list(Some(&versions)).try_next().await?;
            if any.is_some() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Names of the sub-directories here (tables, workspaces or orgs), sorted.
    pub async fn list_dirs(&self) -> Result<Vec<String>> {
        let listing = match self.store.list_with_delimiter(Some(&self.prefix)).await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|d| d.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Writes a small object here unless one of that name exists; returns
    /// whether this call wrote it. A conditional create, so of several
    /// writers racing exactly one wins.
    pub async fn put_new(&self, name: &str, bytes: Vec<u8>) -> Result<bool> {
        let path = self.prefix.clone().join(name);
        let opts = PutOptions::from(PutMode::Create);
        match self.store.put_opts(&path, bytes.into(), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A small object here, or `None` when there is none.
    pub async fn get(&self, name: &str) -> Result<Option<bytes::Bytes>> {
        let path = self.prefix.clone().join(name);
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Part or all of an object here (`range`; `head`: its size only), for
    /// serving a table's files to readers that cannot reach the store.
    /// `None` when there is no such object.
    pub async fn read_object(
        &self,
        name: &str,
        range: Option<GetRange>,
        head: bool,
    ) -> Result<Option<ObjectRead>> {
        let path =
            Path::parse(name).map_err(|e| StorageError::BadLocation(format!("{name}: {e}")))?;
        let mut full = self.prefix.clone();
        full.extend(path.parts());
        let path = full;
        let opts = GetOptions {
            range,
            head,
            ..Default::default()
        };
        match self.store.get_opts(&path, opts).await {
            Ok(r) => {
                let (size, range) = (r.meta.size, r.range.clone());
                let bytes = match head {
                    true => bytes::Bytes::new(),
                    false => r.bytes().await?,
                };
                Ok(Some(ObjectRead { size, range, bytes }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// What [`Location::read_object`] read.
pub struct ObjectRead {
    /// The whole object's size.
    pub size: u64,
    /// The byte range `bytes` holds.
    pub range: std::ops::Range<u64>,
    pub bytes: bytes::Bytes,
}
