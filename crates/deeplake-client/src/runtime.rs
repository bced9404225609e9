//! Running the async engine from the blocking API.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

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

/// Why [`run_stoppable`] returned without the future's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Deadline,
    Cancelled,
    /// The task ended without a result (it panicked).
    Lost,
}

/// Wakes the thread that polls a future driven by [`drive`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on the calling thread, inside `rt`'s context, until it
/// completes, `deadline` passes or `cancel` is raised. The clock is this
/// thread's: between wake-ups it sleeps with a timeout of its own, because
/// the runtime's timers fire late while every worker computes.
fn drive<F: Future + Unpin>(
    rt: &Runtime,
    mut fut: F,
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<F::Output, Stopped> {
    let _context = rt.enter();
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = std::pin::Pin::new(&mut fut).poll(&mut cx) {
            return Ok(out);
        }
        if cancel.is_cancelled() {
            return Err(Stopped::Cancelled);
        }
        let wait = match deadline {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Stopped::Deadline);
                }
                left.min(CANCEL_POLL)
            }
            None => CANCEL_POLL,
        };
        std::thread::park_timeout(wait);
    }
}

/// Runs `fut` (a statement) to completion unless `deadline` passes or
/// `cancel` is raised first, and then returns at once.
///
/// Its first poll runs on the calling thread: a statement that needs no
/// I/O (`SELECT 1`, a constant) is done there without a hand-off, which
/// cost two thread wake-ups a call. Whatever is left after it is a task on
/// the runtime, so that a heavy computation never holds up the caller's
/// deadline or Ctrl-C; the task is aborted when the call stops (it ends at
/// its next await).
pub fn run_stoppable<F>(
    rt: &Runtime,
    fut: F,
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<F::Output, Stopped>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut fut = Box::pin(fut);
    {
        let _context = rt.enter();
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            return Ok(out);
        }
    }
    let mut task = rt.spawn(fut);
    match drive(rt, &mut task, deadline, cancel) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(_)) => Err(Stopped::Lost),
        Err(stopped) => {
            task.abort();
            Err(stopped)
        }
    }
}
