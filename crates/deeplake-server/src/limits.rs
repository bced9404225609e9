//! Request size limits that the client gets to hear about.
//!
//! A server that answers before reading a request's whole body and then
//! closes the connection makes the kernel reset it while the client is
//! still sending, and the client sees a broken connection instead of the
//! answer. So a refused request's body is read on and discarded for a
//! bounded while first (what web servers call a lingering close).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use deeplake_client::{ClientError, ErrorKind};
use futures::{Stream, StreamExt};

use crate::error::ServerError;

/// The most a refused request's body is read on for: by bytes, as a
/// multiple of the limit, and by time.
const DRAIN_FACTOR: usize = 8;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads what is left of a body and discards it, within the bounds above.
pub async fn drain<S, E>(chunks: &mut S, limit: usize)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let most = limit.saturating_mul(DRAIN_FACTOR);
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut read = 0usize;
        while let Some(Ok(chunk)) = chunks.next().await {
            read += chunk.len();
            if read > most {
                break;
            }
        }
    })
    .await;
}

/// Answers a request whose declared length is over the limit with a 413
/// in the API's error form, after reading its body on (see above).
/// Bodies without a declared length are limited as they are read.
pub async fn refuse_oversized(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => {
            let mut chunks = req.into_body().into_data_stream();
            drain(&mut chunks, limit).await;
            too_large(limit).into_response()
        }
        _ => next.run(req).await,
    }
}

pub fn too_large(limit: usize) -> ServerError {
    ServerError::Api(
        ClientError::managed_service(format!(
            "The request body is over the server's limit of {} MiB (--max-body-mb).",
            limit >> 20
        ))
        .with_kind(ErrorKind::TooLarge),
    )
}
