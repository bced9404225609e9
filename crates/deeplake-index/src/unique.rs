//! Keeping a `unique` column unique: every commit of rows is checked
//! against the version it commits on (storage calls [`check_pending`]
//! through its upkeep seam, and lands the commit on exactly that version).
//!
//! The check reads the new rows' values (from the fragments just written)
//! and looks each up in the index's segments and in the fragments no
//! segment covers yet; any live match, or a value twice among the new
//! rows, fails the append before anything is committed (the written files
//! stay unreferenced). The commit then lands only on the version checked:
//! when another writer committed first, the check runs again on the newer
//! version, so two concurrent writers can never both add one value.
//! NULLs are never equal to anything, as in SQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::Array;
use deeplake_storage::upkeep::Pending;
use deeplake_storage::{Fragment, IndexMeta, Table};

use crate::kind::IndexKind;
use crate::search::indexed_rows;
use crate::values::{self, Literal, ValueQuery, Values};
use crate::IndexError;

/// Unindexed fragments' values, by (fragment id, column): fragments never
/// change once written, so an entry stays valid; the map is cleared when
/// it grows past this many entries.
const CACHED_FRAGMENTS: usize = 4096;

/// Values of one column of one fragment, by (fragment id, column).
type FragmentValues = HashMap<(String, String), Arc<Values>>;

fn fragment_cache() -> &'static Mutex<FragmentValues> {
    static CACHE: OnceLock<Mutex<FragmentValues>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The values of `column` in fragment `i` of `table`, keyed by local row.
async fn fragment_values(table: &Table, i: usize, column: &str) -> Result<Arc<Values>, IndexError> {
    let frag = &table.manifest().fragments[i];
    let key = (frag.id.clone(), column.to_string());
    if let Some(v) = fragment_cache()
        .lock()
        .ok()
        .and_then(|c| c.get(&key).cloned())
    {
        return Ok(v);
    }
    let batch = table.read_fragment(i, Some(&[column])).await?;
    let keys: Vec<u64> = (0..batch.num_rows() as u64)
        .map(|n| frag.nth_live(n))
        .collect();
    let v = Arc::new(values::build(batch.column(0), &keys)?);
    if let Ok(mut c) = fragment_cache().lock() {
        if c.len() >= CACHED_FRAGMENTS {
            c.clear();
        }
        c.insert(key, v.clone());
    }
    Ok(v)
}

fn shown(l: &Literal) -> String {
    match l {
        Literal::Number(n) => n.to_string(),
        Literal::Text(t) => t.clone(),
    }
}

/// Why a value may not be written.
#[derive(Clone, Copy)]
pub(crate) enum Clash {
    /// A live row holds it already.
    Exists,
    /// The rows written hold it twice.
    Twice,
    /// The rows an index is being created over hold it twice.
    Creating,
}

/// The error PostgreSQL words for a repeated key.
fn duplicate(index: &IndexMeta, value: &Literal, clash: Clash) -> IndexError {
    let key = format!("Key ({})=({})", index.columns[0], shown(value));
    let name = &index.name;
    IndexError::Duplicate(match clash {
        Clash::Exists => format!(
            "duplicate key value violates unique constraint \"{name}\": {key} already exists."
        ),
        Clash::Twice => format!(
            "duplicate key value violates unique constraint \"{name}\": {key} appears more than once in the rows written."
        ),
        Clash::Creating => {
            format!("could not create unique index \"{name}\": {key} is duplicated.")
        }
    })
}

/// Fails when the values of `new` (one column, NULLs aside) repeat.
pub(crate) fn refuse_repeats(
    index: &IndexMeta,
    new: &Values,
    clash: Clash,
) -> Result<(), IndexError> {
    match new.repeats(1).first() {
        Some((value, _)) => Err(duplicate(index, value, clash)),
        None => Ok(()),
    }
}

/// The values of `index`'s column in `written` (fragments of this
/// handle, not committed), keyed by their order; None without rows.
async fn written_values(
    table: &Table,
    index: &IndexMeta,
    written: &[Fragment],
) -> Result<Option<Values>, IndexError> {
    let column = index.columns[0].as_str();
    let mut cols = Vec::new();
    for f in written {
        cols.push(
            table
                .read_written(f, Some(&[column]))
                .await?
                .column(0)
                .clone(),
        );
    }
    let parts: Vec<&dyn Array> = cols.iter().map(|c| c.as_ref()).collect();
    if parts.is_empty() {
        return Ok(None);
    }
    let col = arrow_select::concat::concat(&parts)?;
    let keys: Vec<u64> = (0..col.len() as u64).collect();
    let new = values::build(&col, &keys)?;
    refuse_repeats(index, &new, Clash::Twice)?;
    Ok(Some(new))
}

/// Checks `written` against `index` over the table's current version.
async fn check(table: &Table, index: &IndexMeta, written: &[Fragment]) -> Result<(), IndexError> {
    let Some(new) = written_values(table, index, written).await? else {
        return Ok(());
    };
    // One lookup of every value; only a hit looks for which it was.
    let all = ValueQuery::AnyOf(new.literals().collect());
    if indexed_rows(table, index, &all)
        .await?
        .is_some_and(|r| !r.is_empty())
    {
        for value in new.literals() {
            let one = ValueQuery::AnyOf(vec![value.clone()]);
            if indexed_rows(table, index, &one)
                .await?
                .is_some_and(|r| !r.is_empty())
            {
                return Err(duplicate(index, &value, Clash::Exists));
            }
        }
    }
    for i in table.unindexed(index) {
        let frag = &table.manifest().fragments[i];
        if frag.live_rows() == 0 {
            continue;
        }
        let existing = fragment_values(table, i, &index.columns[0]).await?;
        for value in new.literals() {
            let query = ValueQuery::AnyOf(vec![value.clone()]);
            let hit = existing
                .lookup(&query)
                .unwrap_or_default()
                .into_iter()
                .any(|local| !frag.is_deleted(local));
            if hit {
                return Err(duplicate(index, &value, Clash::Exists));
            }
        }
    }
    Ok(())
}

fn uniques(table: &Table) -> Vec<IndexMeta> {
    table
        .indexes()
        .iter()
        .filter(|i| i.index_type == IndexKind::Unique.name())
        .cloned()
        .collect()
}

/// Fails when committing `pending` on `table`'s current version would
/// repeat a value of one of its `unique` columns. An overwrite is checked
/// only among its own rows: what they replace cannot clash with them.
pub async fn check_pending(table: &Table, pending: Pending<'_>) -> Result<(), IndexError> {
    for index in &uniques(table) {
        match pending {
            Pending::Append(written) => check(table, index, written).await?,
            Pending::Overwrite(schema, written) => {
                if schema.field_with_name(&index.columns[0]).is_ok() {
                    written_values(table, index, written).await?;
                }
            }
        }
    }
    Ok(())
}
