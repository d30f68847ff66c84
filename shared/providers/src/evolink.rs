//! EvoLink (evolink.ai): `POST /v1/images/generations` or `/v1/videos/generations` create a task;
//! `GET /v1/tasks/{id}` reports `pending`, `processing`, `completed` (with `results` URLs, which
//! expire) or `failed` (with `error.code`). Bearer key auth.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::spec::Params;
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{ApiKey, client, configured_for, download, no_task_id, send_json, status, submit_json};

const PROVIDER: &str = "EvoLink";
/// Task error codes worth another try (the official client retries these).
const RETRYABLE: [&str; 6] = [
    "generation_timeout",
    "unknown_error",
    "resource_exhausted",
    "generation_failed_no_content",
    "service_error",
    "service_unavailable",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvoLinkConfig {
    /// `https://api.evolink.ai`
    pub base_url: url::Url,
    pub api_key: ApiKey,
    /// The model each capability runs, e.g. `{"image.generate": "gpt-image-1"}`.
    pub models: HashMap<Capability, String>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

pub struct EvoLink {
    name: String,
    config: EvoLinkConfig,
    http: crate::http::SharedClient,
}

impl EvoLink {
    pub fn new(name: impl Into<String>, config: EvoLinkConfig) -> Self {
        Self { name: name.into(), config, http: client() }
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.config.base_url.join(path).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    fn interval(&self) -> Duration {
        self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(3))
    }

    /// A poll's refusal: 404 is a task EvoLink does not know (lost); the rest as [`Self::refusal`].
    fn poll_refusal(code: reqwest::StatusCode, error_code: &str, message: &str) -> Error {
        if code == reqwest::StatusCode::NOT_FOUND {
            return UpstreamError::new(PROVIDER, Cause::Lost).detail("EvoLink does not know the task").into();
        }
        Self::refusal(code, error_code, message)
    }

    /// A refusal, classified: credentials and balance are the channel's; limits are retryable.
    fn refusal(code: reqwest::StatusCode, error_code: &str, message: &str) -> Error {
        match code.as_u16() {
            401 | 403 => UpstreamError::new(PROVIDER, Cause::CredentialsRefused).said(message).into(),
            402 => UpstreamError::new(PROVIDER, Cause::QuotaExhausted).said(message).into(),
            400 | 413 | 422 if error_code == "content_policy_violation" => {
                UpstreamError::new(PROVIDER, Cause::Filtered).detail(message).into()
            }
            _ => status(PROVIDER, code, &format!("{error_code}: {message}")),
        }
    }
}

#[async_trait]
impl Provider for EvoLink {
    fn name(&self) -> &str {
        &self.name
    }

    /// EvoLink has no account endpoint: a task that cannot exist is asked for, which a key it
    /// takes answers with 404 and one it refuses with 401 or 403.
    async fn probe(&self) -> Result<ProbeAnswer> {
        let key = self.config.api_key.expose();
        let request = self.http.get(self.url("/v1/tasks/task-unified-0-genrelay-probe")?).bearer_auth(key);
        crate::http::probe(PROVIDER, request, &[key], |code, _| code.is_success() || code.as_u16() == 404).await
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let model = configured_for(&self.config.models, job.capability(), &self.name, "model")?;
        let prompt = job.spec.prompt.clone().unwrap_or_default();
        let (path, body) = match &job.spec.params {
            Params::VideoGenerate(settings) => (
                "/v1/videos/generations",
                json!({"model": model, "prompt": prompt, "duration": settings.duration,
                       "quality": settings.resolution.as_str(), "aspect_ratio": settings.ratio.as_str(),
                       "image_urls": inputs.images}),
            ),
            Params::ImageGenerate(params) => (
                "/v1/images/generations",
                json!({"model": model, "prompt": prompt, "size": format!("{}x{}", params.width, params.height),
                       "image_urls": inputs.images}),
            ),
            _ => ("/v1/images/generations", json!({"model": model, "prompt": prompt, "image_urls": inputs.images})),
        };
        let request = self.http.post(self.url(path)?).bearer_auth(self.config.api_key.expose()).json(&body);
        let task = submit_json(PROVIDER, request, Self::refusal).await?;
        let id = task["id"].as_str().ok_or_else(|| no_task_id(PROVIDER))?;
        Ok(Submission::Accepted { task_id: id.to_owned(), poll_after: self.interval() })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let task_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let request =
            self.http.get(self.url(&format!("/v1/tasks/{task_id}"))?).bearer_auth(self.config.api_key.expose());
        let task = send_json(PROVIDER, request, Self::poll_refusal).await?;
        let progress = task["progress"].as_u64().unwrap_or(0).min(99) as u8;
        match task["status"].as_str() {
            Some("completed") => {
                let mut files = Vec::new();
                // `results: ["url"]`, or for some models `result_data: [{image_url|video_url|audio_url}]`.
                let results = task["results"].as_array().into_iter().flatten().filter_map(Value::as_str);
                let data = task["result_data"].as_array().into_iter().flatten().filter_map(|item| {
                    ["image_url", "video_url", "audio_url"].iter().find_map(|field| item[*field].as_str())
                });
                for url in results.chain(data) {
                    files.push(download(PROVIDER, &self.http, url).await?);
                }
                if files.is_empty() {
                    let empty = UpstreamError::new(PROVIDER, Cause::Failed).detail("completed without a result");
                    return Err(empty.into());
                }
                Ok(PollOutcome::Succeeded(files))
            }
            Some("failed") => {
                let code = task["error"]["code"].as_str().unwrap_or("unknown_error");
                let message = task["error"]["message"].as_str().unwrap_or("the task failed");
                let cause = match code {
                    // The task is gone upstream: submitting again is the retry.
                    _ if RETRYABLE.contains(&code) => Cause::Interrupted,
                    "quota_exceeded" => Cause::QuotaExhausted,
                    "content_policy_violation" => Cause::Filtered,
                    "invalid_parameters" | "image_dimension_mismatch" => Cause::RefusedAsInvalid,
                    _ => Cause::Failed,
                };
                Err(UpstreamError::new(PROVIDER, cause).detail(&format!("{message} ({code})")).into())
            }
            // pending, processing, or a status this client does not know: keep polling.
            _ => Ok(PollOutcome::Running { progress, poll_after: self.interval() }),
        }
    }
}
