//! What every HTTP upstream client shares: one client with timeouts, built once, and the
//! classification of transport failures and status codes into what the engine acts on.

use std::time::Duration;

use futures_util::TryStreamExt;
use genrelay_core::Error;
use genrelay_core::ports::ByteStream;

/// A client for upstream calls: bounded connect and request time. (Downloads of outputs are
/// streamed, so their time is bounded per read, not in total.)
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .build()
        .expect("the HTTP client builds")
}

/// A transport failure (connection refused, timeout): the channel may be back soon.
pub fn transport(provider: &str, error: reqwest::Error) -> Error {
    // The error may carry the URL, and a URL may carry a credential: never pass its text on.
    let kind = if error.is_timeout() { "timed out" } else { "could not be reached" };
    Error::Unavailable(format!("{provider} {kind}"))
}

/// An HTTP status answered by an upstream: 429 and 5xx are worth retrying; 401/403 are the
/// channel's credentials; other 4xx reject the request.
pub fn status(provider: &str, status: reqwest::StatusCode, detail: &str) -> Error {
    let detail = detail.chars().take(300).collect::<String>();
    match status.as_u16() {
        429 | 500..=599 => Error::Unavailable(format!("{provider} answered {status}")),
        401 | 403 => Error::ChannelFault(format!("{provider} refused the channel's credentials ({status})")),
        _ => Error::Upstream(format!("{provider} answered {status}: {detail}")),
    }
}

/// A response body as a byte stream.
pub fn body_stream(response: reqwest::Response) -> ByteStream {
    Box::pin(response.bytes_stream().map_err(std::io::Error::other))
}
