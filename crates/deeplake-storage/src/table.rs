//! A table handle: one committed version of a table directory, with scans,
//! random row reads, appends, deletes and compaction.
//!
//! Layout under the table directory:
//! `_versions/<v>.json` (manifests), `_latest` (hint), `data/<uuid>.dlf`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow_data::ArrayDataBuilder;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

use crate::codec::{self, ColumnChunk, Footer, RowLayout};
use crate::error::{Result, StorageError};
use crate::manifest::{to_ranges, Fragment, Log, Manifest, RewriteGroup, Transaction};

/// Page size assumed for aligning hints (a larger real page only makes the
/// hint fail, which costs speed, not correctness).
const PAGE: usize = 4096;

/// Mapped ranges at least this long are faulted in ahead of use.
const POPULATE_MIN: u64 = 256 * 1024;

/// Fragments read ahead of the consumer during a scan.
const SCAN_READ_AHEAD: usize = 16;

/// Per-fragment metadata read once and kept: data files never change.
struct FragmentMeta {
    footer: Footer,
    /// The whole file, mapped, when the table is on local disk.
    map: Option<Arc<memmap2::Mmap>>,
    /// Null bitmaps and offsets of columns read row by row, by column index.
    aux: Mutex<HashMap<usize, Arc<ColumnAux>>>,
}

struct ColumnAux {
    nulls: Option<NullBuffer>,
    offsets: Option<Vec<u64>>,
}

#[derive(Default)]
struct Cache {
    fragments: Mutex<HashMap<String, Arc<FragmentMeta>>>,
}

/// An open table at one version. Cloning is cheap and shares caches.
#[derive(Clone)]
pub struct Table {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    name: String,
    manifest: Arc<Manifest>,
    /// `starts[i]` is the global index of fragment i's first live row.
    starts: Arc<Vec<u64>>,
    cache: Arc<Cache>,
    /// The table directory when the store is the local disk: data files are
    /// then memory-mapped, so reads are slices of the page cache instead of
    /// a system call and a copy each.
    local: Option<Arc<std::path::PathBuf>>,
}

/// A byte range of a mapped data file, owned by the `Bytes` built on it.
struct MapSlice {
    map: Arc<memmap2::Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

fn map_slice(map: &Arc<memmap2::Mmap>, r: &std::ops::Range<u64>) -> Result<Bytes> {
    if r.start > r.end || r.end > map.len() as u64 {
        return Err(StorageError::Corrupt(
            "read past the end of a data file".into(),
        ));
    }
    Ok(Bytes::from_owner(MapSlice {
        map: map.clone(),
        start: r.start as usize,
        end: r.end as usize,
    }))
}

/// Runs blocking work (page faults, file opens) on tokio's blocking pool when
/// a runtime is there, else inline.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => match h.spawn_blocking(f).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
        Err(_) => f(),
    }
}

