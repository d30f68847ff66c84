//! Meitu's AIGC gateway (the one the official `meitu-cli` uses): `POST /api/v1/sdk/push` starts
//! a task of a preset (`task` id, `task_type`, `params` — a JSON string — and the input images
//! as URLs Meitu fetches), `GET /api/v1/sdk/status?task_id=` polls it. Every request is signed
//! with the channel's access key and secret key (`SDK-HMAC-SHA256`, below); bodies are JSON with
//! recursively sorted keys, sent exactly as signed. Answers carry `{code, message, data}`:
//! `data.status` 10 is success, 0/1/9 pending, anything else failed.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use genrelay_core::ports::{PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::http::{
    ApiKey, answer_json, client, configured_for, download, no_task_id, status, submission_status, submission_transport,
    transport, unreadable,
};

const PROVIDER: &str = "Meitu";
const ALGORITHM: &str = "SDK-HMAC-SHA256";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeituConfig {
    /// `https://openapi-global.meitu.com`
    pub base_url: url::Url,
    pub access_key: ApiKey,
    pub secret_key: ApiKey,
    /// The preset each capability runs (presets come from Meitu's admin configuration).
    pub presets: HashMap<Capability, MeituPreset>,
    #[serde(default)]
    pub first_poll_ms: Option<u64>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeituPreset {
    /// e.g. `/v1/openclaw/default/488260`
    pub task: String,
    #[serde(default = "formula")]
    pub task_type: String,
    /// Fixed parameters of the preset, sent as `{"parameter": {…}}`.
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
    /// The parameter the job's prompt goes in, when the preset takes one.
    #[serde(default)]
    pub prompt_parameter: Option<String>,
}

fn formula() -> String {
    "formula".to_owned()
}

pub struct Meitu {
    name: String,
    config: MeituConfig,
    http: crate::http::SharedClient,
}

impl Meitu {
    pub fn new(name: impl Into<String>, config: MeituConfig) -> Self {
        Self { name: name.into(), config, http: client() }
    }

    /// A request signed with the channel's keys; `body` is sent as given (the JSON the gateway
    /// signs).
    fn signed(&self, method: reqwest::Method, path_and_query: &str, body: String) -> Result<reqwest::RequestBuilder> {
        let url =
            self.config.base_url.join(path_and_query).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))?;
        let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let authorization = sign(&self.config, &method, &url, &date, &body);
        let request = self
            .http
            .request(method, url)
            .header("X-Sdk-Date", &date)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::AUTHORIZATION, authorization);
        Ok(if body.is_empty() { request } else { request.body(body) })
    }

    /// Sends a signed request and opens the envelope: `data` when `code` is 0. A push (`creates`)
    /// whose answer is lost or unreadable has an unknown outcome; a poll's is asked again.
    async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
        creates: bool,
    ) -> Result<Value> {
        // serde_json's maps are ordered by key, so this is the sorted-key form the gateway signs.
        let request = self.signed(method, path_and_query, body.map(|b| b.to_string()).unwrap_or_default())?;
        let sent = request.send().await;
        let response =
            sent.map_err(|e| if creates { submission_transport(PROVIDER, e) } else { transport(PROVIDER, e) })?;
        let code = response.status();
        let envelope: Value = answer_json(response).await.unwrap_or(Value::Null);
        match envelope["code"].as_i64() {
            Some(0) if code.is_success() => Ok(envelope["data"].clone()),
            Some(error) => Err(refusal(error, envelope["message"].as_str().unwrap_or_default())),
            None if code.is_success() && creates => Err(no_task_id(PROVIDER)),
            None if code.is_success() => Err(unreadable(PROVIDER)),
            None if creates => Err(submission_status(PROVIDER, code, "")),
            None => Err(status(PROVIDER, code, "")),
        }
    }

    fn interval(&self) -> Duration {
        self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(3))
    }

    /// The output of a finished task: `result.urls[]`, `result.media_list[].url` or `result.url`.
    async fn outputs(&self, result: &Value) -> Result<PollOutcome> {
        let mut urls: Vec<&str> = result["urls"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        urls.extend(result["media_list"].as_array().into_iter().flatten().filter_map(|m| m["url"].as_str()));
        urls.extend(result["url"].as_str());
        let mut files = Vec::new();
        for url in urls {
            files.push(download(PROVIDER, &self.http, url).await?);
        }
        if files.is_empty() {
            return Err(UpstreamError::new(PROVIDER, Cause::Failed).detail("finished without an output").into());
        }
        Ok(PollOutcome::Succeeded(files))
    }

    async fn outcome(&self, data: &Value) -> Result<PollOutcome> {
        match data["status"].as_i64() {
            Some(10) => self.outputs(&data["result"]).await,
            Some(-1) => {
                Err(UpstreamError::new(PROVIDER, Cause::Lost).detail("the gateway does not know the task").into())
            }
            None => Err(unreadable(PROVIDER)),
            Some(0 | 1 | 9) => {
                let progress = if data["status"] == 1 { 50 } else { 0 };
                Ok(PollOutcome::Running { progress, poll_after: self.interval() })
            }
            Some(other) => {
                let message = data["message"].as_str().or(data["msg"].as_str()).unwrap_or("the task failed");
                Err(UpstreamError::new(PROVIDER, Cause::Failed).detail(&format!("status {other}: {message}")).into())
            }
        }
    }
}

