//! Batches trimmed to their own rows before they are written.
//!
//! A slice of an Arrow array keeps its parent's whole buffers (a sliced
//! string array keeps every value, a sliced bitmap every bit), and the data
//! file encoder writes buffers as they are, so a slice must be trimmed or
//! its parent would be written in full. Trimming shares memory wherever a
//! buffer slice can express the rows (fixed-width values, string and list
//! values, children), and copies only what must be rebased: offsets, and
//! bitmaps that do not start on a byte. An ingest of numpy or Arrow columns
//! thus writes its callers' buffers straight to the file.

use arrow_array::{make_array, Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_buffer::{ArrowNativeType, BooleanBuffer, Buffer, NullBuffer};
use arrow_data::{ArrayData, ArrayDataBuilder};
use arrow_schema::DataType;

use crate::error::Result;

/// `batch` with every buffer holding only its rows.
pub fn trimmed(batch: &RecordBatch) -> Result<RecordBatch> {
    let cols = batch
        .columns()
        .iter()
        .map(|c| match trim(&c.to_data()) {
            Some(d) => Ok(make_array(d)),
            None => copied(c),
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        cols,
        &options,
    )?)
}

/// A fresh copy of the array's rows, for the types `trim` does not know.
fn copied(c: &ArrayRef) -> Result<ArrayRef> {
    let data = c.to_data();
    let mut m = arrow_data::transform::MutableArrayData::new(vec![&data], false, c.len());
    m.try_extend(0, 0, c.len())?;
    Ok(make_array(m.freeze()))
}

/// The array's rows at offset 0 in buffers of their own length; None for
/// a type it does not handle (the caller copies instead).
fn trim(data: &ArrayData) -> Option<ArrayData> {
    let (off, len) = (data.offset(), data.len());
    let dt = data.data_type();
    let mut b = ArrayDataBuilder::new(dt.clone())
        .len(len)
        .nulls(data.nulls().map(trim_bits));
    b = match dt {
        DataType::Boolean => {
            let bits = BooleanBuffer::new(data.buffers().first()?.clone(), off, len);
            b.add_buffer(bits.sliced())
        }
        DataType::Utf8 | DataType::Binary => variable::<i32>(b, data)?,
        DataType::LargeUtf8 | DataType::LargeBinary => variable::<i64>(b, data)?,
        DataType::List(_) => variable::<i32>(b, data)?,
        DataType::LargeList(_) => variable::<i64>(b, data)?,
        DataType::FixedSizeList(_, size) => {
            let size = usize::try_from(*size).ok()?;
            let child = data.child_data().first()?.slice(off * size, len * size);
            b.add_child_data(trim(&child)?)
        }
        DataType::Struct(_) => {
            for c in data.child_data() {
                b = b.add_child_data(trim(&c.slice(off, len))?);
            }
            b
        }
        DataType::Null => b,
        dt => {
            let width = dt.primitive_width()?;
            if data.buffers().len() != 1 || !data.child_data().is_empty() {
                return None;
            }
            b.add_buffer(data.buffers()[0].slice_with_length(off * width, len * width))
        }
    };
    // SAFETY: every buffer is a sub-range of the valid array's own, or
    // offsets rebased from its valid offsets, covering exactly its rows.
    Some(unsafe { b.build_unchecked() })
}

/// A variable-width array's rebased offsets, and the values (strings,
/// bytes) or child rows (lists) they cover.
fn variable<O: ArrowNativeType + std::ops::Sub<Output = O>>(
    b: ArrayDataBuilder,
    data: &ArrayData,
) -> Option<ArrayDataBuilder> {
    let (offsets, first, last) = rebased::<O>(data)?;
    let b = b.add_buffer(offsets);
    Some(match data.child_data().first() {
        Some(child) => b.add_child_data(trim(&child.slice(first, last - first))?),
        None => b.add_buffer(
            data.buffers()
                .get(1)?
                .slice_with_length(first, last - first),
        ),
    })
}

/// A validity bitmap starting at bit 0 (a copy only when it did not start
/// on a byte boundary).
fn trim_bits(n: &NullBuffer) -> NullBuffer {
    NullBuffer::new(BooleanBuffer::new(n.inner().sliced(), 0, n.len()))
}

/// The array's offsets rebased to start at 0, and the range of child or
/// value positions they covered.
fn rebased<O: ArrowNativeType + std::ops::Sub<Output = O>>(
    data: &ArrayData,
) -> Option<(Buffer, usize, usize)> {
    data.buffers().first()?;
    let own = data.buffer::<O>(0).get(..data.len() + 1)?;
    let (first, last) = (*own.first()?, *own.last()?);
    let offsets = Buffer::from_iter(own.iter().map(|o| *o - first));
    Some((offsets, first.as_usize(), last.as_usize()))
}
