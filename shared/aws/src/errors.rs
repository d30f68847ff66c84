//! SDK errors as domain errors. Only what callers act on is told apart: throttling and
//! timeouts (retry later) from everything else (a bug or a misconfiguration).

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use genrelay_core::Error;

const RETRYABLE_CODES: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
];

/// Maps an SDK failure of `operation` to a domain error.
pub fn sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> Error
where
    E: StdError + ProvideErrorMetadata + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(failure) => service(operation, failure.into_err()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            tracing::warn!(operation, error = %DisplayErrorContext(&error), "AWS call failed; retryable");
            Error::Unavailable(format!("{operation} failed; try again"))
        }
        other => Error::internal(OperationError { operation, detail: DisplayErrorContext(&other).to_string() }),
    }
}

/// Maps an error a service answered to a domain error: throttling and server-side failures are
/// `Unavailable` (retry later), the rest `Internal`.
pub fn service<E>(operation: &'static str, error: E) -> Error
where
    E: StdError + ProvideErrorMetadata + Send + Sync + 'static,
{
    if error.code().is_some_and(|code| RETRYABLE_CODES.contains(&code)) {
        tracing::warn!(operation, code = error.code(), "AWS call throttled or failed server-side; retryable");
        return Error::Unavailable(format!("{operation} failed; try again"));
    }
    Error::internal(OperationError { operation, detail: DisplayErrorContext(&error).to_string() })
}

/// An AWS call that failed, named for the log.
#[derive(Debug)]
struct OperationError {
    operation: &'static str,
    detail: String,
}

impl std::fmt::Display for OperationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.operation, self.detail)
    }
}

impl StdError for OperationError {}
