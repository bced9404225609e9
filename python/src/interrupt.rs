//! Ctrl-C during a long native call.
//!
//! Python runs its signal handlers only on the main thread, between
//! bytecodes, so a call that spends seconds in Rust would see a Ctrl-C only
//! once it returned. Here the call runs on a thread of its own while the
//! calling thread, with the GIL released, waits for it and runs Python's
//! signal handlers every [`POLL`]. An exception a handler raises (the
//! `KeyboardInterrupt` of the default SIGINT handler, or whatever a user's
//! handler raises) raises the call's [`Cancel`]; the call stops at its next
//! check, cleans up as on any failure, and the exception is raised in place
//! of its result. Off the main thread handlers never run, and the call
//! simply runs to its end.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::time::Duration;

use deeplake_client::Cancel;
use pyo3::prelude::*;

const POLL: Duration = Duration::from_millis(20);

/// Runs `work` (given the cancel it must honour) with Ctrl-C live, as the
/// module says: `Err` is the exception a signal handler raised meanwhile,
/// `Ok` the work's own outcome.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&Cancel) -> T + Send,
) -> PyResult<T> {
    let cancel = Cancel::new();
    let (outcome, raised) = py.detach(|| {
        std::thread::scope(|s| {
            let (done, finished) = sync_channel(1);
            let cancel = &cancel;
            let worker = s.spawn(move || {
                let out = work(cancel);
                // The waiter may have stopped listening only by returning,
                // which it does not do before this thread ends.
                let _ = done.send(());
                out
            });
            let mut raised = None;
            loop {
                match finished.recv_timeout(POLL) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) if raised.is_none() => {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            cancel.cancel();
                            raised = Some(e);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
            (worker.join(), raised)
        })
    });
    if let Some(e) = raised {
        return Err(e);
    }
    match outcome {
        Ok(v) => Ok(v),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
