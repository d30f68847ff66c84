//! What every HTTP upstream client shares: one client with timeouts, built once, and the
//! classification of transport failures and status codes into what the engine acts on.

use std::time::Duration;

use futures_util::TryStreamExt;
use genrelay_core::ports::GeneratedFile;
use genrelay_core::{Cause, Error, UpstreamError};

/// The client for upstream calls: bounded connect and request time. (Downloads of outputs are
/// streamed, so their time is bounded per read, not in total.) One per process, shared by every
/// channel, and built on first use: building one loads the system's root certificates, which
/// takes milliseconds that a function's init need not spend.
pub fn client() -> SharedClient {
    SharedClient
}

/// A handle on the process's upstream client (see [`client`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SharedClient;

impl std::ops::Deref for SharedClient {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        CLIENT.get_or_init(|| {
            genrelay_egress::http_client_builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(60))
                .build()
                .expect("the HTTP client builds")
        })
    }
}

/// A transport failure of a call that changes nothing upstream (a poll, a download, an upload
/// of an input): no connection, or no answer in time. Either may pass; ask again.
pub fn transport(provider: &str, error: reqwest::Error) -> Error {
    // The error may carry the URL, and a URL may carry a credential: never pass its text on.
    let cause = if error.is_timeout() && !error.is_connect() { Cause::TimedOut } else { Cause::Unreachable };
    Error::upstream(provider, cause)
}

/// A transport failure of the call that creates a task: without a connection nothing was sent,
/// but once the request went out (a timeout, a connection broken before the answer) the
/// upstream may have taken the task, so its outcome is unknown and it is not sent again.
pub fn submission_transport(provider: &str, error: reqwest::Error) -> Error {
    if error.is_connect() {
        return Error::upstream(provider, Cause::Unreachable);
    }
    let what = if error.is_timeout() { "no answer in time" } else { "the connection broke before the answer" };
    UpstreamError::new(provider, Cause::OutcomeUnknown).detail(&format!("{what}; not sent again")).into()
}

/// The answer to a task's creation that names no task: the upstream may be generating it.
pub fn no_task_id(provider: &str) -> Error {
    UpstreamError::new(provider, Cause::OutcomeUnknown).detail("the answer named no task; not sent again").into()
}

/// An HTTP status answered by an upstream: 429 and 5xx are worth retrying; 401/403 are the
/// channel's credentials, 402 its balance; other 4xx refuse the request.
pub fn status(provider: &str, status: reqwest::StatusCode, detail: &str) -> Error {
    let cause = match status.as_u16() {
        429 | 500..=599 => Cause::Busy,
        401 | 403 => Cause::CredentialsRefused,
        402 => Cause::QuotaExhausted,
        _ => Cause::RefusedAsInvalid,
    };
    let detail = if detail.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {detail}") };
    UpstreamError::new(provider, cause).detail(&detail).into()
}

/// A transport failure fetching the files of a task that ended: fetched again later.
pub fn unfetched(provider: &str, error: reqwest::Error) -> Error {
    let what = if error.is_timeout() { "no answer in time" } else { "no connection" };
    UpstreamError::new(provider, Cause::ResultsUnreachable).detail(what).into()
}

/// An HTTP status answered for a file of a task that ended. The task is done (and paid), so
/// nothing is submitted again: 429 and 5xx are asked again later; anything else (a 403 or 404:
/// the link expired; the link's host never sees the channel's key) fails the job.
pub fn result_status(provider: &str, code: reqwest::StatusCode) -> Error {
    let cause = if code.as_u16() == 429 || code.is_server_error() { Cause::ResultsUnreachable } else { Cause::Failed };
    let detail = format!("the result URL answered HTTP {code} (expired?)");
    UpstreamError::new(provider, cause).detail(&detail).into()
}

/// An HTTP status answered to the call that creates a task: a gateway in between that gave up
/// (502, 504, Cloudflare's 524) may have passed the request on, so its outcome is unknown; the
/// rest as [`status`].
pub fn submission_status(provider: &str, code: reqwest::StatusCode, detail: &str) -> Error {
    match code.as_u16() {
        502 | 504 | 524 => UpstreamError::new(provider, Cause::OutcomeUnknown)
            .detail(&format!("HTTP {code} from a gateway after the request was sent; not sent again"))
            .into(),
        _ => status(provider, code, detail),
    }
}

/// An answer that is not the JSON the upstream documents (a proxy's error page, a restart).
pub fn unreadable(provider: &str) -> Error {
    UpstreamError::new(provider, Cause::Busy).detail("the answer was not the expected JSON").into()
}

/// The most an upstream's API answer is read to: task states, lists and error pages are
/// kilobytes, and a broken or hostile upstream must not fill a function's memory. (Output
/// files are streamed, never read whole.)
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Why a body was not read whole.
enum Unread {
    /// It is larger than allowed; the rest was not read.
    TooLarge,
    /// The connection broke (or timed out) before its end.
    BrokeOff,
}

