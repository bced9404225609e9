//! Reading a table: memory-mapped or ranged fragment reads, projected scans
//! with read-ahead, and random row reads at each row's own bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow_data::ArrayDataBuilder;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use crate::codec::{self, ColumnChunk, Footer, RowLayout};
use crate::error::{Result, StorageError};
use crate::manifest::Fragment;

use super::{data_path, poisoned, Table};

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
    /// Page-aligned ranges of `map` already faulted in: asking again walks
    /// every page table entry of the range (a fifth of an exact top-k's
    /// time over 200k x 384 vectors) to find them all present.
    populated: Mutex<std::collections::HashSet<(usize, usize)>>,
}

struct ColumnAux {
    nulls: Option<NullBuffer>,
    offsets: Option<Vec<u64>>,
}

#[derive(Default)]
pub(super) struct Cache {
    fragments: Mutex<HashMap<String, Arc<FragmentMeta>>>,
    /// Mappings of local data files by stem; a file that grew past its
    /// mapping (a fragment appended later) is mapped again.
    maps: Mutex<HashMap<String, Arc<memmap2::Mmap>>>,
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
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => match h.spawn_blocking(f).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
        Err(_) => f(),
    }
}

/// Opens and maps a local data file. A file the manifest names that is
/// gone is a damaged table; any other failure is the disk's.
fn map_file(path: std::path::PathBuf) -> Result<Arc<memmap2::Mmap>> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => StorageError::Corrupt(format!("{}: {e}", path.display())),
        _ => StorageError::Io {
            path: path.display().to_string(),
            source: e,
        },
    };
    let file = std::fs::File::open(&path).map_err(io)?;
    // SAFETY: bytes of a data file never change once written (files only
    // grow by appends past every committed fragment, see `datafile`), so the
    // mapping never sees a write.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    Ok(Arc::new(map))
}

impl Table {
    async fn map(&self, stem: &str, end: Option<u64>) -> Result<Arc<memmap2::Mmap>> {
        let covers = |m: &memmap2::Mmap| end.is_none_or(|e| m.len() as u64 >= e);
        if let Some(m) = self.cache.maps.lock().map_err(poisoned)?.get(stem) {
            if covers(m) {
                return Ok(m.clone());
            }
        }
        let dir = self
            .local
            .as_ref()
            .ok_or_else(|| StorageError::Corrupt("not a local table".into()))?;
        let path = dir.join("data").join(format!("{stem}.dlf"));
        let map = blocking(move || map_file(path)).await?;
        if !covers(&map) {
            return Err(StorageError::Corrupt(format!(
                "data file {stem} is shorter than its fragments"
            )));
        }
        self.cache
            .maps
            .lock()
            .map_err(poisoned)?
            .insert(stem.to_string(), map.clone());
        Ok(map)
    }

    async fn meta(&self, frag: &Fragment) -> Result<Arc<FragmentMeta>> {
        if let Some(m) = self.cache.fragments.lock().map_err(poisoned)?.get(&frag.id) {
            return Ok(m.clone());
        }
        let (footer, map) = match &self.local {
            Some(_) => {
                let map = self.map(frag.file(), frag.end()).await?;
                let end = frag.end().unwrap_or(map.len() as u64) as usize;
                let len = frag.span.as_ref().map_or(end as u64, |s| s.len);
                let footer = codec::parse_footer(&map[..end], len)?
                    .map_err(|_| StorageError::Corrupt("footer unreadable".into()))?;
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
            populated: Mutex::default(),
        });
        self.cache
            .fragments
            .lock()
            .map_err(poisoned)?
            .insert(frag.id.clone(), meta.clone());
        Ok(meta)
    }

    async fn remote_footer(&self, frag: &Fragment) -> Result<Footer> {
        let path = data_path(&self.dir, frag.file());
        let (tail, end, len) = match &frag.span {
            None => {
                let opts = GetOptions {
                    range: Some(GetRange::Suffix(codec::TAIL_GUESS)),
                    ..Default::default()
                };
                let r = self.store.get_opts(&path, opts).await?;
                let size = r.meta.size;
                (r.bytes().await?, size, size)
            }
            Some(span) => {
                let end = span.offset + span.len;
                let start = end - codec::TAIL_GUESS.min(span.len);
                (
                    self.store.get_range(&path, start..end).await?,
                    end,
                    span.len,
                )
            }
        };
        match codec::parse_footer(&tail, len)? {
            Ok(f) => Ok(f),
            Err(need) => {
                let bytes = self.store.get_range(&path, end - need..end).await?;
                codec::parse_footer(&bytes, len)?
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
                let mut large: Vec<std::ops::Range<u64>> = ranges
                    .iter()
                    .filter(|r| r.end - r.start >= POPULATE_MIN && r.end <= map.len() as u64)
                    .cloned()
                    .collect();
                // In a shared file, a read of most of a fragment faults in
                // the whole fragment: one sequential read of the file
                // rather than one per column with gaps between them.
                let wanted: u64 = large.iter().map(|r| r.end - r.start).sum();
                if let Some(span) = frag.span.as_ref().filter(|s| wanted * 2 >= s.len) {
                    let end = (span.offset + span.len).min(map.len() as u64);
                    large = std::iter::once(span.offset..end).collect();
                }
                let mut large: Vec<(usize, usize)> = large
                    .iter()
                    .map(|r| {
                        // madvise wants a page-aligned start.
                        let start = (r.start as usize) & !(PAGE - 1);
                        (start, r.end as usize - start)
                    })
                    .collect();
                // Once per range: pages the kernel evicts later fault in
                // on access, which a missed hint only slows.
                if let Ok(mut done) = meta.populated.lock() {
                    large.retain(|r| done.insert(*r));
                }
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
                .get_ranges(&data_path(&self.dir, frag.file()), ranges)
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
        self.read_data(frag, schema).await
    }

    /// Reads the projected columns of a fragment this handle wrote and has
    /// not committed yet (for checks a commit must pass first).
    pub async fn read_written(
        &self,
        frag: &Fragment,
        projection: Option<&[&str]>,
    ) -> Result<RecordBatch> {
        let schema = self.projected(projection)?;
        self.read_data(frag, &schema).await
    }

    async fn read_data(&self, frag: &Fragment, schema: &SchemaRef) -> Result<RecordBatch> {
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
        // The last fragment starting at or before `row` holds it: an empty
        // fragment shares its start with the next one, so it is never last.
        let i = self.starts.partition_point(|s| *s <= row) - 1;
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
                .map(codec::aligned)
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
}
