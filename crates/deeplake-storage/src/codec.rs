//! The data file format: fragments, column-major, one per file or several
//! appended to one file.
//!
//! ```text
//! MAGIC | column 0 buffers | column 1 buffers | ... | footer JSON | footer len (u64 LE) | MAGIC
//! ```
//!
//! Buffer regions in a footer are offsets from the start of the file, so a
//! fragment appended to a shared file is read through the same mapping.
//!
//! Each column is the raw Arrow buffers of its array tree, each buffer at a
//! 64-byte-aligned offset, so a scan maps file bytes straight into Arrow
//! buffers without decoding, a projection reads only its columns' byte
//! ranges, and a single row of a fixed-width or variable-width column can be
//! read at exactly its own bytes (see [`RowLayout`]).

use arrow_array::{make_array, Array, ArrayRef, RecordBatch};
use arrow_buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer};
use arrow_data::{ArrayData, ArrayDataBuilder};
use arrow_schema::{DataType, Field, SchemaRef};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::ops::Range;

use crate::error::StorageError;

pub const MAGIC: &[u8; 8] = b"DLKFRG01";
const ALIGN: usize = 64;
/// Bytes read speculatively from a file's end: usually holds the whole footer.
pub const TAIL_GUESS: u64 = 64 * 1024;

/// A byte range of the file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Region {
    pub offset: u64,
    pub len: u64,
}

impl Region {
    fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.len
    }
}

/// Where one node of an Arrow array tree keeps its buffers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    pub len: usize,
    pub offset: usize,
    pub nulls: Option<(Region, usize)>,
    pub buffers: Vec<Region>,
    pub children: Vec<Node>,
}

/// One column of a fragment: its field and the span of its buffers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnChunk {
    #[serde(with = "crate::schema_codec::ipc_field")]
    pub field: Field,
    pub span: Region,
    pub node: Node,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Footer {
    pub rows: u64,
    pub columns: Vec<ColumnChunk>,
}

impl Footer {
    pub fn column(&self, name: &str) -> Option<&ColumnChunk> {
        self.columns.iter().find(|c| c.field.name() == name)
    }
}

/// Keeps an Arrow buffer alive as the owner of a `Bytes` handed to the store.
struct Owned(Buffer);

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

struct Encoder {
    pieces: Vec<Bytes>,
    pos: u64,
}

impl Encoder {
    fn push(&mut self, buffer: &Buffer) -> Region {
        let pad = (ALIGN - (self.pos as usize % ALIGN)) % ALIGN;
        if pad > 0 {
            self.pieces.push(Bytes::from(vec![0u8; pad]));
            self.pos += pad as u64;
        }
        let region = Region {
            offset: self.pos,
            len: buffer.len() as u64,
        };
        self.pieces.push(Bytes::from_owner(Owned(buffer.clone())));
        self.pos += buffer.len() as u64;
        region
    }

    fn node(&mut self, data: &ArrayData) -> Node {
        let nulls = data.nulls().map(|n| {
            let region = self.push(n.buffer());
            (region, n.offset())
        });
        let buffers = data.buffers().iter().map(|b| self.push(b)).collect();
        let children = data.child_data().iter().map(|c| self.node(c)).collect();
        Node {
            len: data.len(),
            offset: data.offset(),
            nulls,
            buffers,
            children,
        }
    }
}

/// Encodes a batch as a data file, returned as pieces to write in order.
pub fn encode(batch: &RecordBatch) -> Result<Vec<Bytes>, StorageError> {
    encode_at(batch, 0)
}

/// Encodes a batch to be written at byte `base` of a data file: regions are
/// file offsets and buffers are aligned in the file, so one mapping of the
/// file serves every fragment appended to it.
pub fn encode_at(batch: &RecordBatch, base: u64) -> Result<Vec<Bytes>, StorageError> {
    let mut enc = Encoder {
        pieces: vec![Bytes::from_static(MAGIC)],
        pos: base + MAGIC.len() as u64,
    };
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let start = enc.pos;
        let node = enc.node(&array.to_data());
        columns.push(ColumnChunk {
            field: field.as_ref().clone(),
            span: Region {
                offset: start,
                len: enc.pos - start,
            },
            node,
        });
    }
    let footer = serde_json::to_vec(&Footer {
        rows: batch.num_rows() as u64,
        columns,
    })?;
    let len = footer.len() as u64;
    enc.pieces.push(Bytes::from(footer));
    enc.pieces.push(Bytes::copy_from_slice(&len.to_le_bytes()));
    enc.pieces.push(Bytes::from_static(MAGIC));
    Ok(enc.pieces)
}

/// Parses a fragment's footer from the bytes that end with its trailer (a
/// file's tail, or a shared file up to the fragment's end); `file_len` is
/// the fragment's length. `Err(n)` asks for the last `n` bytes when `tail`
/// was too short.
pub fn parse_footer(tail: &[u8], file_len: u64) -> Result<Result<Footer, u64>, StorageError> {
    let trailer = 16;
    if tail.len() < trailer || file_len < (MAGIC.len() + trailer) as u64 {
        return Err(StorageError::Corrupt("data file too short".into()));
    }
    let end = tail.len();
    if &tail[end - 8..] != MAGIC {
        return Err(StorageError::Corrupt("data file has no end marker".into()));
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&tail[end - 16..end - 8]);
    let len = u64::from_le_bytes(len_bytes);
    let need = len + trailer as u64;
    if need > file_len {
        return Err(StorageError::Corrupt("footer length exceeds file".into()));
    }
    if need as usize > tail.len() {
        return Ok(Err(need));
    }
    let json = &tail[end - need as usize..end - trailer];
    serde_json::from_slice(json)
        .map(Ok)
        .map_err(|e| StorageError::Corrupt(format!("data file footer does not parse: {e}")))
}

