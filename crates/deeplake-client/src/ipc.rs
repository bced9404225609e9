//! Arrow IPC streams: how rows cross between a remote client and the
//! server (ingest batches up, query results and dataset reads down).
//! Field metadata travels with the schema, so spec types survive.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, Schema};
use futures::{Stream, StreamExt};

use crate::error::{ClientError, ErrorKind, Result};

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

fn not_a_stream(e: ArrowError) -> ClientError {
    ClientError::ingest(format!("The body is not an Arrow IPC stream: {e}")).with_source(e)
}

/// The batches of one IPC stream; anything that is not one is bad input.
pub fn read_stream(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None).map_err(not_a_stream)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(not_a_stream)
}

/// The batches of an IPC stream arriving in chunks of any size, each as
/// soon as its last byte is in: a long upload is written while it is
/// still being sent. Memory stays at one message: a message over
/// `max_message` bytes is refused (`TooLarge`). Only a stream that ends
/// with its end-of-stream marker ends cleanly: a chunk source that fails
/// (a client gone mid-upload) or ends early (a client stopping its ingest)
/// ends it with an error, so its last rows are never mistaken for a whole
/// upload.
pub fn decode_chunks<S, E>(chunks: S, max_message: usize) -> impl Stream<Item = Result<RecordBatch>>
where
    S: Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    struct State<S> {
        chunks: S,
        decoder: StreamDecoder,
        pending: Buffer,
        /// Bytes taken in since the last batch: the message being read.
        partial: usize,
    }
    let start = State {
        chunks,
        decoder: StreamDecoder::new(),
        pending: Buffer::from(Vec::<u8>::new()),
        partial: 0,
    };
    futures::stream::try_unfold(start, move |mut s| async move {
        loop {
            if !s.pending.is_empty() {
                let before = s.pending.len();
                let batch = s.decoder.decode(&mut s.pending).map_err(not_a_stream)?;
                s.partial += before - s.pending.len();
                if s.partial > max_message {
                    return Err(ClientError::ingest(format!(
                        "An Arrow IPC message is over the server's limit of {max_message} bytes; send smaller batches."
                    ))
                    .with_kind(ErrorKind::TooLarge));
                }
                if let Some(batch) = batch {
                    s.partial = 0;
                    return Ok(Some((batch, s)));
                }
                continue;
            }
            match s.chunks.next().await {
                Some(Ok(chunk)) => s.pending = Buffer::from(chunk),
                Some(Err(e)) => {
                    return Err(
                        ClientError::ingest(format!("The rows upload broke off: {e}"))
                            .with_source(e),
                    )
                }
                None => {
                    s.decoder.finish().map_err(not_a_stream)?;
                    // Past its end-of-stream marker a decoder refuses any
                    // byte; before it, a byte only starts another message.
                    let mut probe = Buffer::from(vec![0u8]);
                    if s.decoder.decode(&mut probe).is_ok() {
                        return Err(ClientError::ingest(
                            "The rows upload ended before its end-of-stream marker; nothing after its last commit was written.",
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    })
}

/// Encodes batches one at a time into IPC stream bytes, for an upload
/// that sends each as soon as it is encoded.
pub struct Encoder {
    writer: Option<StreamWriter<Vec<u8>>>,
    /// The last message's length: an upload's messages are commit
    /// intervals of about one size, so the next buffer is allocated whole
    /// instead of grown (and copied) by doubling.
    last: usize,
}

fn cannot_encode(e: ArrowError) -> ClientError {
    ClientError::managed_service(format!("Cannot encode the rows as Arrow IPC: {e}"))
        .with_kind(ErrorKind::Internal)
        .with_source(e)
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            writer: None,
            last: 0,
        }
    }

    /// The bytes of `batch`, led by the schema's when it is the first.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        let w = match &mut self.writer {
            Some(w) => w,
            None => self
                .writer
                .insert(StreamWriter::try_new(Vec::new(), &batch.schema()).map_err(cannot_encode)?),
        };
        w.get_mut().reserve(self.last + self.last / 8);
        w.write(batch).map_err(cannot_encode)?;
        let bytes = std::mem::take(w.get_mut());
        self.last = bytes.len();
        Ok(bytes)
    }

    /// The stream's closing bytes (nothing when no batch was encoded).
    pub fn finish(self) -> Result<Vec<u8>> {
        match self.writer {
            None => Ok(vec![]),
            Some(w) => w.into_inner().map_err(cannot_encode),
        }
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// `batches` (of `schema`) as one IPC stream.
pub fn write_stream(schema: &Arc<Schema>, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, schema).map_err(cannot_encode)?;
    for b in batches {
        w.write(b).map_err(cannot_encode)?;
    }
    w.finish().map_err(cannot_encode)?;
    drop(w);
    Ok(out)
}
