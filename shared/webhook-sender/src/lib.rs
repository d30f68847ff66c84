//! Sends webhook attempts. The body is seed 004's `{"event": "generation.succeeded", "job":
//! {…}}` (the job as `GET /api/v1/jobs/{id}` shows it). With a secret configured, each attempt
//! carries two signatures, computed afresh:
//!
//! - `X-Zhinian-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (seed 004);
//! - the Standard Webhooks headers `webhook-id` (the delivery's id, the same on every attempt),
//!   `webhook-timestamp` (seconds, this attempt's) and `webhook-signature: v1,<base64
//!   HMAC-SHA256 of "<id>.<timestamp>.<body>">`, which off-the-shelf libraries verify with the
//!   secret given as `whsec_<base64 of the secret's bytes>`.
//!
//! During a rotation two secrets are active: `webhook-signature` lists both (`v1,<new>
//! v1,<old>`) and `X-Zhinian-Signature-Previous` carries the old one's. Secrets never appear in
//! a log, an error or the delivery log.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use genrelay_core::ports::WebhookSender;
use genrelay_core::webhook::SendOutcome;
use genrelay_core::{Job, WebhookDelivery};
use genrelay_egress::Egress;
use genrelay_wire::webhook::WebhookPayload;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The secrets webhooks are signed with: the current one, and the previous one while receivers
/// move over.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    current: Option<String>,
    previous: Option<String>,
}

impl WebhookSecrets {
    pub fn new(current: Option<String>, previous: Option<String>) -> Self {
        let filled = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        Self { current: filled(current), previous: filled(previous) }
    }

    /// Whether webhooks are signed.
    pub fn is_configured(&self) -> bool {
        self.current.is_some()
    }

    fn active(&self) -> impl Iterator<Item = &str> {
        self.current.iter().chain(self.previous.iter().filter(|_| self.current.is_some())).map(String::as_str)
    }
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} active)", self.active().count())
    }
}

pub struct HttpWebhookSender {
    egress: Egress,
    secrets: WebhookSecrets,
}

impl HttpWebhookSender {
    pub fn new(egress: Egress, secrets: WebhookSecrets) -> Self {
        Self { egress, secrets }
    }
}

fn hmac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The signature headers of one attempt.
pub fn signature_headers(secrets: &WebhookSecrets, id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let timestamp = timestamp.to_string();
    let mut headers =
        vec![("webhook-id".to_owned(), id.to_owned()), ("webhook-timestamp".to_owned(), timestamp.clone())];
    let secrets: Vec<&str> = secrets.active().collect();
    if secrets.is_empty() {
        return headers;
    }
    let standard: Vec<String> = secrets
        .iter()
        .map(|secret| {
            let signed = hmac(secret, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
            format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(signed))
        })
        .collect();
    headers.push(("webhook-signature".to_owned(), standard.join(" ")));
    headers.push(("X-Zhinian-Signature".to_owned(), format!("sha256={}", hex::encode(hmac(secrets[0], &[body])))));
    if let Some(previous) = secrets.get(1) {
        headers.push((
            "X-Zhinian-Signature-Previous".to_owned(),
            format!("sha256={}", hex::encode(hmac(previous, &[body]))),
        ));
    }
    headers
}

/// The request body of a delivery: seed 004's payload.
pub fn payload(delivery: &WebhookDelivery, job: &Job) -> Vec<u8> {
    WebhookPayload::new(delivery.event, job.clone()).to_bytes()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (date.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, delivery: &WebhookDelivery, job: &Job) -> SendOutcome {
        let refused = |reason: String| SendOutcome::Refused { reason };
        let Ok(url) = url::Url::parse(&delivery.url) else { return refused("the URL is not valid".into()) };
        let request = match self.egress.call(reqwest::Method::POST, &url) {
            Ok(request) => request,
            Err(refusal) => return refused(refusal.to_string()),
        };
        let body = payload(delivery, job);
        let mut request = request
            .timeout(TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, concat!("genrelay-webhooks/", env!("CARGO_PKG_VERSION")))
            .header("X-Zhinian-Event", delivery.event.as_str());
        for (name, value) in signature_headers(&self.secrets, &delivery.id, chrono::Utc::now().timestamp(), &body) {
            request = request.header(name, value);
        }
        let started = Instant::now();
        match request.body(body).send().await {
            Ok(response) => SendOutcome::Answered {
                status: response.status().as_u16(),
                latency: started.elapsed(),
                retry_after: retry_after(&response),
            },
            Err(error) => {
                match Egress::refusal_of(&error) {
                    // A name that does not resolve now may resolve later: retried.
                    Some(refusal @ genrelay_egress::Refused::Unresolved(_)) => {
                        return SendOutcome::NoAnswer { reason: refusal.to_string(), latency: started.elapsed() };
                    }
                    Some(refusal) => return refused(refusal.to_string()),
                    None => {}
                }
                // The error's text may hold the URL, and a URL may hold a token: say what
                // happened, not where.
                let what = if error.is_timeout() { "timed out" } else { "could not connect" };
                SendOutcome::NoAnswer { reason: what.to_owned(), latency: started.elapsed() }
            }
        }
    }

    fn check_url(&self, url: &str, field: &str) -> genrelay_core::Result<()> {
        let invalid = |reason: &dyn std::fmt::Display| genrelay_core::Error::invalid(format!("{field}: {reason}"));
        let parsed = url::Url::parse(url).map_err(|_| invalid(&"not a valid URL"))?;
        self.egress.check_https(&parsed).map_err(|refusal| invalid(&refusal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_both_schemes() {
        let secrets = WebhookSecrets::new(Some("new-secret".into()), Some("old-secret".into()));
        let headers = signature_headers(&secrets, "msg_1", 1_700_000_000, b"{\"a\":1}");
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
        let zhinian = hex::encode(hmac("new-secret", &[b"{\"a\":1}"]));
        assert_eq!(get("X-Zhinian-Signature"), format!("sha256={zhinian}"));
        assert!(get("X-Zhinian-Signature-Previous").starts_with("sha256="));
        assert_eq!(get("webhook-signature").split(' ').count(), 2);
        assert_eq!(get("webhook-timestamp"), "1700000000");
        assert!(!format!("{secrets:?}").contains("secret"));
        let unsigned = signature_headers(&WebhookSecrets::default(), "msg_1", 1, b"{}");
        assert_eq!(unsigned.len(), 2, "without a secret, only webhook-id and webhook-timestamp");
    }
}
