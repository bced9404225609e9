//! Creating a table's index and keeping it caught up.
//!
//! Create reads the column over the table's live fragments, builds one
//! segment, writes its files and commits the definition with the segment
//! in one commit: a crash before the commit leaves only unreferenced
//! files, and the table without the index. Rows appended while the build
//! ran are simply not covered (the manifest's invariant), and readers scan
//! them exactly until `catch_up` commits a segment over them.

use std::collections::BTreeMap;

use deeplake_storage::{IndexMeta, IndexSegment, StorageError, Table};
use deeplake_types::SpecType;

use crate::ivf::{Encoding, IvfParams};
use crate::kind::IndexKind;
use crate::search::default_nprobe;
use crate::segment::{
    build_lookup_segment, build_text_segment, build_vector_segment, holds_vectors, Loaded, Lookup,
};
use crate::unique::{refuse_repeats, Clash};
use crate::IndexError;

/// Build parameters `WITH (...)` may carry besides `index_type`.
const PARAMS: [&str; 4] = ["dimension", "partitions", "nprobe", "rerank"];

/// What `CREATE INDEX` asks for.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    pub name: String,
    /// One column, or a hybrid index's vector and text columns.
    pub columns: Vec<String>,
    /// None: the column type's default.
    pub kind: Option<IndexKind>,
    pub params: BTreeMap<String, String>,
}

/// A positive whole number parameter.
fn count_param(params: &BTreeMap<String, String>, name: &str) -> Result<Option<usize>, IndexError> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(IndexError::BadInput(format!(
                "{name} must be a positive integer, got '{v}'"
            ))),
        },
    }
}

/// The vector size an index on `column` must use: the column's declared
/// size, the `dimension` parameter (which must agree), or None to take it
/// from the data.
fn dimension(table: &Table, meta: &IndexMeta) -> Result<Option<usize>, IndexError> {
    let column = &meta.columns[0];
    let schema = table.schema();
    let field = schema
        .field_with_name(column)
        .map_err(|_| IndexError::BadInput(format!("column '{column}' does not exist")))?;
    let declared = match SpecType::of_field(field) {
        Ok(SpecType::Embedding(n) | SpecType::Embedding2D(n)) => n,
        _ => None,
    };
    let asked = count_param(&meta.params, "dimension")?;
    match (declared, asked) {
        (Some(d), Some(a)) if d != a => Err(IndexError::BadInput(format!(
            "dimension {a} does not match column '{column}', which holds vectors of {d} dimensions"
        ))),
        (d, a) => Ok(d.or(a)),
    }
}

fn ivf_params(meta: &IndexMeta, kind: IndexKind) -> Result<IvfParams, IndexError> {
    Ok(IvfParams {
        partitions: count_param(&meta.params, "partitions")?,
        encoding: match kind {
            IndexKind::ClusteredQuantized | IndexKind::PooledQuantized => Encoding::Codes,
            _ => Encoding::Full,
        },
        ..IvfParams::default()
    })
}

