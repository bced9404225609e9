//! Ingestion of files and datasets into column batches.
//!
//! Files go through a normalizer chosen by extension (video, image, PDF,
//! text, other) on a pool of workers, producing the spec's columns; the
//! caller writes the batches. External programs (ffmpeg, mutool) are found
//! at plan time, so a missing one fails before anything is written.

mod cancel;
mod chunk;
mod coco;
mod error;
mod format;
mod hf;
mod kind;
mod pdf;
mod pipeline;
mod rows;
mod single;
mod tools;
mod video;

pub use cancel::Cancel;
pub use chunk::Chunking;
pub use coco::{CocoBatches, CocoPanoptic};
pub use error::{IngestError, Result};
pub use format::{Batch, Format};
pub use hf::{HfEnv, HuggingFace, CLASS_NAMES_KEY};
pub use kind::FileKind;
pub use pipeline::{plan, FileBatch, FileInput, FileOptions, FilePlan};
pub use rows::column_names;
pub use single::read_file;
pub use tools::{Tool, Tools, FFMPEG, FFPROBE, MUTOOL};
pub use video::{THUMB_H, THUMB_W};
