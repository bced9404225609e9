//! Shared data files on local disk: consecutive fragments of a table are
//! appended to one file until it reaches [`FILE_BYTES`].
//!
//! Each commit needs its rows in a durable place before its manifest, and an
//! ingest commits every 2000 rows; with one file per commit a large ingest
//! leaves thousands of 3 MB files, and cold scans pay per file (open, map,
//! footer). Rewriting them afterwards costs a second write of every byte.
//! Appending each commit's fragment to a file the writer keeps open gives
//! the large files at the cost of the one write.
//!
//! Invariants:
//! - Bytes of a data file never change once written: a file only grows, by
//!   appends past every fragment in it, so a mapping of it (or of a prefix)
//!   stays valid, and a crash mid-append leaves only unreferenced bytes
//!   after the last committed fragment.
//! - A file has one appender at a time: a [`DataFile`] is taken out of the
//!   pool while a write runs and put back after, and files are never
//!   reopened for writing (each file is created with `create_new`).
//! - A pooled file is used only while `data/<stem>.dlf` under the table's
//!   directory is still that file (same inode), so a table dropped and
//!   created again never receives fragments in a file of its predecessor.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;

use crate::error::{Result, StorageError};

/// A shared file takes no more fragments once it is this long.
pub const FILE_BYTES: u64 = 64 << 20;

/// Open files kept for reuse, across all tables of the process.
const POOLED: usize = 64;

/// One data file open for appending.
pub struct DataFile {
    /// The table directory the file belongs to.
    dir: PathBuf,
    pub stem: String,
    file: std::fs::File,
    pub len: u64,
}

/// Files between writes, oldest first. A process-wide pool, because the
/// writers of one table (successive ingests, server requests) do not share
/// a handle, and the files are process-wide too.
static POOL: Mutex<VecDeque<DataFile>> = Mutex::new(VecDeque::new());

fn path_of(dir: &Path, stem: &str) -> PathBuf {
    dir.join("data").join(format!("{stem}.dlf"))
}

impl DataFile {
    /// A file with room for more of `dir`'s fragments: a pooled one when
    /// there is one, else a new one.
    pub fn take(dir: &Path) -> Result<DataFile> {
        let pooled = {
            let mut pool = POOL.lock().map_err(|_| poisoned())?;
            pool.iter()
                .position(|f| f.dir == dir)
                .and_then(|i| pool.remove(i))
        };
        match pooled {
            Some(f) if f.is_current() => Ok(f),
            _ => DataFile::create(dir),
        }
    }

    fn create(dir: &Path) -> Result<DataFile> {
        let stem = uuid::Uuid::new_v4().simple().to_string();
        let path = path_of(dir, &stem);
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).map_err(|e| io(&data_dir, e))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        Ok(DataFile {
            dir: dir.to_path_buf(),
            stem,
            file,
            len: 0,
        })
    }

    /// Whether the table's directory still names this file.
    fn is_current(&self) -> bool {
        let (Ok(on_disk), Ok(open)) = (
            std::fs::metadata(path_of(&self.dir, &self.stem)),
            self.file.metadata(),
        ) else {
            return false;
        };
        on_disk.ino() == open.ino() && on_disk.dev() == open.dev() && open.len() == self.len
    }

    /// Appends `pieces` (an encoding made for offset `self.len`); returns
    /// the offset they start at. On failure the file is closed and dropped
    /// from use: what it wrote is past every committed fragment.
    pub fn append(mut self, pieces: &[Bytes]) -> Result<(DataFile, u64)> {
        let start = self.len;
        let path = path_of(&self.dir, &self.stem);
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut self.file);
            for p in pieces {
                w.write_all(p).map_err(|e| io(&path, e))?;
            }
            w.flush().map_err(|e| io(&path, e))?;
        }
        self.len += pieces.iter().map(|p| p.len() as u64).sum::<u64>();
        if !self.is_current() {
            return Err(StorageError::Conflict(format!(
                "data file {} was removed while being written (the table was dropped)",
                path.display()
            )));
        }
        Ok((self, start))
    }

    /// Returns the file to the pool if it has room left.
    pub fn put_back(self) {
        if self.len >= FILE_BYTES {
            return;
        }
        if let Ok(mut pool) = POOL.lock() {
            pool.push_back(self);
            while pool.len() > POOLED {
                pool.pop_front();
            }
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn poisoned() -> StorageError {
    StorageError::Corrupt("a writer thread panicked while holding the data file pool".into())
}