/// Creates the index `request` describes on `table`; false when an index
/// of that name exists and `if_not_exists` is set.
pub async fn create_index(
    table: &mut Table,
    request: IndexRequest,
    if_not_exists: bool,
) -> Result<bool, IndexError> {
    if table.index(&request.name).is_some() {
        return match if_not_exists {
            true => Ok(false),
            false => Err(StorageError::IndexExists(request.name).into()),
        };
    }
    let schema = table.schema();
    let field = |column: &str| {
        schema.field_with_name(column).map_err(|_| {
            IndexError::BadInput(format!(
                "column '{column}' does not exist in table '{}'",
                table.name()
            ))
        })
    };
    let kind = match (request.columns.as_slice(), request.kind) {
        ([vector, text], _) => {
            IndexKind::check_hybrid(field(vector)?, field(text)?)?;
            IndexKind::Hybrid
        }
        ([column], kind) => {
            let field = field(column)?;
            let kind = match kind {
                Some(k) => k,
                None => IndexKind::default_for(field)?,
            };
            kind.check(field)?;
            kind
        }
        (other, _) => {
            return Err(IndexError::BadInput(format!(
                "an index covers one column (or two for a hybrid index), got {}",
                other.len()
            )))
        }
    };
    if let Some(bad) = request
        .params
        .keys()
        .find(|k| !PARAMS.contains(&k.as_str()))
    {
        return Err(IndexError::BadInput(format!(
            "unknown index parameter '{bad}' (known: index_type, {})",
            PARAMS.join(", ")
        )));
    }
    let mut meta = IndexMeta {
        name: request.name,
        columns: request.columns,
        index_type: kind.name().to_string(),
        params: request.params,
        segments: vec![],
    };
    count_param(&meta.params, "nprobe")?;
    count_param(&meta.params, "rerank")?;
    match kind {
        IndexKind::Clustered | IndexKind::ClusteredQuantized | IndexKind::PooledQuantized => {
            let dim = dimension(table, &meta)?;
            let params = ivf_params(&meta, kind)?;
            let frags = table.unindexed(&meta);
            let built =
                build_vector_segment(table, &meta.columns[0], &frags, dim, params, None).await?;
            if let Some(built) = built {
                // Later segments must take the same size as this one.
                meta.params
                    .insert("dimension".into(), built.dim.to_string());
                keep_nprobe(&mut meta, built.partitions);
                meta.segments.push(built.segment);
            }
        }
        IndexKind::Bm25 => {
            let frags = table.unindexed(&meta);
            let segment = build_text_segment(table, &meta.columns[0], &frags).await?;
            meta.segments.extend(segment);
        }
        IndexKind::Hybrid => {
            let frags = table.unindexed(&meta);
            let (segments, built) = hybrid_segments(table, &meta, &frags).await?;
            if let Some((dim, partitions)) = built {
                meta.params.insert("dimension".into(), dim.to_string());
                keep_nprobe(&mut meta, partitions);
            }
            meta.segments.extend(segments);
        }
        IndexKind::Unique => return create_unique(table, meta, if_not_exists).await,
        IndexKind::InvertedIndex | IndexKind::ExactText => {
            let frags = table.unindexed(&meta);
            let lookup = lookup_of(table, &meta)?;
            let built = build_lookup_segment(table, &meta.columns[0], &frags, lookup).await?;
            meta.segments.extend(built.map(|(segment, _)| segment));
        }
    }
    match table.create_index(meta).await {
        Ok(()) => Ok(true),
        // Created by someone else meanwhile.
        Err(StorageError::IndexExists(_)) if if_not_exists => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The `nprobe` a vector index is searched with unless a session says
/// otherwise: the one asked for at creation, else the default for the
/// partitions its build made, kept with the index so that `describe_table`
/// and `pg_indexes` show it.
fn keep_nprobe(meta: &mut IndexMeta, partitions: usize) {
    meta.params
        .entry("nprobe".into())
        .or_insert_with(|| default_nprobe(partitions).to_string());
}

/// A hybrid index's two segments over `frags`: its vectors' and its
/// texts', with the vectors' size and partition count. Both or neither:
/// each covers the same fragments.
async fn hybrid_segments(
    table: &Table,
    meta: &IndexMeta,
    frags: &[usize],
) -> Result<(Vec<IndexSegment>, Option<(usize, usize)>), IndexError> {
    let dim = dimension(table, meta)?;
    let params = ivf_params(meta, IndexKind::ClusteredQuantized)?;
    let trained = trained_centroids(table, meta).await?;
    let vectors =
        build_vector_segment(table, &meta.columns[0], frags, dim, params, trained).await?;
    let texts = build_text_segment(table, &meta.columns[1], frags).await?;
    Ok(match (vectors, texts) {
        (Some(v), Some(t)) => (vec![v.segment, t], Some((v.dim, v.partitions))),
        _ => (vec![], None),
    })
}

/// How a lookup index holds its column: an `inverted_index` on text (or
/// JSON text) keeps trigrams, for substrings; every other lookup index
/// keeps sorted values.
fn lookup_of(table: &Table, meta: &IndexMeta) -> Result<Lookup, IndexError> {
    let schema = table.schema();
    let field = schema.field_with_name(&meta.columns[0]).map_err(|_| {
        IndexError::BadInput(format!("column '{}' does not exist", meta.columns[0]))
    })?;
    let text = crate::values::is_text(field.data_type());
    Ok(match (IndexKind::parse(&meta.index_type)?, text) {
        (IndexKind::InvertedIndex, true) => Lookup::Grams,
        _ => Lookup::Values,
    })
}

/// Tries at creating a `unique` index before giving up to other writers.
const UNIQUE_ATTEMPTS: usize = 8;

/// A `unique` index is built over every row of one version, refused if a
/// value repeats, and committed on exactly that version: rows appended
/// meanwhile would not have been checked, so a lost race builds again.
async fn create_unique(
    table: &mut Table,
    mut meta: IndexMeta,
    if_not_exists: bool,
) -> Result<bool, IndexError> {
    for _ in 0..UNIQUE_ATTEMPTS {
        let frags: Vec<usize> = (0..table.manifest().fragments.len()).collect();
        let built = build_lookup_segment(table, &meta.columns[0], &frags, Lookup::Values).await?;
        meta.segments.clear();
        if let Some((segment, loaded)) = built {
            if let Loaded::Values(v) = &loaded {
                refuse_repeats(&meta, v, Clash::Creating)?;
            }
            meta.segments.push(segment);
        }
        match table.create_index_on(meta.clone()).await {
            Ok(true) => return Ok(true),
            Ok(false) => continue,
            Err(StorageError::IndexExists(_)) if if_not_exists => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Err(StorageError::Conflict(format!(
        "index \"{}\" was not created: the table kept changing while it was built",
        meta.name
    ))
    .into())
}

/// The centroids of the index's first segment (the one its creation
/// built), for a catch-up to assign new rows to; None without one.
async fn trained_centroids(
    table: &Table,
    meta: &IndexMeta,
) -> Result<Option<Vec<f32>>, IndexError> {
    let Some(first) = meta.segments.iter().find(|s| holds_vectors(s)) else {
        return Ok(None);
    };
    match crate::search::segment(table, first).await?.as_ref() {
        Loaded::Vector(v) => Ok(Some(v.ivf.centroids().to_vec())),
        _ => Ok(None),
    }
}

/// The segments of `meta` over fragments `frags` (manifest positions),
/// built as its type builds them; none when they hold no rows.
async fn build_segments(
    table: &Table,
    meta: &IndexMeta,
    kind: IndexKind,
    frags: &[usize],
) -> Result<Vec<IndexSegment>, IndexError> {
    let column = meta.columns[0].as_str();
    Ok(match kind {
        IndexKind::Hybrid => hybrid_segments(table, meta, frags).await?.0,
        IndexKind::Bm25 => build_text_segment(table, column, frags)
            .await?
            .into_iter()
            .collect(),
        IndexKind::InvertedIndex | IndexKind::ExactText | IndexKind::Unique => {
            let lookup = lookup_of(table, meta)?;
            build_lookup_segment(table, column, frags, lookup)
                .await?
                .map(|(segment, _)| segment)
                .into_iter()
                .collect()
        }
        IndexKind::Clustered | IndexKind::ClusteredQuantized | IndexKind::PooledQuantized => {
            let dim = dimension(table, meta)?;
            let params = ivf_params(meta, kind)?;
            let trained = trained_centroids(table, meta).await?;
            build_vector_segment(table, column, frags, dim, params, trained)
                .await?
                .map(|built| built.segment)
                .into_iter()
                .collect()
        }
    })
}

/// An index with more segments than this many (pairs, for a hybrid
/// index) gets all but its first merged into one: each segment is
/// searched on its own, so a table ingested in many small commits would
/// otherwise pay per commit on every query.
const MERGE_AT: usize = 8;

/// Merges the index's later segments into one, rebuilt from the rows of
/// the fragments they cover (the first segment, usually the largest,
/// stays); false when there were too few, or another writer merged or
/// dropped it first.
async fn merge(table: &mut Table, name: &str) -> Result<bool, IndexError> {
    let Some(meta) = table.index(name).cloned() else {
        return Ok(false);
    };
    let kind = IndexKind::parse(&meta.index_type)?;
    let per = match kind {
        IndexKind::Hybrid => 2,
        _ => 1,
    };
    if meta.segments.len() <= MERGE_AT * per {
        return Ok(false);
    }
    let rest = &meta.segments[per..];
    let covered: std::collections::HashSet<&str> = rest
        .iter()
        .flat_map(|s| s.fragments.iter().map(String::as_str))
        .collect();
    let frags: Vec<usize> = (0..table.manifest().fragments.len())
        .filter(|&i| covered.contains(table.manifest().fragments[i].id.as_str()))
        .collect();
    let built = build_segments(table, &meta, kind, &frags).await?;
    let replaced = rest.iter().map(|s| s.id.clone()).collect();
    match table.replace_index_segments(name, replaced, built).await {
        Ok(()) => Ok(true),
        Err(StorageError::IndexNotFound(_) | StorageError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Commits a segment over the fragments each index does not cover yet,
/// merging an index's segments once there are too many; returns how many
/// segments were added.
pub async fn catch_up(table: &mut Table) -> Result<usize, IndexError> {
    catch_up_from(table, 1).await
}

/// [`catch_up`] of the indexes that leave at least `min_rows` live rows
/// uncovered; fewer are searched exactly until more come.
pub async fn catch_up_from(table: &mut Table, min_rows: u64) -> Result<usize, IndexError> {
    let mut added = 0;
    for meta in table.indexes().to_vec() {
        let kind = IndexKind::parse(&meta.index_type)?;
        let frags = table.unindexed(&meta);
        let live: u64 = frags
            .iter()
            .map(|&i| table.manifest().fragments[i].live_rows())
            .sum();
        if live < min_rows.max(1) {
            continue;
        }
        let built = build_segments(table, &meta, kind, &frags).await?;
        if built.is_empty() {
            continue;
        }
        match table.add_index_segments(&meta.name, built).await {
            Ok(()) => added += 1,
            // Dropped meanwhile: nothing to catch up.
            Err(StorageError::IndexNotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        merge(table, &meta.name).await?;
    }
    Ok(added)
}
