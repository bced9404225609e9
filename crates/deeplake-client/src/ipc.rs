//! Arrow IPC streams: how rows cross between a remote client and the
//! server (ingest batches up, query results and dataset reads down).
//! Field metadata travels with the schema, so spec types survive.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_ipc::writer::{StreamEncoder, StreamWriter};
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
/// `max_message` bytes is refused (`TooLarge`) before it is read. Only a
/// stream that ends with its end-of-stream marker ends cleanly: a chunk
/// source that fails (a client gone mid-upload) or ends early (a client
/// stopping its ingest) ends it with an error, so its last rows are never
/// mistaken for a whole upload.
pub fn decode_chunks<S, E>(chunks: S, max_message: usize) -> impl Stream<Item = Result<RecordBatch>>
where
    S: Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    struct State<S> {
        chunks: S,
        framer: Framer,
        decoder: StreamDecoder,
        /// Whole messages framed and not yet decoded.
        messages: std::collections::VecDeque<Buffer>,
    }
    let start = State {
        chunks,
        framer: Framer::default(),
        decoder: StreamDecoder::new(),
        messages: Default::default(),
    };
    futures::stream::try_unfold(start, move |mut s| async move {
        loop {
            if let Some(mut message) = s.messages.pop_front() {
                while !message.is_empty() {
                    if let Some(batch) = s.decoder.decode(&mut message).map_err(not_a_stream)? {
                        if !message.is_empty() {
                            s.messages.push_front(message);
                        }
                        return Ok(Some((batch, s)));
                    }
                }
                continue;
            }
            match s.chunks.next().await {
                Some(Ok(chunk)) => s.framer.push(chunk, max_message, &mut s.messages)?,
                Some(Err(e)) => {
                    return Err(
                        ClientError::ingest(format!("The rows upload broke off: {e}"))
                            .with_source(e),
                    )
                }
                None => {
                    // Bytes that never made a whole message are the decoder's
                    // to judge (a legacy end-of-stream marker, or a cut).
                    let mut rest = s.framer.rest();
                    if !rest.is_empty() {
                        s.decoder.decode(&mut rest).map_err(not_a_stream)?;
                    }
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

/// The IPC continuation marker that opens every message of the current
/// stream format.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// Cuts a stream's chunks into whole messages. A message that one chunk
/// holds whole is passed on as a slice of it; one spread over chunks is
/// gathered once into a buffer of its exact size. Either way the decoder
/// reads its body in place, instead of growing a buffer of its own (a
/// copy per doubling) as it does when fed partial messages.
#[derive(Default)]
struct Framer {
    /// The message being gathered.
    buf: Vec<u8>,
    /// Its whole length, once its header is in.
    len: Option<usize>,
}

impl Framer {
    fn push(
        &mut self,
        mut chunk: bytes::Bytes,
        max_message: usize,
        out: &mut std::collections::VecDeque<Buffer>,
    ) -> Result<()> {
        while !chunk.is_empty() {
            if self.buf.is_empty() {
                if let Some(len) = message_len(&chunk, max_message)? {
                    if chunk.len() >= len {
                        out.push_back(Buffer::from(chunk.split_to(len)));
                        continue;
                    }
                    self.len = Some(len);
                    self.buf.reserve_exact(len);
                }
            }
            // Without the length, take in only as much as tells it.
            let need = match self.len {
                Some(len) => len,
                None => header_len(&self.buf),
            };
            let take = need.saturating_sub(self.buf.len()).clamp(1, chunk.len());
            self.buf.extend_from_slice(&chunk.split_to(take));
            if self.len.is_none() {
                self.len = message_len(&self.buf, max_message)?;
                if let Some(len) = self.len {
                    self.buf.reserve_exact(len.saturating_sub(self.buf.len()));
                }
            }
            if self.len == Some(self.buf.len()) {
                out.push_back(Buffer::from(std::mem::take(&mut self.buf)));
                self.len = None;
            }
        }
        Ok(())
    }

    /// What was taken in without making a whole message.
    fn rest(&mut self) -> Buffer {
        self.len = None;
        Buffer::from(std::mem::take(&mut self.buf))
    }
}

/// How many leading bytes of a message tell its length: its prefix (the
/// continuation marker and the metadata's length), then its metadata.
fn header_len(head: &[u8]) -> usize {
    match meta_len(head) {
        Ok(Some(meta)) => 8 + meta,
        _ => 8,
    }
}

/// The metadata's length, once the message's 8-byte prefix is in. Only the
/// current stream format is framed (every Arrow writer of the last years
/// writes it): a message must open with the continuation marker.
fn meta_len(head: &[u8]) -> Result<Option<usize>> {
    let Some(prefix) = head.get(..8) else {
        return Ok(None);
    };
    if prefix[..4] != CONTINUATION {
        return Err(ClientError::ingest(
            "The body is not an Arrow IPC stream: a message does not open with the continuation marker",
        ));
    }
    Ok(Some(
        u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]) as usize,
    ))
}

/// The whole length of the message `head` starts, once its header is in.
fn message_len(head: &[u8], max_message: usize) -> Result<Option<usize>> {
    let prefix = 8;
    let Some(meta) = meta_len(head)? else {
        return Ok(None);
    };
    let too_large = || {
        ClientError::ingest(format!(
            "An Arrow IPC message is over the server's limit of {max_message} bytes; send smaller batches."
        ))
        .with_kind(ErrorKind::TooLarge)
    };
    if meta > max_message {
        return Err(too_large());
    }
    if meta == 0 {
        return Ok(Some(prefix)); // the end-of-stream marker
    }
    let Some(metadata) = head.get(prefix..prefix + meta) else {
        return Ok(None);
    };
    let message = arrow_ipc::root_as_message(metadata).map_err(|e| {
        ClientError::ingest(format!(
            "The body is not an Arrow IPC stream: unreadable message header: {e}"
        ))
    })?;
    let body = usize::try_from(message.bodyLength()).map_err(|_| {
        ClientError::ingest("The body is not an Arrow IPC stream: negative body length")
    })?;
    let len = (prefix + meta).saturating_add(body);
    match len > max_message {
        true => Err(too_large()),
        false => Ok(Some(len)),
    }
}

/// Encodes batches one at a time into IPC stream messages, for an upload
/// that sends each as soon as it is encoded. A message is a list of byte
/// chunks in order: its header, and the batch's own column buffers shared
/// rather than copied, so the rows are copied once on their way out (by the
/// socket's write).
#[derive(Default)]
pub struct Encoder(Option<StreamEncoder>);

fn cannot_encode(e: ArrowError) -> ClientError {
    ClientError::managed_service(format!("Cannot encode the rows as Arrow IPC: {e}"))
        .with_kind(ErrorKind::Internal)
        .with_source(e)
}

/// An Arrow buffer as body bytes, sharing its memory.
fn shared(buffer: Buffer) -> bytes::Bytes {
    struct Shared(Buffer);
    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    bytes::Bytes::from_owner(Shared(buffer))
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder(None)
    }

    /// The chunks of `batch`'s message, led by the schema's when it is the
    /// first.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<bytes::Bytes>> {
        let e = match &mut self.0 {
            Some(e) => e,
            None => self
                .0
                .insert(StreamEncoder::try_new(&batch.schema()).map_err(cannot_encode)?),
        };
        let buffers = e.encode(batch).map_err(cannot_encode)?;
        Ok(buffers.into_iter().map(shared).collect())
    }

    /// The stream's closing bytes (nothing when no batch was encoded).
    pub fn finish(self) -> Result<Vec<bytes::Bytes>> {
        match self.0 {
            None => Ok(vec![]),
            Some(e) => Ok(e
                .finish()
                .map_err(cannot_encode)?
                .into_iter()
                .map(shared)
                .collect()),
        }
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
