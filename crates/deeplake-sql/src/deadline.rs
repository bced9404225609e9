//! A statement's deadline, enforced inside the engine the same way for
//! every caller (the embedded client's `timeout`, the server's
//! `timeout_ms` and its maximum): the clock is read at every poll of the
//! statement, and a timer wakes it at the deadline. DataFusion's operators
//! yield between batches, so a statement stops within one batch of its
//! deadline; the functions that could build one huge value in a single
//! step are capped (`functions::capped`). A stopped statement's plan is
//! dropped, which stops its partitions' tasks at their next yield.

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::error::{Result, SqlError, SqlErrorKind};

/// When a statement must stop, and the limit as its caller gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub limit: Duration,
}

impl Deadline {
    /// `limit` from now.
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    /// The failure of a statement stopped at this deadline, in
    /// PostgreSQL's words.
    pub fn error(&self) -> SqlError {
        SqlError::new(
            SqlErrorKind::Timeout,
            format!(
                "canceling statement due to statement timeout ({} s)",
                self.limit.as_secs_f64()
            ),
        )
    }
}

/// `fut`, failed with the deadline's error once `deadline` passes.
pub(crate) async fn within<T>(
    fut: impl Future<Output = Result<T>>,
    deadline: Option<Deadline>,
) -> Result<T> {
    let Some(d) = deadline else {
        return fut.await;
    };
    let mut fut = std::pin::pin!(fut);
    let mut timer = std::pin::pin!(tokio::time::sleep_until(d.at.into()));
    std::future::poll_fn(|cx| {
        if Instant::now() >= d.at {
            return Poll::Ready(Err(d.error()));
        }
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(d.error())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
