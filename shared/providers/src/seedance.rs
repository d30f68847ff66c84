//! Seedance video generation on Volcengine Ark: `POST /contents/generations/tasks` with the
//! prompt and reference images as `content`, and ratio, duration and resolution; poll
//! `GET /contents/generations/tasks/{id}` (`queued`, `running`, `succeeded` with
//! `content.video_url`, `failed`, `cancelled`, `expired`). Bearer key auth.

use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::spec::Params;
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use serde::Deserialize;
use serde_json::json;

use crate::http::{ApiKey, client, download, no_task_id, send_json, status, submit_json};

const PROVIDER: &str = "Seedance";
/// Seed 002's guidance for videos: look first after 10-15 s, then every 5-10 s.
const FIRST_POLL: Duration = Duration::from_secs(12);
const POLL_INTERVAL: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedanceConfig {
    /// `https://ark.cn-beijing.volces.com/api/v3`
    pub base_url: url::Url,
    pub api_key: ApiKey,
    /// e.g. `doubao-seedance-1-0-pro-250528`
    pub model: String,
    #[serde(default)]
    pub first_poll_ms: Option<u64>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

pub struct Seedance {
    name: String,
    config: SeedanceConfig,
    http: crate::http::SharedClient,
}

impl Seedance {
    /// The capability it serves.
    pub const CAPABILITY: Capability = Capability::VideoGenerate;

    pub fn new(name: impl Into<String>, config: SeedanceConfig) -> Self {
        Self { name: name.into(), config, http: client() }
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        let base = self.config.base_url.as_str().trim_end_matches('/');
        url::Url::parse(&format!("{base}{path}")).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    /// A poll's refusal: 404 is a task Ark does not know (lost); the rest as [`Self::refusal`].
    fn poll_refusal(code: reqwest::StatusCode, error_code: &str, message: &str) -> Error {
        if code == reqwest::StatusCode::NOT_FOUND {
            return UpstreamError::new(PROVIDER, Cause::Lost).detail("Ark does not know the task").into();
        }
        Self::refusal(code, error_code, message)
    }

    fn refusal(code: reqwest::StatusCode, error_code: &str, message: &str) -> Error {
        match code.as_u16() {
            401 | 403 => UpstreamError::new(PROVIDER, Cause::CredentialsRefused).said(message).into(),
            402 => UpstreamError::new(PROVIDER, Cause::QuotaExhausted).said(message).into(),
            400 if error_code.contains("Sensitive") || error_code.contains("Risk") => {
                UpstreamError::new(PROVIDER, Cause::Filtered).detail(message).into()
            }
            _ => status(PROVIDER, code, &format!("{error_code}: {message}")),
        }
    }
}

#[async_trait]
impl Provider for Seedance {
    fn name(&self) -> &str {
        &self.name
    }

    /// The newest task, `GET /contents/generations/tasks?page_size=1`: whether Ark takes the key.
    async fn probe(&self) -> Result<ProbeAnswer> {
        let key = self.config.api_key.expose();
        let request = self.http.get(self.url("/contents/generations/tasks?page_num=1&page_size=1")?).bearer_auth(key);
        crate::http::probe(PROVIDER, request, &[key], |code, _| code.is_success()).await
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let Params::VideoGenerate(settings) = &job.spec.params else {
            return Err(Error::internal(format!("channel {} only generates videos", self.name)));
        };
        let mut content = vec![json!({"type": "text", "text": job.spec.prompt.clone().unwrap_or_default()})];
        for (i, url) in inputs.images.iter().enumerate() {
            let role = if i == 0 { "first_frame" } else { "reference_image" };
            content.push(json!({"type": "image_url", "image_url": {"url": url}, "role": role}));
        }
        let body = json!({"model": self.config.model, "content": content, "ratio": settings.ratio.as_str(),
                          "duration": settings.duration, "resolution": settings.resolution.as_str(),
                          "watermark": false});
        let request = self
            .http
            .post(self.url("/contents/generations/tasks")?)
            .bearer_auth(self.config.api_key.expose())
            .json(&body);
        let created = submit_json(PROVIDER, request, Self::refusal).await?;
        let id = created["id"].as_str().ok_or_else(|| no_task_id(PROVIDER))?;
        let first = self.config.first_poll_ms.map(Duration::from_millis).unwrap_or(FIRST_POLL);
        Ok(Submission::Accepted { task_id: id.to_owned(), poll_after: first })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let task_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let request = self
            .http
            .get(self.url(&format!("/contents/generations/tasks/{task_id}"))?)
            .bearer_auth(self.config.api_key.expose());
        let task = send_json(PROVIDER, request, Self::poll_refusal).await?;
        let interval = self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(POLL_INTERVAL);
        let ended = |cause, detail: &str| Err(UpstreamError::new(PROVIDER, cause).detail(detail).into());
        match task["status"].as_str() {
            Some("succeeded") => {
                let url = task["content"]["video_url"].as_str();
                let url =
                    url.ok_or_else(|| UpstreamError::new(PROVIDER, Cause::Failed).detail("succeeded without a video"))?;
                Ok(PollOutcome::Succeeded(vec![download(PROVIDER, &self.http, url).await?]))
            }
            Some("failed") => {
                let code = task["error"]["code"].as_str().unwrap_or_default();
                let message = task["error"]["message"].as_str().unwrap_or("the task failed");
                let filtered = code.contains("Sensitive") || code.contains("Risk");
                ended(if filtered { Cause::Filtered } else { Cause::Failed }, message)
            }
            Some("expired") => ended(Cause::Interrupted, "the task expired before it ran"),
            Some("cancelled") => ended(Cause::Failed, "the task was cancelled upstream"),
            Some("running") => Ok(PollOutcome::Running { progress: 50, poll_after: interval }),
            _ => Ok(PollOutcome::Running { progress: 0, poll_after: interval }),
        }
    }

    /// `DELETE` the task: Ark cancels a queued task; a running one cannot be stopped (it runs
    /// out, and its result is ignored here).
    async fn cancel(&self, job: &Job) -> Result<()> {
        let Some(task_id) = job.upstream_task_id.as_deref() else { return Ok(()) };
        let url = self.url(&format!("/contents/generations/tasks/{task_id}"))?;
        let request = self.http.delete(url).bearer_auth(self.config.api_key.expose());
        let response = request.send().await.map_err(|e| crate::http::transport(PROVIDER, e))?;
        match response.status().as_u16() {
            200..=299 | 400 | 404 => Ok(()),
            _ => Err(status(PROVIDER, response.status(), "cancelling")),
        }
    }
}