/// A body read whole, if it is at most `max` bytes.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, Unread> {
    if response.content_length().is_some_and(|length| length > max as u64) {
        return Err(Unread::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| Unread::BrokeOff)? {
        if body.len() + chunk.len() > max {
            return Err(Unread::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An API answer's body, read up to [`MAX_ANSWER_BYTES`]: `None` if it is larger or broke off.
pub async fn answer_bytes(response: reqwest::Response) -> Option<Vec<u8>> {
    read_capped(response, MAX_ANSWER_BYTES).await.ok()
}

/// An API answer's body as JSON: `None` if it is not that JSON, is too large or broke off.
pub async fn answer_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Option<T> {
    serde_json::from_slice(&answer_bytes(response).await?).ok()
}

/// An API answer's body as text, for an error's detail: empty if it could not be read.
pub async fn answer_text(response: reqwest::Response) -> String {
    answer_bytes(response).await.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
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
    let parsed = url::Url::parse(url)
        .map_err(|_| UpstreamError::new(provider, Cause::Failed).detail("the result URL is not a URL"))?;
    let name = parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| !name.is_empty())
        .unwrap_or("output")
        .to_owned();
    let response = http.get(parsed).send().await.map_err(|e| unfetched(provider, e))?;
    result_file(provider, name, response)
}

/// The output file a result URL answered, named `name`, to be streamed. A status other than
/// success is [`result_status`]. A page where a file should be (an HTML or JSON answer: a
/// proxy's notice, a captive portal, an error sent with 200) is not taken as the output: it
/// is fetched again later, as a result not reachable yet.
pub fn result_file(provider: &str, name: String, response: reqwest::Response) -> genrelay_core::Result<GeneratedFile> {
    let code = response.status();
    if !code.is_success() {
        return Err(result_status(provider, code));
    }
    let content_type =
        response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(page) = content_type.as_deref().filter(|declared| is_page(declared)) {
        let detail = format!("the result URL answered a page ({page}), not a file");
        return Err(UpstreamError::new(provider, Cause::ResultsUnreachable).detail(&detail).into());
    }
    let body = Box::pin(response.bytes_stream().map_err(std::io::Error::other));
    Ok(GeneratedFile { name, content_type, body })
}

/// Whether a content type is a page or a document rather than a generated file.
fn is_page(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html" | "application/json" | "application/problem+json" | "application/xml" | "text/xml"
    )
}

/// An upstream's JSON error body (`{"error": {"code", "message"}}`), read for classification.
pub async fn error_of(response: reqwest::Response) -> (reqwest::StatusCode, String, String) {
    let code = response.status();
    let body: serde_json::Value = answer_json(response).await.unwrap_or_default();
    let error = &body["error"];
    (
        code,
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// How an upstream's refusal is classified: HTTP status, the body's error code, its message.
pub type Refusal = fn(reqwest::StatusCode, &str, &str) -> Error;

/// Sends `request` (a call that changes nothing upstream) and reads the JSON answer; an error
/// answer goes through `refusal`.
pub async fn send_json(
    provider: &str,
    request: reqwest::RequestBuilder,
    refusal: Refusal,
) -> genrelay_core::Result<serde_json::Value> {
    exchange_json(provider, request, refusal, false).await
}

/// Sends the `request` that creates a task and reads the JSON answer, as [`send_json`]; once
/// the request went out, a broken or unreadable answer leaves its outcome unknown.
pub async fn submit_json(
    provider: &str,
    request: reqwest::RequestBuilder,
    refusal: Refusal,
) -> genrelay_core::Result<serde_json::Value> {
    exchange_json(provider, request, refusal, true).await
}

/// Sends `request` and reads the JSON answer; `creates` says whether it creates a task (whose
/// outcome is unknown once it went out without a readable answer).
async fn exchange_json(
    provider: &str,
    request: reqwest::RequestBuilder,
    refusal: Refusal,
    creates: bool,
) -> genrelay_core::Result<serde_json::Value> {
    let sent = request.send().await;
    let response =
        sent.map_err(|e| if creates { submission_transport(provider, e) } else { transport(provider, e) })?;
    let code = response.status();
    if creates && matches!(code.as_u16(), 502 | 504 | 524) {
        return Err(submission_status(provider, code, ""));
    }
    if !code.is_success() {
        let (code, error_code, message) = error_of(response).await;
        return Err(refusal(code, &error_code, &message));
    }
    answer_json(response).await.ok_or_else(|| if creates { no_task_id(provider) } else { unreadable(provider) })
}

/// What a channel's configuration names for a capability (a model, a workflow), or an error
/// saying the channel does not serve it (routing sends it only jobs it serves).
pub fn configured_for<'a, T>(
    entries: &'a std::collections::HashMap<genrelay_core::Capability, T>,
    capability: genrelay_core::Capability,
    channel: &str,
    what: &str,
) -> genrelay_core::Result<&'a T> {
    entries.get(&capability).ok_or_else(|| Error::internal(format!("channel {channel} has no {what} for {capability}")))
}

/// The largest input file a provider fetches to upload it to its upstream.
pub const MAX_INPUT_BYTES: usize = 50 << 20;

/// An input file fetched for uploading to an upstream. It has no name of its own: an upstream
/// with a shared folder (ComfyUI, RunningHub) stores it under a name unique to its job and slot,
/// never one taken from the URL (every stored asset's URL ends in `original.<ext>`).
pub struct InputFile {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Fetches input `url` for an upstream that takes files, not URLs. The URLs genrelay signed are
/// fetched directly; those the client named go through the egress guard. A refused or missing
/// file is the client's error; an unreachable one may be back later.
pub async fn fetch_input(
    http: &reqwest::Client,
    egress: &genrelay_egress::Egress,
    inputs: &genrelay_core::ports::ResolvedInputs,
    url: &str,
) -> genrelay_core::Result<InputFile> {
    let parsed = url::Url::parse(url).map_err(|_| Error::invalid("an input URL is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let request = if inputs.is_signed(url) {
        http.get(parsed.clone())
    } else {
        egress.fetch(&parsed).map_err(|refused| Error::invalid(format!("input {host}: {refused}")))?
    };
    let response = request.send().await.map_err(|e| match genrelay_egress::Egress::refusal_of(&e) {
        Some(refused) => Error::invalid(format!("input: {refused}")),
        None => Error::Unavailable(format!("input {host} could not be fetched")),
    })?;
    if !response.status().is_success() {
        return Err(Error::invalid(format!("input {host} answered {}", response.status())));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let bytes = read_capped(response, MAX_INPUT_BYTES).await.map_err(|unread| match unread {
        Unread::TooLarge => Error::invalid(format!("input {host}: larger than {MAX_INPUT_BYTES} bytes")),
        Unread::BrokeOff => Error::Unavailable(format!("input {host} broke off")),
    })?;
    Ok(InputFile { content_type, bytes })
}

impl InputFile {
    /// The file's extension, from what its bytes are (else its declared type).
    pub fn extension(&self) -> &'static str {
        match imagesize::image_type(&self.bytes) {
            Ok(imagesize::ImageType::Png) => "png",
            Ok(imagesize::ImageType::Jpeg) => "jpg",
            Ok(imagesize::ImageType::Webp) => "webp",
            Ok(imagesize::ImageType::Gif) => "gif",
            _ => match self.content_type.as_str() {
                "video/mp4" => "mp4",
                "audio/mpeg" => "mp3",
                _ => "bin",
            },
        }
    }

    /// The image's width and height, if its bytes are an image.
    pub fn image_size(&self) -> Option<(u32, u32)> {
        imagesize::blob_size(&self.bytes).ok().map(|size| (size.width as u32, size.height as u32))
    }

    /// The file as a multipart part named `file_name`.
    pub fn into_part(self, file_name: String) -> genrelay_core::Result<reqwest::multipart::Part> {
        reqwest::multipart::Part::bytes(self.bytes)
            .file_name(file_name)
            .mime_str(&self.content_type)
            .map_err(|_| Error::invalid("an input image has an unusable content type"))
    }
}

/// The input images a workflow has slots for: the first ones, as long as a slot takes them.
pub fn slotted_images<'a, T>(
    inputs: &'a genrelay_core::ports::ResolvedInputs,
    slots: &std::collections::HashMap<String, T>,
) -> &'a [String] {
    let wanted =
        (0..inputs.images.len()).take_while(|&i| image_slots(i).iter().any(|slot| slots.contains_key(slot))).count();
    &inputs.images[..wanted]
}

/// The slot names input image `index` (from 0) fills: `image_1`, `image_2`, …; the first is
/// also `image`, the second also `mask` (an inpainting's second input).
pub fn image_slots(index: usize) -> Vec<String> {
    let mut names = vec![format!("image_{}", index + 1)];
    match index {
        0 => names.push("image".to_owned()),
        1 => names.push("mask".to_owned()),
        _ => {}
    }
    names
}

/// How long a connection test may take in all.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a probe's answer is shown.
const PROBE_ANSWER_CHARS: usize = 300;

/// Sends a connection test and reports what the upstream answered: its status and the start of
/// its body, with `secrets` blanked out. `accepted` judges, from the status and the body as
/// JSON (null when it is not), whether the upstream took the request and its credentials. An
/// upstream that does not answer is an error.
pub async fn probe(
    provider: &str,
    request: reqwest::RequestBuilder,
    secrets: &[&str],
    accepted: impl FnOnce(reqwest::StatusCode, &serde_json::Value) -> bool,
) -> genrelay_core::Result<genrelay_core::ports::ProbeAnswer> {
    let response = request.timeout(PROBE_TIMEOUT).send().await.map_err(|e| transport(provider, e))?;
    let code = response.status();
    let text = answer_bytes(response).await.ok_or_else(|| unreadable(provider))?;
    let text = String::from_utf8_lossy(&text).into_owned();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    // Blanked before it is shortened, so no part of a credential survives the cut.
    let mut blanked = text;
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        blanked = blanked.replace(secret, "••••••");
    }
    let answer: String = blanked.chars().take(PROBE_ANSWER_CHARS).collect();
    Ok(genrelay_core::ports::ProbeAnswer { accepted: accepted(code, &body), status: Some(code.as_u16()), answer })
}