/// An Arrow buffer over `bytes[range]`, copied only if misaligned for Arrow.
fn buffer_at(bytes: &Bytes, base: u64, region: &Region) -> Result<Buffer, StorageError> {
    let r = region.range();
    if r.start < base || r.end - base > bytes.len() as u64 {
        return Err(StorageError::Corrupt("buffer outside its column".into()));
    }
    Ok(aligned(
        bytes.slice((r.start - base) as usize..(r.end - base) as usize),
    ))
}

/// `bytes` as an Arrow buffer: zero-copy when aligned as Arrow requires
/// (mapped files are), else copied. Bytes from a network read (a ranged
/// GET on object storage) may start anywhere.
pub fn aligned(bytes: Bytes) -> Buffer {
    if (bytes.as_ptr() as usize).is_multiple_of(16) {
        Buffer::from(bytes)
    } else {
        let mut m = MutableBuffer::with_capacity(bytes.len());
        m.extend_from_slice(&bytes);
        m.into()
    }
}

fn decode_node(
    dt: &DataType,
    node: &Node,
    bytes: &Bytes,
    base: u64,
) -> Result<ArrayData, StorageError> {
    let children = child_types(dt);
    if children.len() != node.children.len() {
        return Err(StorageError::Corrupt(format!(
            "child count mismatch for {dt}"
        )));
    }
    let mut b = ArrayDataBuilder::new(dt.clone())
        .len(node.len)
        .offset(node.offset);
    if let Some((region, bit_offset)) = &node.nulls {
        let buf = buffer_at(bytes, base, region)?;
        if (bit_offset + node.len).div_ceil(8) > buf.len() {
            return Err(StorageError::Corrupt("null bitmap too short".into()));
        }
        b = b.nulls(Some(NullBuffer::new(BooleanBuffer::new(
            buf,
            *bit_offset,
            node.len,
        ))));
    }
    for region in &node.buffers {
        b = b.add_buffer(buffer_at(bytes, base, region)?);
    }
    for (cdt, cnode) in children.iter().zip(&node.children) {
        b = b.add_child_data(decode_node(cdt, cnode, bytes, base)?);
    }
    b.build()
        .map_err(|e| StorageError::Corrupt(format!("invalid column data: {e}")))
}

fn child_types(dt: &DataType) -> Vec<DataType> {
    match dt {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => {
            vec![f.data_type().clone()]
        }
        DataType::Struct(fs) => fs.iter().map(|f| f.data_type().clone()).collect(),
        _ => vec![],
    }
}

/// Decodes one column from bytes holding at least its span (`bytes` starts at
/// file offset `base`).
pub fn decode_column(
    chunk: &ColumnChunk,
    bytes: &Bytes,
    base: u64,
) -> Result<ArrayRef, StorageError> {
    Ok(make_array(decode_node(
        chunk.field.data_type(),
        &chunk.node,
        bytes,
        base,
    )?))
}

/// Decodes the chosen columns into a batch with `schema`.
pub fn decode_batch(
    schema: &SchemaRef,
    footer: &Footer,
    columns: &[(Bytes, u64)],
) -> Result<RecordBatch, StorageError> {
    let mut arrays = Vec::with_capacity(schema.fields().len());
    for (field, (bytes, base)) in schema.fields().iter().zip(columns) {
        let chunk = footer.column(field.name()).ok_or_else(|| {
            StorageError::Corrupt(format!("column '{}' missing from data file", field.name()))
        })?;
        arrays.push(decode_column(chunk, bytes, *base)?);
    }
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(footer.rows as usize));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &options,
    )?)
}

/// How a single row of a column can be read without its neighbours.
pub enum RowLayout {
    /// Row `i` is `width` bytes at `values.offset + (offset + i) * width`.
    Fixed {
        values: Region,
        width: usize,
        offset: usize,
    },
    /// Row `i` spans `offsets[i]..offsets[i+1]` of `values` (offset width 4 or 8).
    Variable {
        offsets: Region,
        values: Region,
        large: bool,
        offset: usize,
    },
    /// Anything else: read the whole column chunk.
    Whole,
}

impl RowLayout {
    pub fn of(chunk: &ColumnChunk) -> RowLayout {
        let node = &chunk.node;
        match chunk.field.data_type() {
            dt @ (DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float16
            | DataType::Float32
            | DataType::Float64) => match (dt.primitive_width(), node.buffers.first()) {
                (Some(width), Some(values)) => RowLayout::Fixed {
                    values: *values,
                    width,
                    offset: node.offset,
                },
                _ => RowLayout::Whole,
            },
            DataType::FixedSizeList(f, n) => {
                let child = node.children.first();
                match (f.data_type().primitive_width(), child) {
                    (Some(w), Some(c))
                        if c.nulls.is_none() && c.buffers.len() == 1 && c.offset == 0 =>
                    {
                        let width = w * *n as usize;
                        RowLayout::Fixed {
                            values: c.buffers[0],
                            width,
                            offset: node.offset,
                        }
                    }
                    _ => RowLayout::Whole,
                }
            }
            DataType::Utf8 | DataType::Binary | DataType::LargeUtf8 | DataType::LargeBinary
                if node.buffers.len() == 2 =>
            {
                let large = matches!(
                    chunk.field.data_type(),
                    DataType::LargeUtf8 | DataType::LargeBinary
                );
                RowLayout::Variable {
                    offsets: node.buffers[0],
                    values: node.buffers[1],
                    large,
                    offset: node.offset,
                }
            }
            _ => RowLayout::Whole,
        }
    }
}