/// The `Authorization` header of a request: `Bearer base64("SDK-HMAC-SHA256 Access=<AK>,
/// SignedHeaders=content-type;host;x-sdk-date, Signature=<hex>")`, where the signature is the
/// HMAC-SHA256, keyed by the secret key, of `SDK-HMAC-SHA256\n<date>\n<sha256 hex of the
/// canonical request>`, and the canonical request is the method, the path with a trailing `/`,
/// the sorted query, the signed headers as `name:value` lines, their names, and the body's
/// SHA-256, each on its own line.
fn sign(config: &MeituConfig, method: &reqwest::Method, url: &url::Url, date: &str, body: &str) -> String {
    let mut path = url.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    let mut query: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    query.sort();
    let query = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let headers = [("content-type", "application/json"), ("host", host.as_str()), ("x-sdk-date", date)];
    let canonical_headers: String = headers.iter().map(|(name, value)| format!("{name}:{value}\n")).collect();
    let signed_headers = headers.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(";");
    let canonical = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    let to_sign = format!("{ALGORITHM}\n{date}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut mac = Hmac::<Sha256>::new_from_slice(config.secret_key.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let credential = format!(
        "{ALGORITHM} Access={}, SignedHeaders={signed_headers}, Signature={signature}",
        config.access_key.expose()
    );
    format!("Bearer {}", base64::engine::general_purpose::STANDARD.encode(credential))
}

/// RFC 3986 encoding: everything but the unreserved characters is escaped.
fn encode(text: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(text, RESERVED).to_string()
}

/// A gateway error code, classified (the CLI's table: QPS and concurrency limits are retried,
/// authorization and quota are the channel's fault, parameters and downloads reject the job).
fn refusal(code: i64, message: &str) -> Error {
    gateway_refusal(PROVIDER, code, message)
}

/// An error code of Meitu's gateways (the AIGC one and Yunxiu's share the table), classified.
pub(crate) fn gateway_refusal(provider: &str, code: i64, message: &str) -> Error {
    let cause = match code {
        429 | 503 | 29901 | 29904 | 90009 | 90024 => Cause::Busy,
        90002 | 90003 | 90022 | 91010 => Cause::CredentialsRefused,
        // RIGHTS_LIMIT_EXCEEDED and its kin: the account's quota.
        80001 | 80002 => Cause::QuotaExhausted,
        // The gateway lost the task: run it again.
        10004 => Cause::Lost,
        _ => Cause::RefusedAsInvalid,
    };
    let error = UpstreamError::new(provider, cause);
    match cause {
        Cause::CredentialsRefused | Cause::QuotaExhausted => error.said(&format!("{code} {message}")).into(),
        _ => error.detail(&format!("{code} {message}")).into(),
    }
}

#[async_trait]
impl Provider for Meitu {
    fn name(&self) -> &str {
        &self.name
    }

    /// The gateway's `POST /demo/authorization`, signed: whether it takes the keys.
    async fn probe(&self) -> Result<ProbeAnswer> {
        let request = self.signed(reqwest::Method::POST, "/demo/authorization", "{}".to_owned())?;
        let secrets = [self.config.access_key.expose(), self.config.secret_key.expose()];
        crate::http::probe(PROVIDER, request, &secrets, |code, body| code.is_success() && body["code"] == 0).await
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let preset = configured_for(&self.config.presets, job.capability(), &self.name, "preset")?;
        let mut parameters = preset.parameters.clone();
        if let (Some(name), Some(prompt)) = (&preset.prompt_parameter, &job.spec.prompt) {
            parameters.insert(name.clone(), Value::from(prompt.clone()));
        }
        let images: Vec<Value> = inputs
            .images
            .iter()
            .map(|url| json!({"url": url, "profile": {"media_profiles": {"media_data_type": "url"}}}))
            .collect();
        let body = json!({"task": preset.task, "task_type": preset.task_type,
                          "params": json!({"parameter": parameters}).to_string(),
                          "init_images": images, "rsp_media_type": "url"});
        let data = self.call(reqwest::Method::POST, "/api/v1/sdk/push", Some(&body), true).await?;
        let task_id = data["task_id"].as_str().filter(|id| !id.is_empty()).ok_or_else(|| no_task_id(PROVIDER))?;
        let first = self.config.first_poll_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(5));
        Ok(Submission::Accepted { task_id: task_id.to_owned(), poll_after: first })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let task_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let path = format!("/api/v1/sdk/status?task_id={}", encode(task_id));
        let data = self.call(reqwest::Method::GET, &path, None, false).await?;
        self.outcome(&data).await
    }
}
