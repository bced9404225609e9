//! Running the async engine from the blocking API.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};

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
