//! Where statements run: a runtime of their own, apart from the one that
//! serves HTTP. A statement that computes for seconds holds one of these
//! workers, never the accept loop, health checks, uploads or the reading
//! of other requests; the request that waits for it waits on the HTTP
//! runtime, whose timers stay on time, and answers at its deadline
//! whatever the statement's worker is doing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use deeplake_client::{ClientError, ErrorKind, QueryOutput, Value, Workspace};
use deeplake_sql::Deadline;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::{Result, ServerError};

/// The statements' runtime; shut down in the background when the server
/// stops (a runtime dropped inside another's context would panic).
pub struct Statements(Option<Runtime>);

impl Statements {
    /// One worker per core: statements are what the server computes.
    pub fn start() -> Result<Statements> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .thread_name("deeplake-sql")
            .enable_all()
            .build()
            .map_err(|e| ServerError::io("cannot start the statement runtime", e))?;
        Ok(Statements(Some(rt)))
    }

    /// Runs `sql` in `ws` on the statement runtime, answering by
    /// `deadline` (the engine stops the statement there too).
    pub async fn run(
        &self,
        ws: std::sync::Arc<Workspace>,
        sql: String,
        params: Vec<Value>,
        deadline: Deadline,
    ) -> Result<QueryOutput> {
        let rt = self
            .0
            .as_ref()
            .ok_or_else(|| ServerError::internal("the statement runtime has stopped"))?;
        let task = Aborting(rt.spawn(async move { ws.query(&sql, &params, Some(deadline)).await }));
        match tokio::time::timeout_at(deadline.at.into(), task).await {
            Ok(Ok(out)) => Ok(out?),
            Ok(Err(_)) => Err(ClientError::table(
                "Query failed: the statement stopped without a result",
            )
            .with_kind(ErrorKind::Internal)
            .into()),
            Err(_) => Err(ClientError::from(deadline.error()).into()),
        }
    }
}

impl Drop for Statements {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A statement's task, aborted when nobody waits for it any more (its
/// deadline passed, or the client went away): it stops at its next yield.
struct Aborting<T>(JoinHandle<T>);

impl<T> Future for Aborting<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
