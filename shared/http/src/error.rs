//! The one mapping from errors to responses of the open API: a status and `{"error": "..."}`.
//! 5xx bodies are opaque; their cause goes to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use genrelay_core::Error;
use serde::Serialize;
use utoipa::ToSchema;

use crate::surface::{ErrorFormat, SurfaceError};

/// The error body of every open API response that is not a success.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Invalid API key.")]
    pub error: String,
}

/// How long a client is told to wait (`Retry-After`, which every 503 carries) before retrying:
/// a throttled or unreachable dependency, a full queue.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;
/// How long a client over its capacity (429: as many unfinished jobs as it may have) is told to
/// wait: jobs take seconds to minutes to end.
pub const OVER_CAPACITY_RETRY_AFTER_SECONDS: u64 = 30;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::OverCapacity(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Upstream(_) => StatusCode::BAD_GATEWAY,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %error.chain(), "request failed");
            let message = match status {
                StatusCode::SERVICE_UNAVAILABLE => "The service is temporarily unavailable; try again.",
                StatusCode::BAD_GATEWAY => "An upstream generator failed.",
                _ => "Internal server error.",
            };
            return Self::new(status, message);
        }
        Self::new(status, error.to_string())
    }
}

/// The open API's error format: `{"error": "..."}`.
pub struct OpenApiFormat;

impl ErrorFormat for OpenApiFormat {
    type Body = ErrorBody;

    fn body(_: StatusCode, message: String) -> ErrorBody {
        ErrorBody { error: message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        SurfaceError::<OpenApiFormat>::from(self).into_response()
    }
}

/// `Error::NotFound` as a surface's own "not found" answer; any other error as that surface maps
/// it (a store that fails is a logged 5xx, never a missing task).
pub(crate) fn or_not_found<E: From<Error>>(error: Error, not_found: impl FnOnce() -> E) -> E {
    match error {
        Error::NotFound(_) => not_found(),
        other => E::from(other),
    }
}