/// Opens and maps a local data file and reads its footer.
fn map_file(path: std::path::PathBuf) -> Result<(Footer, Arc<memmap2::Mmap>)> {
    let file = std::fs::File::open(&path)
        .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))?;
    // SAFETY: data files are immutable once written (new data goes to new
    // files), so the mapping never sees a write.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))?;
    let footer = codec::parse_footer(&map, map.len() as u64)?
        .map_err(|_| StorageError::Corrupt("footer unreadable".into()))?;
    Ok((footer, Arc::new(map)))
}

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
        self.starts = Arc::new(starts);
        self.manifest = Arc::new(manifest);
    }

    fn handle(
        store: Arc<dyn ObjectStore>,
        dir: Path,
        local: Option<std::path::PathBuf>,
        name: &str,
        manifest: Manifest,
    ) -> Table {
        let mut t = Table {
            store,
            dir,
            name: name.to_string(),
            manifest: Arc::new(manifest.clone()),
            starts: Arc::new(vec![]),
            cache: Arc::default(),
            local: local.map(Arc::new),
        };
        t.set_manifest(manifest);
        t
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
            .commit(&Transaction::Create { schema })
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
        self.manifest.live_rows()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        let m = self
            .log()
            .latest()
            .await?
            .ok_or_else(|| StorageError::TableNotFound(self.name.clone()))?;
        let changed = m.version != self.manifest.version;
        if changed {
            self.set_manifest(m);
        }
        Ok(changed)
    }

    /// Writes a batch as an uncommitted fragment, invisible until committed.
    pub async fn write_fragment(&self, batch: &RecordBatch) -> Result<Fragment> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let pieces = codec::encode(batch)?;
        self.store
            .put(&data_path(&self.dir, &id), PutPayload::from_iter(pieces))
            .await?;
        Ok(Fragment {
            id,
            rows: batch.num_rows() as u64,
            deleted: vec![],
        })
    }

    async fn commit(&mut self, txn: Transaction) -> Result<()> {
        let m = self.log().commit(&txn).await.map_err(|e| match e {
            StorageError::TableNotFound(_) => StorageError::TableNotFound(self.name.clone()),
            e => e,
        })?;
        self.set_manifest(m);
        Ok(())
    }

    /// Commits written fragments as an append (rebasing over concurrent commits).
    pub async fn commit_append(&mut self, fragments: Vec<Fragment>) -> Result<()> {
        let schema = self.schema();
        self.commit(Transaction::Append { schema, fragments }).await
    }

    /// Commits a new version whose only rows are `fragments`, with `schema`.
    pub async fn commit_overwrite(
        &mut self,
        schema: SchemaRef,
        fragments: Vec<Fragment>,
    ) -> Result<()> {
        self.commit(Transaction::Overwrite { schema, fragments })
            .await
    }

    /// Writes and commits one batch.
    pub async fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let f = self.write_fragment(batch).await?;
        self.commit_append(vec![f]).await
    }

    async fn meta(&self, frag: &Fragment) -> Result<Arc<FragmentMeta>> {
        if let Some(m) = self.cache.fragments.lock().map_err(poisoned)?.get(&frag.id) {
            return Ok(m.clone());
        }
        let (footer, map) = match &self.local {
            Some(dir) => {
                let path = dir.join("data").join(format!("{}.dlf", frag.id));
                let (footer, map) = blocking(move || map_file(path)).await?;
                (footer, Some(map))
            }
            None => (self.remote_footer(frag).await?, None),
        };
        if footer.rows != frag.rows {
            return Err(StorageError::Corrupt(format!(
                "fragment {} row count mismatch",
                frag.id
            )));
        }
        let meta = Arc::new(FragmentMeta {
            footer,
            map,
            aux: Mutex::default(),
        });
        self.cache
            .fragments
            .lock()
            .map_err(poisoned)?
            .insert(frag.id.clone(), meta.clone());
        Ok(meta)
    }

    async fn remote_footer(&self, frag: &Fragment) -> Result<Footer> {
        let path = data_path(&self.dir, &frag.id);
        let opts = GetOptions {
            range: Some(GetRange::Suffix(codec::TAIL_GUESS)),
            ..Default::default()
        };
        let r = self.store.get_opts(&path, opts).await?;
        let size = r.meta.size;
        let tail = r.bytes().await?;
        match codec::parse_footer(&tail, size)? {
            Ok(f) => Ok(f),
            Err(need) => {
                let bytes = self.store.get_range(&path, size - need..size).await?;
                codec::parse_footer(&bytes, size)?
                    .map_err(|_| StorageError::Corrupt("footer unreadable".into()))
            }
        }
    }

    /// Byte ranges of a fragment's file: slices of the mapping when local.
    async fn ranges(
        &self,
        frag: &Fragment,
        meta: &FragmentMeta,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Bytes>> {
        match &meta.map {
            Some(map) => {
                let large: Vec<(usize, usize)> = ranges
                    .iter()
                    .filter(|r| r.end - r.start >= POPULATE_MIN && r.end <= map.len() as u64)
                    .map(|r| {
                        // madvise wants a page-aligned start.
                        let start = (r.start as usize) & !(PAGE - 1);
                        (start, r.end as usize - start)
                    })
                    .collect();
                if !large.is_empty() {
                    // Large ranges are scans: fault them in on a blocking
                    // thread, so the fragments a scan reads ahead have their
                    // disk reads in flight together. A failed hint only
                    // costs speed.
                    let map = map.clone();
                    blocking(move || {
                        for (start, len) in large {
                            let _ = map.advise_range(memmap2::Advice::PopulateRead, start, len);
                        }
                    })
                    .await;
                }
                ranges.iter().map(|r| map_slice(map, r)).collect()
            }
            None if ranges.is_empty() => Ok(vec![]),
            None => Ok(self
                .store
                .get_ranges(&data_path(&self.dir, &frag.id), ranges)
                .await?),
        }
    }

    fn projected(&self, projection: Option<&[&str]>) -> Result<SchemaRef> {
        let schema = self.schema();
        match projection {
            None => Ok(schema),
            Some(cols) => {
                let idx = cols
                    .iter()
                    .map(|c| schema.index_of(c))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Arc::new(schema.project(&idx)?))
            }
        }
    }

    /// Reads the projected columns of fragment `i`, deleted rows removed.
    pub async fn read_fragment(
        &self,
        i: usize,
        projection: Option<&[&str]>,
    ) -> Result<RecordBatch> {
        let schema = self.projected(projection)?;
        self.read_fragment_as(i, &schema).await
    }

    async fn read_fragment_as(&self, i: usize, schema: &SchemaRef) -> Result<RecordBatch> {
        let frag = self.manifest.fragments.get(i).ok_or_else(|| {
            StorageError::Corrupt(format!(
                "fragment {i} does not exist (the table has {})",
                self.manifest.fragments.len()
            ))
        })?;
        let meta = self.meta(frag).await?;
        let mut ranges = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            let chunk = meta
                .footer
                .column(f.name())
                .ok_or_else(|| StorageError::Corrupt(format!("column '{}' missing", f.name())))?;
            ranges.push(chunk.span.offset..chunk.span.offset + chunk.span.len);
        }
        let bytes = self.ranges(frag, &meta, &ranges).await?;
        let cols: Vec<(Bytes, u64)> = bytes
            .into_iter()
            .zip(ranges.iter().map(|r| r.start))
            .collect();
        let batch = codec::decode_batch(schema, &meta.footer, &cols)?;
        if frag.deleted.is_empty() {
            return Ok(batch);
        }
        let keep: BooleanArray = (0..frag.rows).map(|r| Some(!frag.is_deleted(r))).collect();
        Ok(arrow_select::filter::filter_record_batch(&batch, &keep)?)
    }

    /// Streams the projected columns, one batch per fragment, in row order.
    pub fn scan(
        &self,
        projection: Option<&[&str]>,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let schema = self.projected(projection)?;
        let this = self.clone();
        let n = self.manifest.fragments.len();
        Ok(stream::iter(0..n)
            .map(move |i| {
                let t = this.clone();
                let s = schema.clone();
                async move { t.read_fragment_as(i, &s).await }
            })
            .buffered(SCAN_READ_AHEAD)
            .boxed())
    }

    /// Fragment index and local row of global live row `row`.
    fn locate(&self, row: u64) -> Result<(usize, u64)> {
        if row >= self.len() {
            return Err(StorageError::RowOutOfRange {
                row,
                len: self.len(),
            });
        }
        let i = self.starts.partition_point(|s| *s <= row) - 1;
        // Skip empty fragments that share a start with the next one.
        let mut i = i;
        while self.manifest.fragments[i].live_rows() == 0
            || row - self.starts[i] >= self.manifest.fragments[i].live_rows()
        {
            i += 1;
        }
        Ok((i, self.manifest.fragments[i].nth_live(row - self.starts[i])))
    }

    /// Reads the given rows (global live indices, any order, repeats allowed).
    ///
    /// Fixed-width and variable-width columns are read at each row's own
    /// bytes, so a blob row costs about its own size; other columns read
    /// their whole chunk in the fragment.
    pub async fn take(&self, rows: &[u64], projection: Option<&[&str]>) -> Result<RecordBatch> {
        let schema = self.projected(projection)?;
        let mut by_frag: Vec<(usize, Vec<u64>, Vec<usize>)> = Vec::new();
        let mut slot: HashMap<usize, usize> = HashMap::new();
        for (pos, &r) in rows.iter().enumerate() {
            let (f, local) = self.locate(r)?;
            let k = *slot.entry(f).or_insert_with(|| {
                by_frag.push((f, vec![], vec![]));
                by_frag.len() - 1
            });
            by_frag[k].1.push(local);
            by_frag[k].2.push(pos);
        }
        let mut parts: Vec<RecordBatch> = Vec::with_capacity(by_frag.len());
        let mut order: Vec<usize> = Vec::with_capacity(rows.len());
        for (f, locals, positions) in &by_frag {
            parts.push(self.take_local(*f, locals, &schema).await?);
            order.extend(positions);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        if parts.is_empty() {
            return Ok(RecordBatch::try_new_with_options(
                schema.clone(),
                schema
                    .fields()
                    .iter()
                    .map(|f| arrow_array::new_empty_array(f.data_type()))
                    .collect(),
                &options,
            )?);
        }
        let all = arrow_select::concat::concat_batches(&schema, &parts)?;
        if order.windows(2).all(|w| w[0] < w[1]) {
            return Ok(all);
        }
        // Undo the grouping by fragment: output row `pos` is gathered row k.
        let mut inverse = vec![0u32; rows.len()];
        for (k, pos) in order.iter().enumerate() {
            inverse[*pos] = k as u32;
        }
        let idx = UInt32Array::from(inverse);
        let cols = all
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new_with_options(schema, cols, &options)?)
    }

    async fn take_local(
        &self,
        f: usize,
        locals: &[u64],
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let frag = &self.manifest.fragments[f];
        let meta = self.meta(frag).await?;
        let mut cols = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let (ci, chunk) = meta
                .footer
                .columns
                .iter()
                .enumerate()
                .find(|(_, c)| c.field.name() == field.name())
                .ok_or_else(|| {
                    StorageError::Corrupt(format!("column '{}' missing", field.name()))
                })?;
            let col = match RowLayout::of(chunk) {
                RowLayout::Whole => None,
                _ if locals.len() as u64 * 4 > frag.rows => None,
                layout => Some(
                    self.read_rows(frag, &meta, ci, chunk, layout, locals)
                        .await?,
                ),
            };
            let col = match col {
                Some(c) => c,
                None => {
                    let span = chunk.span.offset..chunk.span.offset + chunk.span.len;
                    let bytes = self.one_range(frag, &meta, span.clone()).await?;
                    let whole = codec::decode_column(chunk, &bytes, span.start)?;
                    let idx: UInt32Array = locals.iter().map(|r| *r as u32).collect();
                    arrow_select::take::take(whole.as_ref(), &idx, None)?
                }
            };
            cols.push(col);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(locals.len()));
        Ok(RecordBatch::try_new_with_options(
            schema.clone(),
            cols,
            &options,
        )?)
    }

    async fn one_range(
        &self,
        frag: &Fragment,
        meta: &FragmentMeta,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes> {
        self.ranges(frag, meta, &[range])
            .await?
            .pop()
            .ok_or_else(|| StorageError::Corrupt("short read".into()))
    }

    async fn aux(
        &self,
        frag: &Fragment,
        meta: &FragmentMeta,
        ci: usize,
        chunk: &ColumnChunk,
        layout: &RowLayout,
    ) -> Result<Arc<ColumnAux>> {
        if let Some(a) = meta.aux.lock().map_err(poisoned)?.get(&ci) {
            return Ok(a.clone());
        }
        let node = &chunk.node;
        let nulls = match &node.nulls {
            Some((region, bit_offset)) => {
                let b = self
                    .one_range(frag, meta, region.offset..region.offset + region.len)
                    .await?;
                Some(NullBuffer::new(BooleanBuffer::new(
                    Buffer::from(b.to_vec()),
                    *bit_offset,
                    node.len,
                )))
            }
            None => None,
        };
        let offsets = match layout {
            RowLayout::Variable {
                offsets,
                large,
                offset,
                ..
            } => {
                let b = self
                    .one_range(frag, meta, offsets.offset..offsets.offset + offsets.len)
                    .await?;
                let w = if *large { 8 } else { 4 };
                let all: Vec<u64> = b
                    .chunks_exact(w)
                    .map(|c| {
                        if *large {
                            i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as u64
                        } else {
                            i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as u64
                        }
                    })
                    .collect();
                if all.len() < offset + node.len + 1 {
                    return Err(StorageError::Corrupt("offsets buffer too short".into()));
                }
                Some(all[*offset..*offset + node.len + 1].to_vec())
            }
            _ => None,
        };
        let aux = Arc::new(ColumnAux { nulls, offsets });
        meta.aux.lock().map_err(poisoned)?.insert(ci, aux.clone());
        Ok(aux)
    }

    async fn read_rows(
        &self,
        frag: &Fragment,
        meta: &FragmentMeta,
        ci: usize,
        chunk: &ColumnChunk,
        layout: RowLayout,
        locals: &[u64],
    ) -> Result<ArrayRef> {
        let aux = self.aux(frag, meta, ci, chunk, &layout).await?;
        let ranges: Vec<std::ops::Range<u64>> = match &layout {
            RowLayout::Fixed {
                values,
                width,
                offset,
            } => locals
                .iter()
                .map(|r| {
                    let start = values.offset + (*offset as u64 + r) * *width as u64;
                    start..start + *width as u64
                })
                .collect(),
            RowLayout::Variable { values, .. } => {
                let offs = aux
                    .offsets
                    .as_ref()
                    .ok_or_else(|| StorageError::Corrupt("offsets missing".into()))?;
                locals
                    .iter()
                    .map(|r| {
                        values.offset + offs[*r as usize]..values.offset + offs[*r as usize + 1]
                    })
                    .collect()
            }
            RowLayout::Whole => return Err(StorageError::Corrupt("row layout".into())),
        };
        for r in &ranges {
            if r.end > chunk.span.offset + chunk.span.len {
                return Err(StorageError::Corrupt("row outside its column".into()));
            }
        }
        let nonempty: Vec<std::ops::Range<u64>> =
            ranges.iter().filter(|r| r.end > r.start).cloned().collect();
        let fetched = self.ranges(frag, meta, &nonempty).await?;
        let nulls = aux
            .nulls
            .as_ref()
            .map(|n| NullBuffer::from_iter(locals.iter().map(|r| n.is_valid(*r as usize))));
        let dt = chunk.field.data_type().clone();
        let total: usize = ranges.iter().map(|r| (r.end - r.start) as usize).sum();
        let mut offsets: Vec<i64> = Vec::with_capacity(locals.len() + 1);
        offsets.push(0);
        let mut end = 0i64;
        for r in &ranges {
            end += (r.end - r.start) as i64;
            offsets.push(end);
        }
        // One range (a single row, the random-access case) is used as it
        // comes: with a mapped file that is zero-copy.
        let values = match fetched.len() {
            1 => fetched
                .into_iter()
                .next()
                .map(Buffer::from)
                .unwrap_or_else(|| Buffer::from_vec(Vec::<u8>::new())),
            _ => {
                let mut v = Vec::with_capacity(total);
                for b in &fetched {
                    v.extend_from_slice(b);
                }
                Buffer::from_vec(v)
            }
        };
        let n = locals.len();
        let data = match (&layout, &dt) {
            (RowLayout::Fixed { .. }, arrow_schema::DataType::FixedSizeList(f, _)) => {
                let child = ArrayDataBuilder::new(f.data_type().clone())
                    .len(total / f.data_type().primitive_width().unwrap_or(1))
                    .add_buffer(values)
                    .build()?;
                ArrayDataBuilder::new(dt.clone())
                    .len(n)
                    .nulls(nulls)
                    .add_child_data(child)
                    .build()?
            }
            (RowLayout::Fixed { .. }, _) => ArrayDataBuilder::new(dt.clone())
                .len(n)
                .nulls(nulls)
                .add_buffer(values)
                .build()?,
            (RowLayout::Variable { large: true, .. }, _) => ArrayDataBuilder::new(dt.clone())
                .len(n)
                .nulls(nulls)
                .add_buffer(Buffer::from_vec(offsets))
                .add_buffer(values)
                .build()?,
            _ => {
                let small: Vec<i32> = offsets.iter().map(|o| *o as i32).collect();
                ArrayDataBuilder::new(dt.clone())
                    .len(n)
                    .nulls(nulls)
                    .add_buffer(Buffer::from_vec(small))
                    .add_buffer(values)
                    .build()?
            }
        };
        Ok(arrow_array::make_array(data))
    }

    /// Deletes the rows for which `predicate` is true; returns how many.
    ///
    /// The predicate sees each fragment's live rows (all columns). A
    /// concurrent commit touching the same fragments makes it start over.
    pub async fn delete_where<P>(&mut self, predicate: P) -> Result<u64>
    where
        P: Fn(&RecordBatch) -> Result<BooleanArray>,
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
                    ));
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
                        id: frag.id.clone(),
                        rows: frag.rows,
                        deleted: to_ranges(all),
                    }],
                });
            }
            if count == 0 {
                return Ok(0);
            }
            match self
                .commit(Transaction::Rewrite {
                    groups,
                    operation: "delete",
                })
                .await
            {
                Ok(()) => return Ok(count),
                Err(StorageError::Conflict(_)) => continue,
                Err(e) => return Err(e),
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
                    replace_with.push(self.write_fragment(&compacted(&all.slice(at, n))?).await?);
                    at += n;
                }
                groups.push(RewriteGroup {
                    base: self.manifest.fragments[run].to_vec(),
                    replace_with,
                });
            }
            let replaced = groups.iter().map(|g| g.base.len()).sum();
            match self
                .commit(Transaction::Rewrite {
                    groups,
                    operation: "compact",
                })
                .await
            {
                Ok(()) => return Ok(replaced),
                Err(StorageError::Conflict(_)) => continue,
                Err(e) => return Err(e),
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

/// A copy of `batch` whose buffers hold only its rows (slices keep the whole
/// parent buffers alive and would be written out in full).
pub fn compacted(batch: &RecordBatch) -> Result<RecordBatch> {
    let cols = batch
        .columns()
        .iter()
        .map(|c| {
            let data = c.to_data();
            let mut m = arrow_data::transform::MutableArrayData::new(vec![&data], false, c.len());
            m.try_extend(0, 0, c.len())?;
            Ok(arrow_array::make_array(m.freeze()))
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        cols,
        &options,
    )?)
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StorageError {
    StorageError::Corrupt("a reader thread panicked while holding the fragment cache".into())
}
