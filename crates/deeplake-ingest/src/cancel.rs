//! Stopping a long call from another thread: a Ctrl-C that the Python
//! binding saw, say, while the call runs on a thread of its own.
//!
//! A [`Cancel`] is one flag shared by its clones. Work checks it only where
//! it can stop cleanly: between slices of rows (before a commit, never in
//! one), while the file pipeline waits for a worker, and while a program
//! runs for a file (the program is killed). A cancelled ingest then ends
//! like any failed one: a table the call created is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag nobody has raised yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the work to stop; it does at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
