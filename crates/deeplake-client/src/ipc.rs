//! Arrow IPC streams: how rows cross between a remote client and the
//! server (ingest batches up, query results and dataset reads down).
//! Field metadata travels with the schema, so spec types survive.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::Schema;

use crate::error::{ClientError, ErrorKind, Result};

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// The batches of one IPC stream; anything that is not one is bad input.
pub fn read_stream(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let bad = |e: arrow_schema::ArrowError| {
        ClientError::ingest(format!("The body is not an Arrow IPC stream: {e}")).with_source(e)
    };
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(bad)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(bad)
}

/// `batches` (of `schema`) as one IPC stream.
pub fn write_stream(schema: &Arc<Schema>, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let fail = |e: arrow_schema::ArrowError| {
        ClientError::managed_service(format!("Cannot encode the rows as Arrow IPC: {e}"))
            .with_kind(ErrorKind::Internal)
            .with_source(e)
    };
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, schema).map_err(fail)?;
    for b in batches {
        w.write(b).map_err(fail)?;
    }
    w.finish().map_err(fail)?;
    drop(w);
    Ok(out)
}
