//! Jimeng (即梦) through a jimeng-api server. With `async` (its asynchronous interface, as seed
//! 002 offers): `POST /v1/async/images/generations` (or `compositions` with input images, or
//! `videos/generations`) answers a `task_id`; `GET /v1/async/tasks/{id}` reports `pending`,
//! `processing`, `completed` (`result.data[].url`) or `failed`. Without it, the synchronous
//! endpoints answer the URLs at the end of a long request. Errors arrive in HTTP 200 bodies as
//! `{"code": <negative>, "message"}`. The channel's session token submits and polls alike.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{GeneratedFile, PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::spec::{Params, VideoRatio};
use genrelay_core::{Capability, Error, Job, Result};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{ApiKey, configured_for, download, status, transport};

const PROVIDER: &str = "Jimeng";
/// Seed 002's guidance: images first after 5-10 s then every 3-5 s; videos 10-15 s then 5-10 s.
const IMAGE_POLLS: (Duration, Duration) = (Duration::from_secs(8), Duration::from_secs(4));
const VIDEO_POLLS: (Duration, Duration) = (Duration::from_secs(12), Duration::from_secs(8));
/// How long a synchronous request may take (within the worker's time limit).
const SYNC_TIMEOUT: Duration = Duration::from_secs(100);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JimengConfig {
    /// A jimeng-api server, e.g. `http://jimeng-api:5100`
    pub base_url: url::Url,
    /// The Jimeng `sessionid` this channel uses.
    pub session_id: ApiKey,
    /// The model each capability runs, e.g. `{"image.generate": "jimeng-4.5"}`.
    pub models: HashMap<Capability, String>,
    /// Whether the server offers the asynchronous interface.
    #[serde(default = "yes")]
    pub r#async: bool,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

pub struct Jimeng {
    name: String,
    config: JimengConfig,
    http: reqwest::Client,
}

impl Jimeng {
    pub fn new(name: impl Into<String>, config: JimengConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(if config.r#async { Duration::from_secs(30) } else { SYNC_TIMEOUT })
            .build()
            .expect("the HTTP client builds");
        Self { name: name.into(), config, http }
    }

    fn polls(&self, job: &Job) -> (Duration, Duration) {
        let (first, every) = if job.capability() == Capability::VideoGenerate { VIDEO_POLLS } else { IMAGE_POLLS };
        match self.config.poll_interval_ms.map(Duration::from_millis) {
            Some(interval) => (interval, interval),
            None => (first, every),
        }
    }

    /// jimeng-api's error envelope, classified.
    fn refusal(code: i64, message: &str) -> Error {
        match code {
            -2002 | -2009 => Error::ChannelFault(format!("{PROVIDER} refused the channel ({code})")),
            -2006 => Error::Upstream(format!("{PROVIDER} filtered the content: {message}")),
            -2001 => Error::Unavailable(format!("{PROVIDER} request failed ({code})")),
            _ => Error::Upstream(format!("{PROVIDER} rejected the request ({code}): {message}")),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let url = self.config.base_url.join(path).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))?;
        let response = self
            .http
            .post(url)
            .bearer_auth(self.config.session_id.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(PROVIDER, e))?;
        Self::read(response).await
    }

    async fn read(response: reqwest::Response) -> Result<Value> {
        if !response.status().is_success() {
            return Err(status(PROVIDER, response.status(), ""));
        }
        let answer: Value = response.json().await.map_err(|e| Error::Unavailable(format!("{PROVIDER}: {e}")))?;
        match answer["code"].as_i64() {
            Some(code) if code < 0 => Err(Self::refusal(code, answer["message"].as_str().unwrap_or_default())),
            _ => Ok(answer),
        }
    }

    async fn files(&self, data: &Value) -> Result<Vec<GeneratedFile>> {
        let mut files = Vec::new();
        for url in data.as_array().into_iter().flatten().filter_map(|item| item["url"].as_str()) {
            files.push(download(PROVIDER, &self.http, url).await?);
        }
        if files.is_empty() {
            return Err(Error::Upstream(format!("{PROVIDER} answered without a result")));
        }
        Ok(files)
    }
}

fn ratio_of(width: u32, height: u32) -> &'static str {
    let r = width as f64 / height as f64;
    let known = [
        ("1:1", 1.0),
        ("4:3", 4.0 / 3.0),
        ("3:4", 0.75),
        ("16:9", 16.0 / 9.0),
        ("9:16", 9.0 / 16.0),
        ("3:2", 1.5),
        ("2:3", 2.0 / 3.0),
        ("21:9", 21.0 / 9.0),
    ];
    known.iter().min_by(|a, b| (a.1 - r).abs().total_cmp(&(b.1 - r).abs())).map(|k| k.0).unwrap_or("1:1")
}

#[async_trait]
impl Provider for Jimeng {
    fn name(&self) -> &str {
        &self.name
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let model = configured_for(&self.config.models, job.capability(), &self.name, "model")?;
        let prompt = job.spec.prompt.clone().unwrap_or_default();
        let (kind, body) = match &job.spec.params {
            Params::VideoGenerate(settings) => {
                let ratio = if settings.ratio == VideoRatio::Adaptive { "1:1" } else { settings.ratio.as_str() };
                (
                    "videos/generations",
                    json!({"model": model, "prompt": prompt, "ratio": ratio,
                                              "resolution": settings.resolution.as_str(), "duration": settings.duration,
                                              "file_paths": inputs.images.iter().take(2).collect::<Vec<_>>()}),
                )
            }
            Params::ImageGenerate(params) => {
                let mut body = json!({"model": model, "prompt": prompt, "ratio": ratio_of(params.width, params.height),
                                      "resolution": "2k"});
                if let Some(scale) = params.scale {
                    body["sample_strength"] = json!(f64::from(scale) / 100.0);
                }
                if inputs.images.is_empty() {
                    ("images/generations", body)
                } else {
                    body["images"] = json!(inputs.images);
                    ("images/compositions", body)
                }
            }
            _ => ("images/compositions", json!({"model": model, "prompt": prompt, "images": inputs.images})),
        };
        if !self.config.r#async {
            let answer = self.post(&format!("/v1/{kind}"), body).await?;
            return Ok(Submission::Finished(self.files(&answer["data"]).await?));
        }
        let answer = self.post(&format!("/v1/async/{kind}"), body).await?;
        let task_id = answer["task_id"]
            .as_str()
            .ok_or_else(|| Error::Unavailable(format!("{PROVIDER} answered without a task id")))?;
        Ok(Submission::Accepted { task_id: task_id.to_owned(), poll_after: self.polls(job).0 })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let task_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let url = self
            .config
            .base_url
            .join(&format!("/v1/async/tasks/{task_id}"))
            .map_err(|e| Error::internal(format!("bad upstream URL: {e}")))?;
        let response = self
            .http
            .get(url)
            .bearer_auth(self.config.session_id.expose())
            .send()
            .await
            .map_err(|e| transport(PROVIDER, e))?;
        let task = Self::read(response).await?;
        let progress = task["progress"].as_u64().unwrap_or(0).min(99) as u8;
        Ok(match task["status"].as_str() {
            Some("completed") => PollOutcome::Succeeded(self.files(&task["result"]["data"]).await?),
            Some("failed") => PollOutcome::Failed(format!(
                "{PROVIDER}: {}",
                task["error"].as_str().unwrap_or("the generation failed")
            )),
            _ => PollOutcome::Running { progress, poll_after: self.polls(job).1 },
        })
    }
}
