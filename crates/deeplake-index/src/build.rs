//! Creating a table's index and keeping it caught up.
//!
//! Create reads the column over the table's live fragments, builds one
//! segment, writes its files and commits the definition with the segment
//! in one commit: a crash before the commit leaves only unreferenced
//! files, and the table without the index. Rows appended while the build
//! ran are simply not covered (the manifest's invariant), and readers scan
//! them exactly until `catch_up` commits a segment over them.

use std::collections::BTreeMap;

use deeplake_storage::{IndexMeta, StorageError, Table};
use deeplake_types::SpecType;

use crate::ivf::{Encoding, IvfParams};
use crate::kind::IndexKind;
use crate::segment::{build_text_segment, build_vector_segment, Loaded};
use crate::IndexError;

/// Build parameters `WITH (...)` may carry besides `index_type`.
const PARAMS: [&str; 4] = ["dimension", "partitions", "nprobe", "rerank"];

/// What `CREATE INDEX` asks for.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    pub name: String,
    pub column: String,
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
        Ok(SpecType::Embedding(n)) => n,
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
            IndexKind::ClusteredQuantized => Encoding::Codes,
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
    let field = schema.field_with_name(&request.column).map_err(|_| {
        IndexError::BadInput(format!(
            "column '{}' does not exist in table '{}'",
            request.column,
            table.name()
        ))
    })?;
    let kind = match request.kind {
        Some(k) => k,
        None => IndexKind::default_for(field)?,
    };
    kind.check(field)?;
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
        columns: vec![request.column],
        index_type: kind.name().to_string(),
        params: request.params,
        segments: vec![],
    };
    count_param(&meta.params, "nprobe")?;
    count_param(&meta.params, "rerank")?;
    match kind {
        IndexKind::Clustered | IndexKind::ClusteredQuantized => {
            let dim = dimension(table, &meta)?;
            let params = ivf_params(&meta, kind)?;
            let frags = table.unindexed(&meta);
            let built =
                build_vector_segment(table, &meta.columns[0], &frags, dim, params, None).await?;
            if let Some((segment, dim)) = built {
                // Later segments must take the same size as this one.
                meta.params.insert("dimension".into(), dim.to_string());
                meta.segments.push(segment);
            }
        }
        IndexKind::Bm25 => {
            let frags = table.unindexed(&meta);
            let segment = build_text_segment(table, &meta.columns[0], &frags).await?;
            meta.segments.extend(segment);
        }
        other => {
            return Err(IndexError::Unsupported(format!(
                "index type '{}' is not available in this build (available: clustered, clustered_quantized, bm25)",
                other.name()
            )))
        }
    }
    match table.create_index(meta).await {
        Ok(()) => Ok(true),
        // Created by someone else meanwhile.
        Err(StorageError::IndexExists(_)) if if_not_exists => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The centroids of the index's first segment (the one its creation
/// built), for a catch-up to assign new rows to; None without one.
async fn trained_centroids(
    table: &Table,
    meta: &IndexMeta,
) -> Result<Option<Vec<f32>>, IndexError> {
    let Some(first) = meta.segments.first() else {
        return Ok(None);
    };
    match crate::search::segment(table, first).await?.as_ref() {
        Loaded::Vector(v) => Ok(Some(v.ivf.centroids().to_vec())),
        Loaded::Text(_) => Ok(None),
    }
}

/// Commits a segment over the fragments each index does not cover yet;
/// returns how many segments were added.
pub async fn catch_up(table: &mut Table) -> Result<usize, IndexError> {
    let mut added = 0;
    for meta in table.indexes().to_vec() {
        let kind = IndexKind::parse(&meta.index_type)?;
        if !matches!(
            kind,
            IndexKind::Clustered | IndexKind::ClusteredQuantized | IndexKind::Bm25
        ) {
            continue;
        }
        let frags = table.unindexed(&meta);
        let live: u64 = frags
            .iter()
            .map(|&i| table.manifest().fragments[i].live_rows())
            .sum();
        if live == 0 {
            continue;
        }
        let built = match kind {
            IndexKind::Bm25 => build_text_segment(table, &meta.columns[0], &frags).await?,
            _ => {
                let dim = dimension(table, &meta)?;
                let params = ivf_params(&meta, kind)?;
                let trained = trained_centroids(table, &meta).await?;
                build_vector_segment(table, &meta.columns[0], &frags, dim, params, trained)
                    .await?
                    .map(|(segment, _)| segment)
            }
        };
        if let Some(segment) = built {
            match table.add_index_segments(&meta.name, vec![segment]).await {
                Ok(()) => added += 1,
                // Dropped meanwhile: nothing to catch up.
                Err(StorageError::IndexNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(added)
}
