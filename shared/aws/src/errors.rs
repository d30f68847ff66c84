//! SDK errors as domain errors. Only what callers act on is told apart: throttling, server-side
//! failures and timeouts (retry later) from everything else (a bug or a misconfiguration).

use std::error::Error as StdError;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;
use genrelay_core::Error;

/// The codes DynamoDB, S3, SQS and SSM answer when they throttle or fail on their side.
const RETRYABLE_CODES: [&str; 10] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "TooManyRequestsException",
    "SlowDown",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
];

/// Maps an SDK failure of `operation` to a domain error: an answer with a 5xx status is
/// retryable whatever its code.
pub fn sdk<E>(operation: &'static str, error: SdkError<E, Response>) -> Error
where
    E: StdError + ProvideErrorMetadata + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(failure) if failure.raw().status().is_server_error() => {
            let code = failure.err().code().unwrap_or("no code").to_owned();
            tracing::warn!(operation, code, "AWS call failed server-side; retryable");
            Error::Unavailable(format!("{operation} failed; try again"))
        }
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
