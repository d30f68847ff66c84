//! A self-hosted inference server speaking seed 003's API, as an upstream:
//! `POST /api/inference?index=N` → `task_id`; `GET /api/task/{id}/status` (pending, processing,
//! completed, failed); `GET /api/task/{id}/result` → files; `GET /api/task/{id}/file/{name}`.
//! The server knows its models by index: each capability maps to one.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{GeneratedFile, PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use serde::Deserialize;

use crate::http::{
    answer_json, answer_text, client, configured_for, no_task_id, result_file, status, submission_status,
    submission_transport, transport, unfetched, unreadable,
};

const PROVIDER: &str = "the inference server";
/// Seed 003's task takes about half a minute: look first after a few seconds.
const FIRST_POLL: Duration = Duration::from_secs(5);
const POLL_INTERVAL: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// e.g. `http://gpu-box:8001`
    pub base_url: url::Url,
    /// The `index` of the server's task for each capability it serves.
    pub indexes: HashMap<Capability, u32>,
    #[serde(default)]
    pub first_poll_ms: Option<u64>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

pub struct InferenceServer {
    name: String,
    config: InferenceConfig,
    http: crate::http::SharedClient,
}

#[derive(Deserialize)]
struct Created {
    task_id: String,
}

#[derive(Deserialize)]
struct Status {
    status: String,
    error_message: Option<String>,
}

#[derive(Deserialize)]
struct ResultFiles {
    #[serde(default)]
    files: Vec<ResultFile>,
}

#[derive(Deserialize)]
struct ResultFile {
    filename: String,
    url: String,
}

impl InferenceServer {
    pub fn new(name: impl Into<String>, config: InferenceConfig) -> Self {
        Self { name: name.into(), config, http: client() }
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.config.base_url.join(path).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    fn interval(&self) -> Duration {
        self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(POLL_INTERVAL)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T> {
        let response = self.http.get(self.url(path)?).send().await.map_err(|e| transport(PROVIDER, e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            // The server restarted between the status and the result: its tasks live in memory.
            return Err(UpstreamError::new(PROVIDER, Cause::Lost).detail("the server does not know the task").into());
        }
        if !response.status().is_success() {
            let code = response.status();
            return Err(status(PROVIDER, code, &answer_text(response).await));
        }
        answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))
    }

    async fn outputs(&self, task_id: &str) -> Result<Vec<GeneratedFile>> {
        let result: ResultFiles = self.get_json(&format!("/api/task/{task_id}/result")).await?;
        if result.files.is_empty() {
            return Err(UpstreamError::new(PROVIDER, Cause::Failed).detail("finished the task without a file").into());
        }
        let mut files = Vec::with_capacity(result.files.len());
        for file in result.files {
            let response = self.http.get(self.url(&file.url)?).send().await.map_err(|e| unfetched(PROVIDER, e))?;
            files.push(result_file(PROVIDER, file.filename, response)?);
        }
        Ok(files)
    }
}

#[async_trait]
impl Provider for InferenceServer {
    fn name(&self) -> &str {
        &self.name
    }

    /// Seed 003's `GET /api/system/status` (the server has no credentials).
    async fn probe(&self) -> Result<ProbeAnswer> {
        let request = self.http.get(self.url("/api/system/status")?);
        crate::http::probe(PROVIDER, request, &[], |code, _| code.is_success()).await
    }

    async fn submit(&self, job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        let index = configured_for(&self.config.indexes, job.capability(), &self.name, "task index")?;
        let url = self.url("/api/inference")?;
        let request = self.http.post(url).query(&[("index", index)]).send().await;
        let response = request.map_err(|e| submission_transport(PROVIDER, e))?;
        if !response.status().is_success() {
            let code = response.status();
            return Err(submission_status(PROVIDER, code, &answer_text(response).await));
        }
        let created: Created = answer_json(response).await.ok_or_else(|| no_task_id(PROVIDER))?;
        let first = self.config.first_poll_ms.map(Duration::from_millis).unwrap_or(FIRST_POLL);
        Ok(Submission::Accepted { task_id: created.task_id, poll_after: first })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let task_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let url = self.url(&format!("/api/task/{task_id}/status"))?;
        let response = self.http.get(url).send().await.map_err(|e| transport(PROVIDER, e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            // Seed 003 answers 404 for a task it does not know (its queue is in memory).
            return Err(UpstreamError::new(PROVIDER, Cause::Lost).detail("the server does not know the task").into());
        }
        if !response.status().is_success() {
            return Err(status(PROVIDER, response.status(), ""));
        }
        let status: Status = answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))?;
        Ok(match status.status.as_str() {
            "completed" => PollOutcome::Succeeded(self.outputs(task_id).await?),
            "failed" => {
                let message = status.error_message.unwrap_or_else(|| "the server reported a failure".to_owned());
                // Out of memory or a timeout may pass: the job is submitted again.
                let lower = message.to_lowercase();
                let passing = ["out of memory", "timeout", "timed out"].iter().any(|w| lower.contains(w));
                let cause = if passing { Cause::Interrupted } else { Cause::Failed };
                return Err(UpstreamError::new(PROVIDER, cause).detail(&message).into());
            }
            "processing" => PollOutcome::Running { progress: 50, poll_after: self.interval() },
            // pending, or a status this client does not know: keep polling until the deadline.
            _ => PollOutcome::Running { progress: 0, poll_after: self.interval() },
        })
    }
}
