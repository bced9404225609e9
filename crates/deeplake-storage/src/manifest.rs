//! Versioned manifests: the list of live fragments and the schema, one
//! immutable JSON object per version at `_versions/<v, 20 digits>.json`.
//!
//! A commit creates the next version's object with a conditional put
//! (`PutMode::Create`), so of two writers racing for the same version exactly
//! one wins; the loser re-reads the latest manifest, rebases its transaction
//! on it and tries the next number. Data files are written before the
//! manifest that names them, so a crash at any instant leaves the last
//! committed version intact and only unreferenced files behind.
//!
//! Indexes ride in the manifest too ([`IndexMeta`]). Their invariant: an
//! index answers only for the fragments its segments list that are live in
//! the same manifest, naming rows as (fragment id, local row). A fragment's
//! id never changes while its rows keep their places (a delete only adds
//! deletion ranges, which readers skip), and every rewrite that moves rows
//! gives the new fragments new ids, so no commit can leave an index
//! pointing at rows that changed: rows of live fragments no segment lists
//! (appended after the build, or compacted) are simply unindexed, for
//! readers to scan exactly until a new segment covers them.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_schema::{Schema, SchemaRef};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};

/// The newest table format this build reads. Format 2: a fragment may be
/// a byte range of a data file it shares with others. Format 3: the
/// manifest lists indexes. A manifest without indexes is still written as
/// format 2, so builds that predate indexes keep reading such tables; one
/// with indexes is refused by them rather than rewritten without its
/// indexes.
pub const FORMAT: u32 = 3;
const FORMAT_WITHOUT_INDEXES: u32 = 2;

/// One immutable run of rows in a data file, and which of them are deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fragment {
    /// Unique name of the fragment (a UUID); also the file stem under
    /// `data/` when the fragment is a whole file.
    pub id: String,
    pub rows: u64,
    /// Deleted local rows as sorted, disjoint half-open ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<(u64, u64)>,
    /// Where the fragment lies when it shares a data file: a writer on local
    /// disk appends each commit's rows to one file, so an ingest leaves a
    /// few large files rather than one small file per commit. None: the
    /// fragment is the whole file `data/<id>.dlf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<FileSpan>,
}

/// A fragment's bytes inside a shared data file. The range holds a whole
/// fragment encoding (magic, buffers, footer, trailer) whose buffer regions
/// are offsets from the start of the file, so a mapping of the file serves
/// every fragment in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpan {
    /// File stem under `data/`.
    pub file: String,
    pub offset: u64,
    pub len: u64,
}

impl Fragment {
    /// Stem of the data file that holds the fragment.
    pub fn file(&self) -> &str {
        self.span.as_ref().map_or(&self.id, |s| &s.file)
    }

    /// Where the fragment's trailer ends (None: at the end of its file).
    pub fn end(&self) -> Option<u64> {
        self.span.as_ref().map(|s| s.offset + s.len)
    }

    pub fn live_rows(&self) -> u64 {
        let deleted: u64 = self.deleted.iter().map(|(a, b)| b.saturating_sub(*a)).sum();
        self.rows.saturating_sub(deleted)
    }

    pub fn is_deleted(&self, row: u64) -> bool {
        let i = self.deleted.partition_point(|(_, end)| *end <= row);
        self.deleted.get(i).is_some_and(|(start, _)| *start <= row)
    }

    /// Local row index of the `n`-th live row.
    pub fn nth_live(&self, n: u64) -> u64 {
        let mut row = n;
        for (start, end) in &self.deleted {
            if *start <= row {
                row += end - start;
            } else {
                break;
            }
        }
        row
    }
}

/// Turns sorted row numbers into half-open ranges.
pub fn to_ranges(rows: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((_, end)) if *end == r => *end += 1,
            _ => out.push((r, r + 1)),
        }
    }
    out
}

/// A secondary index: its definition, and the immutable files that hold
/// it, in segments that each cover a set of fragments (see the module's
/// invariant). Index files live under the table's `index/<segment id>/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub name: String,
    /// The indexed columns: one, or two for a hybrid index.
    pub columns: Vec<String>,
    /// The index type as the SQL names it (`bm25`, `clustered`, ...).
    pub index_type: String,
    /// Build parameters (`dimension`, a partition count, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub params: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub segments: Vec<IndexSegment>,
}

