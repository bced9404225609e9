//! COCO panoptic: images, their PNG panoptic masks and the annotations
//! file, one row per annotated image with the spec's columns: image_id,
//! image (IMAGE), mask (SEGMENT_MASK), width, height, filename,
//! segments_info (JSON) and categories (JSON: the categories this image's
//! segments use, so each row is self-describing without repeating the
//! whole category list).
//!
//! An image or mask file that is missing is skipped and counted; a missing
//! annotations file or directory is an error before anything is read.
//!
//! [`CocoPanoptic::batches`] is an owned iterator so that the Python
//! package can hand the same batches to a user's `normalize()` loop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use deeplake_types::{Column, Value};
use serde_json::Value as Json;

use crate::error::{IngestError, Result};
use crate::format::{Batch, Format};
use crate::single::read_file;

/// Rows per yielded batch unless told otherwise (the reference's 100).
const COCO_BATCH_ROWS: usize = 100;

#[derive(Debug, Clone)]
pub struct CocoPanoptic {
    images_dir: PathBuf,
    masks_dir: PathBuf,
    annotations: PathBuf,
    batch_rows: usize,
    /// Shared with the batches of the latest `normalize()`.
    skipped: Arc<AtomicU64>,
}

impl CocoPanoptic {
    pub fn new(
        images_dir: impl Into<PathBuf>,
        masks_dir: impl Into<PathBuf>,
        annotations: impl Into<PathBuf>,
    ) -> CocoPanoptic {
        CocoPanoptic {
            images_dir: images_dir.into(),
            masks_dir: masks_dir.into(),
            annotations: annotations.into(),
            batch_rows: COCO_BATCH_ROWS,
            skipped: Arc::default(),
        }
    }

    /// Rows per batch; zero is an error when the batches are made.
    pub fn with_batch_size(mut self, rows: usize) -> CocoPanoptic {
        self.batch_rows = rows;
        self
    }

    /// The batches, reading each image and mask as its batch is made.
    pub fn batches(&self) -> Result<CocoBatches> {
        if self.batch_rows == 0 {
            return Err(IngestError::Invalid(
                "batch_size must be a positive integer.".into(),
            ));
        }
        Ok(CocoBatches {
            entries: self.entries()?.into_iter(),
            rows: self.batch_rows,
            skipped: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// One annotated image, before its files are read.
struct Entry {
    image_id: i64,
    image: PathBuf,
    mask: PathBuf,
    width: i64,
    height: i64,
    filename: String,
    segments: Json,
    categories: Json,
}

fn field<'a>(obj: &'a Json, key: &str, what: &str, file: &Path) -> Result<&'a Json> {
    obj.get(key)
        .ok_or_else(|| IngestError::file(file, format!("{what} without '{key}'")))
}

impl CocoPanoptic {
    fn entries(&self) -> Result<Vec<Entry>> {
        for dir in [&self.images_dir, &self.masks_dir] {
            if !dir.is_dir() {
                return Err(IngestError::NotFound(dir.clone()));
            }
        }
        let file = &self.annotations;
        let text = read_file(file)?;
        let doc: Json = serde_json::from_slice(&text)
            .map_err(|e| IngestError::file(file, format!("not valid JSON: {e}")))?;
        let list = |key: &str| -> Result<Vec<Json>> {
            field(&doc, key, "annotations file", file)?
                .as_array()
                .cloned()
                .ok_or_else(|| IngestError::file(file, format!("'{key}' is not a list")))
        };
        let int = |obj: &Json, key: &str, what: &str| -> Result<i64> {
            field(obj, key, what, file)?
                .as_i64()
                .ok_or_else(|| IngestError::file(file, format!("{what} '{key}' is not an integer")))
        };
        let text_of = |obj: &Json, key: &str, what: &str| -> Result<String> {
            field(obj, key, what, file)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| IngestError::file(file, format!("{what} '{key}' is not text")))
        };
        let mut categories = HashMap::new();
        for c in list("categories")? {
            categories.insert(int(&c, "id", "category")?, c);
        }
        let mut images = HashMap::new();
        for img in list("images")? {
            images.insert(int(&img, "id", "image")?, img);
        }
        let mut entries = vec![];
        for ann in list("annotations")? {
            let image_id = int(&ann, "image_id", "annotation")?;
            let img = images.get(&image_id).ok_or_else(|| {
                IngestError::file(file, format!("annotation for unknown image {image_id}"))
            })?;
            let segments = field(&ann, "segments_info", "annotation", file)?.clone();
            let mut used: Vec<i64> = segments
                .as_array()
                .map(|s| s.iter().filter_map(|s| s["category_id"].as_i64()).collect())
                .unwrap_or_default();
            used.sort_unstable();
            used.dedup();
            let filename = text_of(img, "file_name", "image")?;
            entries.push(Entry {
                image_id,
                image: self.images_dir.join(&filename),
                mask: self
                    .masks_dir
                    .join(text_of(&ann, "file_name", "annotation")?),
                width: int(img, "width", "image")?,
                height: int(img, "height", "image")?,
                filename,
                segments,
                categories: Json::Array(
                    used.iter()
                        .filter_map(|id| categories.get(id).cloned())
                        .collect(),
                ),
            });
        }
        Ok(entries)
    }
}

impl Format for CocoPanoptic {
    fn schema(&self) -> Vec<(String, String)> {
        [
            ("image", "IMAGE"),
            ("mask", "SEGMENT_MASK"),
            ("segments_info", "JSON"),
            ("categories", "JSON"),
            ("image_id", "INT64"),
            ("width", "INT64"),
            ("height", "INT64"),
            ("filename", "TEXT"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    fn normalize(&mut self) -> Result<Box<dyn Iterator<Item = Result<Batch>> + Send + '_>> {
        let batches = self.batches()?;
        self.skipped = batches.skipped.clone();
        Ok(Box::new(batches))
    }

    fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

/// The batches of one pass over a COCO panoptic set.
pub struct CocoBatches {
    entries: std::vec::IntoIter<Entry>,
    rows: usize,
    skipped: Arc<AtomicU64>,
}

impl CocoBatches {
    /// Annotated images passed over so far because a file was missing.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

impl Iterator for CocoBatches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let mut cols: [Vec<Value>; 8] = Default::default();
        while cols[0].len() < self.rows {
            let Some(e) = self.entries.next() else { break };
            let (Ok(image), Ok(mask)) = (std::fs::read(&e.image), std::fs::read(&e.mask)) else {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let row = [
                Value::Int(e.image_id),
                Value::Bytes(image),
                Value::Bytes(mask),
                Value::Int(e.width),
                Value::Int(e.height),
                Value::Str(e.filename),
                Value::Json(e.segments),
                Value::Json(e.categories),
            ];
            for (col, v) in cols.iter_mut().zip(row) {
                col.push(v);
            }
        }
        if cols[0].is_empty() {
            return None;
        }
        let names = [
            "image_id",
            "image",
            "mask",
            "width",
            "height",
            "filename",
            "segments_info",
            "categories",
        ];
        Some(Ok(names
            .into_iter()
            .zip(cols)
            .map(|(n, v)| (n.to_string(), Column::Values(v)))
            .collect()))
    }
}
