//! External programs (ffmpeg, ffprobe, mutool): found on a search path and
//! run with their output captured, so a missing program or a failed run
//! becomes an error that says what to install or which file was at fault.
//! A run is killed as soon as the ingest it serves is cancelled.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use crate::cancel::Cancel;
use crate::error::{IngestError, Result};

/// How often a wait looks at the ingest's [`Cancel`].
pub(crate) const CANCEL_POLL: Duration = Duration::from_millis(20);

/// A program, the suite users know it by, and the Debian package that ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    pub suite: &'static str,
    pub package: &'static str,
}

pub const FFMPEG: Tool = Tool {
    name: "ffmpeg",
    suite: "ffmpeg",
    package: "ffmpeg",
};
pub const FFPROBE: Tool = Tool {
    name: "ffprobe",
    suite: "ffmpeg",
    package: "ffmpeg",
};
pub const MUTOOL: Tool = Tool {
    name: "mutool",
    suite: "mutool",
    package: "mupdf-tools",
};

/// Where programs are looked up (`PATH` unless told otherwise), and the
/// ingest's [`Cancel`], which kills what runs for it.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    search_path: Option<OsString>,
    cancel: Cancel,
}

impl Tools {
    /// Looks programs up in `path` (a `PATH`-style list) instead of `PATH`.
    pub fn with_search_path(path: impl Into<OsString>) -> Tools {
        Tools {
            search_path: Some(path.into()),
            cancel: Cancel::default(),
        }
    }

    /// The same tools, their runs (and the pipeline that uses them)
    /// stopped by `cancel`.
    pub fn with_cancel(self, cancel: Cancel) -> Tools {
        Tools { cancel, ..self }
    }

    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    pub fn find(&self, tool: Tool) -> Result<PathBuf> {
        let path = self
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(tool.name))
            .find(|p| is_executable(p))
            .ok_or(IngestError::MissingTool {
                tool: tool.name,
                suite: tool.suite,
                package: tool.package,
            })
    }

    pub fn command(&self, tool: Tool) -> Result<Command> {
        let mut cmd = Command::new(self.find(tool)?);
        cmd.stdin(Stdio::null());
        Ok(cmd)
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `cmd` to completion, its output captured; a failed run is an error
/// about `file` carrying the program's last words. When the ingest is
/// cancelled meanwhile, the program is killed and the run is
/// [`IngestError::Cancelled`].
pub fn run(tools: &Tools, mut cmd: Command, tool: Tool, file: &Path) -> Result<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| IngestError::Internal(format!("Failed to start {}: {e}", tool.name)))?;
    let pipes = (child.stdout.take(), child.stderr.take());
    // The pipes close when the program exits; until then this thread
    // waits for them and looks at the cancel flag in between.
    let (stdout, stderr, cancelled) = std::thread::scope(|s| {
        let (done, finished) = channel();
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            let done = done.clone();
            s.spawn(move || {
                let mut bytes = vec![];
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut bytes);
                }
                let _ = done.send(());
                bytes
            })
        };
        let out = read(pipes.0.map(|p| Box::new(p) as Box<dyn Read + Send>));
        let err = read(pipes.1.map(|p| Box::new(p) as Box<dyn Read + Send>));
        drop(done);
        let mut cancelled = false;
        loop {
            match finished.recv_timeout(CANCEL_POLL) {
                Ok(()) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if !cancelled && tools.cancel.is_cancelled() {
                        cancelled = true;
                        let _ = child.kill();
                    }
                }
            }
        }
        let bytes = |h: std::thread::ScopedJoinHandle<'_, Vec<u8>>| h.join().unwrap_or_default();
        (bytes(out), bytes(err), cancelled)
    });
    let status = child
        .wait()
        .map_err(|e| IngestError::Internal(format!("{} did not finish: {e}", tool.name)))?;
    if cancelled {
        return Err(IngestError::Cancelled);
    }
    let out = Output {
        status,
        stdout,
        stderr,
    };
    if !out.status.success() {
        return Err(IngestError::file(
            file,
            format!("{} failed: {}", tool.name, last_words(&out.stderr)),
        ));
    }
    Ok(out)
}

/// The last few meaningful lines of a program's error output.
pub fn last_words(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "no error output".to_string()
    } else {
        tail.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let tools = Tools::with_search_path(
            dir.as_ref()
                .map(|d| d.path().as_os_str().to_owned())
                .unwrap_or_default(),
        );
        let err = tools.find(FFMPEG).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("ffmpeg not found: install it with sudo apt-get install ffmpeg")
        );
        let err = tools.find(FFPROBE).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("ffmpeg not found (ffprobe is missing): install it with sudo apt-get install ffmpeg")
        );
        let err = tools.find(MUTOOL).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("mutool not found: install it with sudo apt-get install mupdf-tools")
        );
    }

    #[test]
    fn last_words_keeps_the_tail() {
        assert_eq!(last_words(b"a\n\nb\nc\nd\n"), "b; c; d");
        assert_eq!(last_words(b""), "no error output");
    }
}
