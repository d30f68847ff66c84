//! What every HTTP upstream client shares: one client with timeouts, built once, and the
//! classification of transport failures and status codes into what the engine acts on.

use std::time::Duration;

use futures_util::TryStreamExt;
use genrelay_core::Error;
use genrelay_core::ports::{ByteStream, GeneratedFile};

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

/// A credential from the providers file: sent to its upstream, never printed.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(****)")
    }
}

/// Starts downloading an output an upstream published at `url` (such URLs expire: fetch them
/// as soon as the task ends). The file is named after the URL's last path segment.
pub async fn download(provider: &str, http: &reqwest::Client, url: &str) -> genrelay_core::Result<GeneratedFile> {
    let parsed =
        url::Url::parse(url).map_err(|_| Error::Upstream(format!("{provider} gave an unusable result URL")))?;
    let name = parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| !name.is_empty())
        .unwrap_or("output")
        .to_owned();
    let response = http.get(parsed).send().await.map_err(|e| transport(provider, e))?;
    if !response.status().is_success() {
        return Err(status(provider, response.status(), "downloading a result"));
    }
    let content_type =
        response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok(GeneratedFile { name, content_type, body: body_stream(response) })
}

/// An upstream's JSON error body (`{"error": {"code", "message"}}`), read for classification.
pub async fn error_of(response: reqwest::Response) -> (reqwest::StatusCode, String, String) {
    let code = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let error = &body["error"];
    (
        code,
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// How an upstream's refusal is classified: HTTP status, the body's error code, its message.
pub type Refusal = fn(reqwest::StatusCode, &str, &str) -> Error;

/// Sends `request` and reads the JSON answer; an error answer goes through `refusal`.
pub async fn send_json(
    provider: &str,
    request: reqwest::RequestBuilder,
    refusal: Refusal,
) -> genrelay_core::Result<serde_json::Value> {
    let response = request.send().await.map_err(|e| transport(provider, e))?;
    if !response.status().is_success() {
        let (code, error_code, message) = error_of(response).await;
        return Err(refusal(code, &error_code, &message));
    }
    response.json().await.map_err(|e| Error::Unavailable(format!("{provider} answered unreadable JSON: {e}")))
}

/// What a channel's configuration names for a capability (a model, a workflow), or a permanent
/// error saying the channel does not serve it.
pub fn configured_for<'a, T>(
    entries: &'a std::collections::HashMap<genrelay_core::Capability, T>,
    capability: genrelay_core::Capability,
    channel: &str,
    what: &str,
) -> genrelay_core::Result<&'a T> {
    entries.get(&capability).ok_or_else(|| Error::Upstream(format!("channel {channel} has no {what} for {capability}")))
}
