//! The seam through which indexes keep up with writes: storage runs the
//! registered [`IndexUpkeep`] on every commit of new rows, so no public
//! commit can skip an index's rule, whichever crate writes.
//!
//! Contract:
//! - Every commit that adds rows ([`Table::commit_append`],
//!   [`Table::commit_overwrite`], [`Table::append`] and so every
//!   [`crate::TableWriter`]) first asks the upkeep to check them against
//!   the version it lands on, and lands on exactly that version: when
//!   another writer committed first, the check runs again on the newer
//!   one. Two concurrent writers can never both pass a check the other's
//!   rows would have failed.
//! - Fail closed: a commit of rows into a table with an index whose type
//!   binds writes ([`BINDING_TYPES`]) fails when no upkeep is registered
//!   (a program that links storage without the index crate), rather than
//!   committing rows nobody checked.
//! - Catch-up after a write is best effort by design: rows no index covers
//!   are searched exactly until a later catch-up covers them, so a failed
//!   catch-up never fails the write that committed them.

use std::sync::{Arc, OnceLock};

use arrow_schema::SchemaRef;
use futures::future::BoxFuture;

use crate::error::{Result, StorageError};
use crate::manifest::Fragment;
use crate::Table;

/// Index types whose rules every commit must pass (see the module's note).
pub const BINDING_TYPES: &[&str] = &["unique"];

/// Rows about to be committed, as the check sees them.
#[derive(Clone, Copy)]
pub enum Pending<'a> {
    /// Added to the table's rows.
    Append(&'a [Fragment]),
    /// Replacing all rows, under a schema of their own.
    Overwrite(&'a SchemaRef, &'a [Fragment]),
}

impl Pending<'_> {
    pub fn fragments(&self) -> &[Fragment] {
        match self {
            Pending::Append(f) | Pending::Overwrite(_, f) => f,
        }
    }
}

/// What an index implementation does for storage's writes.
pub trait IndexUpkeep: Send + Sync {
    /// Fails (with [`StorageError::Constraint`] for a broken rule) when
    /// committing `pending` on `table`'s current version would break a
    /// rule of one of its indexes.
    fn check<'a>(&'a self, table: &'a Table, pending: Pending<'a>) -> BoxFuture<'a, Result<()>>;

    /// Brings the table's indexes that leave at least `min_rows` live
    /// rows uncovered over the rows committed since their last build;
    /// returns how many segments were added.
    fn catch_up<'a>(&'a self, table: &'a mut Table, min_rows: u64) -> BoxFuture<'a, Result<usize>>;
}

static UPKEEP: OnceLock<Arc<dyn IndexUpkeep>> = OnceLock::new();

/// Registers the process's index upkeep; the first registration stays
/// (there is one index implementation per process).
pub fn register(upkeep: Arc<dyn IndexUpkeep>) {
    let _first = UPKEEP.set(upkeep);
}

fn upkeep() -> Option<&'static Arc<dyn IndexUpkeep>> {
    UPKEEP.get()
}

/// Runs the registered check for `pending` on `table`, refusing when a
/// binding index has nobody to check it.
pub(crate) async fn check(table: &Table, pending: Pending<'_>) -> Result<()> {
    if table.indexes().is_empty() || pending.fragments().is_empty() {
        return Ok(());
    }
    match upkeep() {
        Some(u) => u.check(table, pending).await,
        None => match table
            .indexes()
            .iter()
            .find(|i| BINDING_TYPES.contains(&i.index_type.as_str()))
        {
            Some(i) => Err(StorageError::Constraint(format!(
                "table '{}' has a {} index \"{}\" that this program cannot check; rows were not committed",
                table.name(),
                i.index_type,
                i.name
            ))),
            None => Ok(()),
        },
    }
}

/// Catches `table`'s indexes up after a write where at least `min_rows`
/// rows are uncovered, logging a failure (see the module's note); 0 when
/// nothing was added.
pub async fn catch_up(table: &mut Table, min_rows: u64) -> usize {
    let Some(u) = upkeep() else { return 0 };
    if table.indexes().is_empty() {
        return 0;
    }
    match u.catch_up(table, min_rows).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(
                table = table.name(),
                version = table.version(),
                error = %e,
                "index catch-up after a write failed: its rows are searched exactly until a later one"
            );
            0
        }
    }
}
