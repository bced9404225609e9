//! Running the async engine from the blocking API.

use std::future::Future;
use std::time::Duration;

use deeplake_ingest::Cancel;

use tokio::runtime::{Handle, Runtime};

/// The client's I/O runtime. Dropping a tokio runtime inside another
/// runtime's async context panics, so there it is shut down in the background.
/// A process forked after the runtime started (a `DataLoader` worker, say)
/// has none of its threads, and joining or signalling them would hang: there
/// the copy is left alone.
pub struct Io(Option<Runtime>, u32);

impl Io {
    pub fn new(rt: Runtime) -> Io {
        Io(Some(rt), std::process::id())
    }
}

impl std::ops::Deref for Io {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        // Only `drop` takes the runtime out.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("runtime used after drop"))
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            if self.1 != std::process::id() {
                std::mem::forget(rt);
            } else if Handle::try_current().is_ok() {
                rt.shutdown_background();
            }
        }
    }
}

/// Runs `fut` to completion on `rt`. Called from inside another async
/// runtime (where blocking would panic), it runs on a scoped thread instead.
pub fn block<F>(rt: &Runtime, fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(|| rt.block_on(fut)).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    } else {
        rt.block_on(fut)
    }
}

/// How often a blocking wait looks at a [`Cancel`].
pub const CANCEL_POLL: Duration = Duration::from_millis(20);

/// Completes once `cancel` is raised, to race a future against it.
pub async fn cancelled(cancel: &Cancel) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}
