//! The columns file normalizers produce and their assembly into batches.
//!
//! Every kind fills a subset of one fixed column set (the spec's "Columns
//! Created"); files of several kinds in one call share one table whose
//! columns are the union, in this fixed order, with NULL where a kind has no
//! value.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use deeplake_types::{build_array, SpecType, Value};

use crate::error::{IngestError, Result};
use crate::kind::FileKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Col {
    Id,
    FileId,
    ChunkIndex,
    PageIndex,
    StartTime,
    EndTime,
    Filename,
    Text,
    Image,
    Thumbnail,
    VideoData,
    Data,
}

const ALL: [Col; 12] = [
    Col::Id,
    Col::FileId,
    Col::ChunkIndex,
    Col::PageIndex,
    Col::StartTime,
    Col::EndTime,
    Col::Filename,
    Col::Text,
    Col::Image,
    Col::Thumbnail,
    Col::VideoData,
    Col::Data,
];

impl Col {
    pub fn name(self) -> &'static str {
        match self {
            Col::Id => "id",
            Col::FileId => "file_id",
            Col::ChunkIndex => "chunk_index",
            Col::PageIndex => "page_index",
            Col::StartTime => "start_time",
            Col::EndTime => "end_time",
            Col::Filename => "filename",
            Col::Text => "text",
            Col::Image => "image",
            Col::Thumbnail => "thumbnail",
            Col::VideoData => "video_data",
            Col::Data => "data",
        }
    }

    fn ty(self) -> SpecType {
        match self {
            Col::Id | Col::FileId | Col::Filename | Col::Text => SpecType::Text,
            Col::ChunkIndex | Col::PageIndex => SpecType::Int64,
            Col::StartTime | Col::EndTime => SpecType::Float64,
            Col::Image | Col::Thumbnail => SpecType::Image,
            Col::VideoData => SpecType::Video,
            Col::Data => SpecType::Binary,
        }
    }

    fn of_kind(kind: FileKind) -> &'static [Col] {
        match kind {
            FileKind::Video => &[
                Col::Id,
                Col::FileId,
                Col::ChunkIndex,
                Col::StartTime,
                Col::EndTime,
                Col::VideoData,
                Col::Thumbnail,
                Col::Text,
            ],
            FileKind::Image => &[Col::Id, Col::FileId, Col::Image, Col::Filename, Col::Text],
            FileKind::Pdf => &[Col::Id, Col::FileId, Col::PageIndex, Col::Image, Col::Text],
            FileKind::Text => &[Col::Id, Col::FileId, Col::ChunkIndex, Col::Text],
            FileKind::Other => &[Col::Id, Col::FileId, Col::Data, Col::Filename],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Names of the columns files of these kinds produce.
pub fn column_names(kinds: &[FileKind]) -> Vec<&'static str> {
    used(kinds).into_iter().map(Col::name).collect()
}

fn used(kinds: &[FileKind]) -> Vec<Col> {
    ALL.into_iter()
        .filter(|c| kinds.iter().any(|k| Col::of_kind(*k).contains(c)))
        .collect()
}

/// The table schema for files of these kinds.
pub fn schema_for(kinds: &[FileKind]) -> Result<SchemaRef> {
    let fields = used(kinds)
        .into_iter()
        .map(|c| c.ty().field(c.name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IngestError::Internal(e.to_string()))?;
    Ok(Arc::new(Schema::new(fields)))
}

/// One output row under construction; unset columns are NULL.
#[derive(Debug, Clone)]
pub struct Row([Value; ALL.len()]);

impl Row {
    /// A row of `file_id` whose id is `<file_id>_<k>`.
    pub fn new(file_id: &str, k: usize) -> Row {
        let mut row = Row(std::array::from_fn(|_| Value::Null));
        row.set(Col::Id, Value::Str(format!("{file_id}_{k}")));
        row.set(Col::FileId, Value::Str(file_id.to_string()));
        row
    }

    pub fn set(&mut self, col: Col, value: Value) -> &mut Row {
        self.0[col.index()] = value;
        self
    }
}

/// Where a normalizer hands its rows: a batch at a time, to the pipeline.
pub type Emit<'a> = &'a mut dyn FnMut(Vec<Row>) -> Result<()>;

/// Collects a file's rows and hands them on `size` at a time, so a long
/// video, PDF or text streams instead of being held whole.
pub struct Batcher<'a, 'e> {
    size: usize,
    rows: Vec<Row>,
    emit: &'a mut Emit<'e>,
}

impl<'a, 'e> Batcher<'a, 'e> {
    pub fn new(size: usize, emit: &'a mut Emit<'e>) -> Self {
        Batcher {
            size: size.max(1),
            rows: Vec::new(),
            emit,
        }
    }

    pub fn push(&mut self, row: Row) -> Result<()> {
        self.rows.push(row);
        if self.rows.len() >= self.size {
            (self.emit)(std::mem::take(&mut self.rows))?;
        }
        Ok(())
    }

    /// Hands on what is left.
    pub fn finish(self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        (self.emit)(self.rows)
    }
}

/// Builds the batch of `rows` over `schema` (a schema from [`schema_for`]).
pub fn to_batch(schema: &SchemaRef, rows: Vec<Row>) -> Result<RecordBatch> {
    let mut columns: Vec<Vec<Value>> = vec![Vec::with_capacity(rows.len()); ALL.len()];
    for row in rows {
        for (i, v) in row.0.into_iter().enumerate() {
            columns[i].push(v);
        }
    }
    let arrays = schema
        .fields()
        .iter()
        .map(|f| {
            let col = ALL
                .into_iter()
                .find(|c| c.name() == f.name())
                .ok_or_else(|| {
                    IngestError::Internal(format!("unknown file column {}", f.name()))
                })?;
            let values = std::mem::take(&mut columns[col.index()]);
            build_array(col.name(), col.ty(), &values)
                .map_err(|e| IngestError::Internal(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| IngestError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_kinds_take_the_union_in_a_fixed_order() {
        assert_eq!(
            column_names(&[FileKind::Text, FileKind::Image]),
            ["id", "file_id", "chunk_index", "filename", "text", "image"]
        );
        assert_eq!(
            column_names(&[FileKind::Other]),
            ["id", "file_id", "filename", "data"]
        );
    }

    #[test]
    fn absent_values_are_null() -> Result<()> {
        let schema = schema_for(&[FileKind::Text, FileKind::Other])?;
        let mut a = Row::new("f", 0);
        a.set(Col::ChunkIndex, Value::Int(0))
            .set(Col::Text, Value::Str("hi".into()));
        let mut b = Row::new("g", 0);
        b.set(Col::Data, Value::Bytes(vec![1, 2]))
            .set(Col::Filename, Value::Str("x.bin".into()));
        let batch = to_batch(&schema, vec![a, b])?;
        assert_eq!(batch.num_rows(), 2);
        let text = batch.column_by_name("text").map(|c| c.null_count());
        assert_eq!(text, Some(1));
        let data = batch.column_by_name("data").map(|c| c.null_count());
        assert_eq!(data, Some(1));
        Ok(())
    }
}
