//! This crate's side of storage's upkeep seam: `unique` checks on every
//! commit of rows and the catch-up after a write, registered once per
//! process by [`register`] (the SQL engine registers it when it starts,
//! so every workspace, server and Python client has it).

use std::sync::Arc;

use deeplake_storage::upkeep::{IndexUpkeep, Pending};
use deeplake_storage::{StorageError, Table};
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::IndexError;

struct Upkeep;

/// An index failure as storage carries it: a broken rule is a
/// constraint violation; storage's own errors pass through as they were.
fn to_storage(e: IndexError) -> StorageError {
    match e {
        IndexError::Storage(e) => e,
        IndexError::Duplicate(m) => StorageError::Constraint(m),
        IndexError::Arrow(e) => StorageError::Arrow(e),
        IndexError::BadInput(m) | IndexError::Corrupt(m) => StorageError::Corrupt(m),
    }
}

impl IndexUpkeep for Upkeep {
    fn check<'a>(
        &'a self,
        table: &'a Table,
        pending: Pending<'a>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            crate::unique::check_pending(table, pending)
                .await
                .map_err(to_storage)
        }
        .boxed()
    }

    fn catch_up<'a>(
        &'a self,
        table: &'a mut Table,
        min_rows: u64,
    ) -> BoxFuture<'a, Result<usize, StorageError>> {
        async move {
            crate::build::catch_up_from(table, min_rows)
                .await
                .map_err(to_storage)
        }
        .boxed()
    }
}

/// Makes storage run this crate's checks and catch-up on every write.
pub fn register() {
    deeplake_storage::upkeep::register(Arc::new(Upkeep));
}
