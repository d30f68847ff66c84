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
    /// An upstream did not give what was asked; its cause says what the engine does about it,
    /// and its text is what a client may read.
    #[error("{0}")]
    Upstream(crate::upstream::UpstreamError),
    /// The client has as much under way as it may (its unfinished jobs); retrying once some
    /// have ended may succeed. The message is for the client.
    #[error("{0}")]
    OverCapacity(String),
    /// A dependency is temporarily unavailable; retrying later may succeed.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure of a dependency. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl Error {
    /// What a job's client may read about an error met while running it (on the job, in its
    /// attempts): the upstream's cause and detail, an input's problem, or a generic sentence for
    /// internal failures, whose detail goes to the log.
    pub fn client_reason(&self) -> String {
        match self {
            Self::Upstream(upstream) => upstream.to_string(),
            Self::Invalid(message) => message.clone(),
            Self::Unavailable(message) => format!("temporarily unavailable: {message}"),
            _ => "genrelay failed unexpectedly while handing the job over (see the log)".to_owned(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn internal(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn upstream(upstream: &str, cause: crate::upstream::Cause) -> Self {
        Self::Upstream(crate::upstream::UpstreamError::new(upstream, cause))
    }

    /// The error and its whole cause chain, for log lines (with the upstream's own words).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        if let Self::Upstream(crate::upstream::UpstreamError { said: Some(said), .. }) = self {
            text.push_str(&format!(" (upstream said: {said:?})"));
        }
        let mut source = self.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
