//! The one error type of the domain. Every surface maps it to its own response format; the
//! messages of `Invalid`, `NotFound` and `Conflict` are written for clients and name the field or
//! resource concerned. `Internal` carries its cause for the log only.

use std::error::Error as StdError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule of the capability; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The resource does not exist or belongs to another client.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (idempotency key reuse, terminal job, ...).
    #[error("{0}")]
    Conflict(String),
    /// Missing or wrong credentials.
    #[error("Invalid API key.")]
    Unauthorized,
    /// An upstream generator rejected the job for good (its message may be shown to clients).
    #[error("upstream error: {0}")]
    Upstream(String),
    /// An upstream refused the channel itself (credentials, quota): try another channel.
    #[error("channel fault: {0}")]
    ChannelFault(String),
    /// A dependency is temporarily unavailable; retrying later may succeed.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure of a dependency. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    /// The error and its whole cause chain, for log lines.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