/// One build of an index over some fragments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSegment {
    /// Unique name (a UUID): the directory under `index/` of its files.
    pub id: String,
    pub files: Vec<String>,
    /// Ids of the fragments whose rows the segment indexes.
    pub fragments: Vec<String>,
}

impl IndexMeta {
    /// The index with only the segments' fragments that are in `live`;
    /// segments left with none are dropped (their files stay for older
    /// versions). A fragment that left keeps its place in the segment's
    /// list as an empty id: index files name rows by their fragment's
    /// place in that list, so the places of the others must not move.
    fn pruned(&self, live: &HashSet<&str>) -> IndexMeta {
        let segments = self
            .segments
            .iter()
            .filter_map(|s| {
                let fragments: Vec<String> = s
                    .fragments
                    .iter()
                    .map(|f| match live.contains(f.as_str()) {
                        true => f.clone(),
                        false => String::new(),
                    })
                    .collect();
                fragments
                    .iter()
                    .any(|f| !f.is_empty())
                    .then(|| IndexSegment {
                        fragments,
                        ..s.clone()
                    })
            })
            .collect();
        IndexMeta {
            segments,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of the table format that wrote this manifest.
    pub format: u32,
    pub version: u64,
    #[serde(with = "crate::schema_codec::ipc_schema")]
    pub schema: SchemaRef,
    pub fragments: Vec<Fragment>,
    pub timestamp_ms: u64,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexMeta>,
}

impl Manifest {
    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

/// What a commit changes, replayable on top of a newer manifest.
#[derive(Debug, Clone)]
pub enum Transaction {
    Create {
        schema: SchemaRef,
    },
    Append {
        schema: SchemaRef,
        fragments: Vec<Fragment>,
    },
    Overwrite {
        schema: SchemaRef,
        fragments: Vec<Fragment>,
    },
    /// Replaces runs of fragments, as they were when read, each by its
    /// replacement, in place (deletes, compaction).
    Rewrite {
        groups: Vec<RewriteGroup>,
        operation: &'static str,
    },
    /// Defines an index (with the segments already built, if any).
    CreateIndex {
        index: IndexMeta,
    },
    DropIndex {
        name: String,
    },
    /// Adds segments to an index: the rows committed since its last build.
    /// Fragments rewritten meanwhile are left out of them.
    AddIndexSegments {
        name: String,
        segments: Vec<IndexSegment>,
    },
    /// Segments merged into fewer: `replaced` (segment ids) leave, and
    /// `segments`, built over their fragments, take their place. Fails
    /// as a conflict when one of them left meanwhile (merged by another).
    ReplaceIndexSegments {
        name: String,
        replaced: Vec<String>,
        segments: Vec<IndexSegment>,
    },
}

/// Fragments read by a rewrite and what stands in their place.
#[derive(Debug, Clone)]
pub struct RewriteGroup {
    pub base: Vec<Fragment>,
    pub replace_with: Vec<Fragment>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Transaction {
    /// The manifest this transaction makes on top of `latest` (None: table is new).
    fn apply(&self, latest: Option<&Manifest>) -> Result<Manifest> {
        let version = latest.map_or(1, |m| m.version + 1);
        let mut indexes = latest.map(|m| m.indexes.clone()).unwrap_or_default();
        let (schema, fragments, operation) = match (self, latest) {
            (Transaction::Create { schema }, None) => (schema.clone(), vec![], "create"),
            (Transaction::Create { .. }, Some(_)) => {
                return Err(StorageError::TableExists(String::new()));
            }
            (_, None) => return Err(StorageError::TableNotFound(String::new())),
            (Transaction::Append { schema, fragments }, Some(m)) => {
                if !same_columns(schema, &m.schema) {
                    return Err(StorageError::SchemaMismatch(
                        "the table's schema changed while appending".into(),
                    ));
                }
                let mut all = m.fragments.clone();
                all.extend(fragments.iter().cloned());
                (m.schema.clone(), all, "append")
            }
            (Transaction::Overwrite { schema, fragments }, Some(m)) => {
                // Definitions whose columns keep their types stay, to be
                // built again over the new rows.
                indexes.retain(|i| {
                    i.columns.iter().all(|c| {
                        match (schema.field_with_name(c), m.schema.field_with_name(c)) {
                            (Ok(a), Ok(b)) => a.data_type() == b.data_type(),
                            _ => false,
                        }
                    })
                });
                for i in &mut indexes {
                    i.segments.clear();
                }
                (schema.clone(), fragments.clone(), "overwrite")
            }
            (Transaction::Rewrite { groups, operation }, Some(m)) => {
                for f in groups.iter().flat_map(|g| &g.base) {
                    if !m.fragments.contains(f) {
                        return Err(StorageError::Conflict(format!(
                            "fragment {} changed concurrently",
                            f.id
                        )));
                    }
                }
                let mut all: Vec<Fragment> = Vec::with_capacity(m.fragments.len());
                for f in &m.fragments {
                    match groups.iter().find(|g| g.base.contains(f)) {
                        // The group's replacements stand where its first fragment stood.
                        Some(g) if g.base.first() == Some(f) => {
                            all.extend(g.replace_with.iter().cloned())
                        }
                        Some(_) => {}
                        None => all.push(f.clone()),
                    }
                }
                (m.schema.clone(), all, *operation)
            }
            (Transaction::CreateIndex { index }, Some(m)) => {
                check_new_index(index, m)?;
                indexes.push(index.clone());
                (m.schema.clone(), m.fragments.clone(), "create_index")
            }
            (Transaction::DropIndex { name }, Some(m)) => {
                if m.index(name).is_none() {
                    return Err(StorageError::IndexNotFound(name.clone()));
                }
                indexes.retain(|i| &i.name != name);
                (m.schema.clone(), m.fragments.clone(), "drop_index")
            }
            (Transaction::AddIndexSegments { name, segments }, Some(m)) => {
                let index = indexes
                    .iter_mut()
                    .find(|i| &i.name == name)
                    .ok_or_else(|| StorageError::IndexNotFound(name.clone()))?;
                index.segments.extend(segments.iter().cloned());
                (m.schema.clone(), m.fragments.clone(), "index")
            }
            (
                Transaction::ReplaceIndexSegments {
                    name,
                    replaced,
                    segments,
                },
                Some(m),
            ) => {
                let index = indexes
                    .iter_mut()
                    .find(|i| &i.name == name)
                    .ok_or_else(|| StorageError::IndexNotFound(name.clone()))?;
                if let Some(gone) = replaced
                    .iter()
                    .find(|id| !index.segments.iter().any(|s| &s.id == *id))
                {
                    return Err(StorageError::Conflict(format!(
                        "segment {gone} of index {name} changed concurrently"
                    )));
                }
                index.segments.retain(|s| !replaced.contains(&s.id));
                index.segments.extend(segments.iter().cloned());
                (m.schema.clone(), m.fragments.clone(), "index_merge")
            }
        };
        // Most commits are appends to tables without indexes: the set of
        // live ids is made only when a segment lists fragments.
        if indexes.iter().any(|i| !i.segments.is_empty()) {
            let live: HashSet<&str> = fragments.iter().map(|f| f.id.as_str()).collect();
            indexes = indexes.iter().map(|i| i.pruned(&live)).collect();
        }
        Ok(Manifest {
            format: match indexes.is_empty() {
                true => FORMAT_WITHOUT_INDEXES,
                false => FORMAT,
            },
            version,
            schema,
            fragments,
            timestamp_ms: now_ms(),
            operation: operation.into(),
            indexes,
        })
    }
}

/// An index may be added when its name is new, its columns exist, and no
/// other index covers any of them (one index per column, as the
/// reference has it).
fn check_new_index(index: &IndexMeta, m: &Manifest) -> Result<()> {
    if m.index(&index.name).is_some() {
        return Err(StorageError::IndexExists(index.name.clone()));
    }
    for c in &index.columns {
        if m.schema.field_with_name(c).is_err() {
            return Err(StorageError::SchemaMismatch(format!(
                "column '{c}' does not exist"
            )));
        }
        if let Some(other) = m.indexes.iter().find(|i| i.columns.contains(c)) {
            return Err(StorageError::IndexConflict(
                match other.index_type == index.index_type {
                    true => format!("column '{c}' already has index '{}'", other.name),
                    false => format!(
                        "Conflicting index types for column '{c}': '{}' has type {}, not {}",
                        other.name, other.index_type, index.index_type
                    ),
                },
            ));
        }
    }
    Ok(())
}

/// Schemas are compatible for appends when names and types match, in order.
pub fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

/// The manifests of one table directory.
pub struct Log<'a> {
    pub store: &'a dyn ObjectStore,
    pub dir: &'a Path,
}

impl Log<'_> {
    fn version_path(&self, v: u64) -> Path {
        self.dir
            .clone()
            .join("_versions")
            .join(format!("{v:020}.json"))
    }

    fn hint_path(&self) -> Path {
        self.dir.clone().join("_latest")
    }

    pub async fn load(&self, version: u64) -> Result<Option<Manifest>> {
        match self.store.get(&self.version_path(version)).await {
            Ok(r) => {
                let bytes = r.bytes().await?;
                // Check the format before the full parse, so a newer layout
                // gets a clear message rather than a field-level parse error.
                #[derive(Deserialize)]
                struct Head {
                    format: u32,
                }
                // A manifest that does not parse is damage, not an encoding bug.
                let corrupt = |e: serde_json::Error| {
                    StorageError::Corrupt(format!(
                        "manifest of version {version} does not parse: {e}"
                    ))
                };
                let head: Head = serde_json::from_slice(&bytes).map_err(corrupt)?;
                if head.format > FORMAT {
                    return Err(StorageError::Corrupt(format!(
                        "table format {} is newer than this build reads ({FORMAT}); upgrade deeplake",
                        head.format
                    )));
                }
                serde_json::from_slice(&bytes).map(Some).map_err(corrupt)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, version: u64) -> Result<bool> {
        match self.store.head(&self.version_path(version)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The newest committed version, or None when the table does not exist.
    ///
    /// Starts from the `_latest` hint (a lower bound, rewritten after each
    /// commit) and probes forward; falls back to listing when the hint is
    /// missing or names a version that no longer exists.
    pub async fn latest_version(&self) -> Result<Option<u64>> {
        let hint = match self.store.get(&self.hint_path()).await {
            Ok(r) => std::str::from_utf8(&r.bytes().await?)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let mut v = match hint {
            Some(h) if self.exists(h).await? => h,
            _ => match self.list_versions().await?.last() {
                Some(v) => *v,
                None => return Ok(None),
            },
        };
        while self.exists(v + 1).await? {
            v += 1;
        }
        Ok(Some(v))
    }

    pub async fn list_versions(&self) -> Result<Vec<u64>> {
        use futures::TryStreamExt;
        let prefix = self.dir.clone().join("_versions");
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut versions: Vec<u64> = metas
            .iter()
            .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    pub async fn latest(&self) -> Result<Option<Manifest>> {
        match self.latest_version().await? {
            Some(v) => self.load(v).await,
            None => Ok(None),
        }
    }

    /// Commits `txn`, rebasing on concurrent commits until it lands.
    ///
    /// `known` is the caller's latest manifest, if it has one (a writer that
    /// just committed): while its version still exists, the first attempt
    /// builds on it without reading the log. A stale `known` only costs one
    /// failed conditional create, as any lost race does.
    pub async fn commit(&self, txn: &Transaction, known: Option<&Manifest>) -> Result<Manifest> {
        let mut base = match known {
            Some(m) if self.exists(m.version).await? => Some(m.clone()),
            _ => None,
        };
        loop {
            let latest = match base.take() {
                Some(m) => Some(m),
                None => self.latest().await?,
            };
            let next = txn.apply(latest.as_ref())?;
            if self.put_version(&next).await? {
                return Ok(next);
            }
        }
    }

    /// Commits `txn` exactly on top of `base`: None when another commit
    /// took the next version first. For a writer that checked something
    /// against `base` (a `unique` column) and must not land on anything else.
    pub async fn commit_on(&self, txn: &Transaction, base: &Manifest) -> Result<Option<Manifest>> {
        let next = txn.apply(Some(base))?;
        Ok(self.put_version(&next).await?.then_some(next))
    }

    /// Writes `next` as its version unless that version exists; false if it does.
    async fn put_version(&self, next: &Manifest) -> Result<bool> {
        let body = serde_json::to_vec(next)?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(
                &self.version_path(next.version),
                PutPayload::from(body),
                opts,
            )
            .await
        {
            Ok(_) => {
                // The hint is only an accelerator; losing it costs a listing.
                let hint = PutPayload::from(next.version.to_string().into_bytes());
                let _ = self.store.put(&self.hint_path(), hint).await;
                Ok(true)
            }
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
