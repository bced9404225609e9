//! The crate's error: every failure names the file or the tool it concerns,
//! since a user ingesting a thousand files needs to know which one failed.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A required external program is not installed. Worded by the suite
    /// the user knows ("ffmpeg not found" for a missing ffprobe too, as the
    /// spec's error table has it), naming the program when it differs.
    #[error(
        "{suite} not found{}: install it with sudo apt-get install {package}",
        missing_program(suite, tool)
    )]
    MissingTool {
        tool: &'static str,
        suite: &'static str,
        package: &'static str,
    },
    #[error("File not found: {}", .0.display())]
    NotFound(PathBuf),
    /// A file that exists but cannot be normalized (corrupt, truncated,
    /// unreadable); worded as the reference words it.
    #[error("Failed to process {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    /// Bad arguments or data shape.
    #[error("{0}")]
    Invalid(String),
    /// Failure outside any one file (temporary space, a worker dying).
    #[error("{0}")]
    Internal(String),
    /// The caller's [`crate::Cancel`] was raised.
    #[error("Ingest interrupted")]
    Cancelled,
}

fn missing_program(suite: &str, tool: &str) -> String {
    if suite == tool {
        String::new()
    } else {
        format!(" ({tool} is missing)")
    }
}

impl IngestError {
    pub fn file(path: &Path, reason: impl std::fmt::Display) -> IngestError {
        IngestError::File {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
