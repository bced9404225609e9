//! Server errors and their HTTP form: a status chosen from the error's
//! kind (never from its message) and the reference's body `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use deeplake_client::{ClientError, ErrorKind};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServerError {
    /// The server cannot start as configured.
    #[error("{0}")]
    Config(String),
    /// A request failed; the client error says how.
    #[error("{0}")]
    Api(#[from] ClientError),
    /// A `Range` the file cannot satisfy (416).
    #[error("{0}")]
    Range(String),
    #[error("{message}: {source}")]
    Io {
        message: String,
        source: std::io::Error,
    },
}

impl ServerError {
    pub fn config(message: impl Into<String>) -> ServerError {
        ServerError::Config(message.into())
    }
    pub fn unauthorized(message: impl Into<String>) -> ServerError {
        ServerError::Api(ClientError::auth(message))
    }
    pub fn forbidden(message: impl Into<String>) -> ServerError {
        ServerError::Api(ClientError::auth(message).with_kind(ErrorKind::Forbidden))
    }
    pub fn not_found(message: impl Into<String>) -> ServerError {
        ServerError::Api(ClientError::workspace(message).with_kind(ErrorKind::NotFound))
    }
    pub fn bad_request(message: impl Into<String>) -> ServerError {
        ServerError::Api(ClientError::managed_service(message).with_kind(ErrorKind::BadInput))
    }
    pub fn range(message: impl Into<String>) -> ServerError {
        ServerError::Range(message.into())
    }
    pub fn internal(message: impl Into<String>) -> ServerError {
        ServerError::Api(ClientError::managed_service(message))
    }
    pub fn io(message: impl Into<String>, source: std::io::Error) -> ServerError {
        ServerError::Io {
            message: message.into(),
            source,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Api(e) => status_of(e.kind()),
            ServerError::Range(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ServerError::Config(_) | ServerError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The status code of each kind of failure.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Auth => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::BadInput => StatusCode::BAD_REQUEST,
        ErrorKind::Unsupported => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        // "Client closed request": the caller stopped it.
        ErrorKind::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Io | ErrorKind::Corrupt | ErrorKind::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = serde_json::json!({ "error": self.to_string() });
        (status, Json(body)).into_response()
    }
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;
