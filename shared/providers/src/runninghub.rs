//! RunningHub (runninghub.cn / .ai), its task API: `POST /task/openapi/create` runs a workflow
//! and `POST /task/openapi/ai-app/run` an AI app, each with `nodeInfoList` (slot values bound to
//! node id + field name; input images are sent first with `POST /task/openapi/upload` and bound
//! by the server path it answers); `POST /task/openapi/outputs`
//! is the poll. Every answer is HTTP 200 with a `{code, msg, data}` envelope: 0 is success, 804
//! running, 813 queued, 805 failed (`failedReason`), 421/415 queue or instances full (retry
//! later, not a failure); `promptTips` is ComfyUI's validation, as a JSON string.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use serde::Deserialize;
use serde_json::{Value, json};

use genrelay_egress::Egress;

use crate::comfyui::{Uploaded, slot_values};
use crate::http::{
    ApiKey, answer_json, client, configured_for, download, fetch_input, no_task_id, slotted_images, status,
    submission_status, submission_transport, transport, unreadable,
};

const PROVIDER: &str = "RunningHub";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningHubConfig {
    /// `https://www.runninghub.cn`
    pub base_url: url::Url,
    pub api_key: ApiKey,
    /// The workflow each capability runs.
    pub workflows: HashMap<Capability, RunningHubWorkflow>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningHubWorkflow {
    /// A workflow (`workflowId`) or an AI app (`webappId`).
    #[serde(flatten)]
    pub run: RunTarget,
    /// Slot name (`prompt`, `negative_prompt`, `seed`, `width`, `height`, `image`/`image_1`,
    /// `image_2`, …) → `[node id, field name]`.
    #[serde(default)]
    pub slots: HashMap<String, (String, String)>,
}

/// What a capability runs on RunningHub.
#[derive(Debug, Clone, Deserialize)]
pub enum RunTarget {
    #[serde(rename = "workflowId")]
    Workflow(String),
    /// An AI app; its id is an int64 (a number or a string of digits).
    #[serde(rename = "webappId")]
    App(Value),
}

pub struct RunningHub {
    name: String,
    config: RunningHubConfig,
    http: crate::http::SharedClient,
    egress: Egress,
}

impl RunningHub {
    /// `egress` fetches the input images clients name by URL.
    pub fn new(name: impl Into<String>, config: RunningHubConfig, egress: Egress) -> Self {
        Self { name: name.into(), config, http: client(), egress }
    }

    fn interval(&self) -> Duration {
        self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(5))
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.config.base_url.join(path).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    /// Calls an endpoint and opens the envelope: `(code, msg, data)`.
    async fn call(&self, path: &str, body: Value) -> Result<(i64, String, Value)> {
        let response = self.http.post(self.url(path)?).json(&body).send().await.map_err(|e| transport(PROVIDER, e))?;
        Self::open(response).await
    }

    /// Creates the task: once the request went out, a broken or unreadable answer leaves its
    /// outcome unknown.
    async fn create(&self, path: &str, body: Value) -> Result<(i64, String, Value)> {
        let request = self.http.post(self.url(path)?).json(&body).send().await;
        let response = request.map_err(|e| submission_transport(PROVIDER, e))?;
        if !response.status().is_success() {
            return Err(submission_status(PROVIDER, response.status(), ""));
        }
        match Self::open(response).await {
            // 500 UNKNOWN_ERROR in the body: the task may have been created.
            Ok((500, _, _)) | Err(Error::Upstream(UpstreamError { cause: Cause::Busy, .. })) => {
                Err(no_task_id(PROVIDER))
            }
            answer => answer,
        }
    }

    /// The envelope of an answer: `(code, msg, data)`.
    async fn open(response: reqwest::Response) -> Result<(i64, String, Value)> {
        if !response.status().is_success() {
            return Err(status(PROVIDER, response.status(), ""));
        }
        let envelope: Value = answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))?;
        let code = envelope["code"].as_i64().ok_or_else(|| unreadable(PROVIDER))?;
        Ok((code, envelope["msg"].as_str().unwrap_or_default().to_owned(), envelope["data"].clone()))
    }

    /// An error code of the envelope, classified.
    fn refusal(code: i64, msg: &str) -> Error {
        let cause = match code {
            415 | 421 | 814 | 1003 | 1011 | 1520 | 500 => Cause::Busy,
            801 | 802 | 806 | 811 => Cause::CredentialsRefused,
            812 => Cause::QuotaExhausted,
            423 | 807 => Cause::Lost,
            _ => Cause::RefusedAsInvalid,
        };
        let error = UpstreamError::new(PROVIDER, cause);
        match cause {
            Cause::CredentialsRefused | Cause::QuotaExhausted => error.said(&format!("{code} {msg}")).into(),
            _ => error.detail(&format!("{code} {msg}")).into(),
        }
    }

    fn node_info(&self, job: &Job, workflow: &RunningHubWorkflow, images: &[Uploaded]) -> Vec<Value> {
        let values = slot_values(job, images);
        workflow
            .slots
            .iter()
            .filter_map(|(slot, (node, field))| {
                values.get(slot.as_str()).map(|value| json!({"nodeId": node, "fieldName": field, "fieldValue": value}))
            })
            .collect()
    }

    /// Uploads the input images the workflow has slots for (`POST /task/openapi/upload`) and
    /// answers the server paths a load node reads them by.
    async fn upload_images(
        &self,
        job: &Job,
        workflow: &RunningHubWorkflow,
        inputs: &ResolvedInputs,
    ) -> Result<Vec<Uploaded>> {
        let mut names = Vec::new();
        for (index, url) in slotted_images(inputs, &workflow.slots).iter().enumerate() {
            let file = fetch_input(&self.http, &self.egress, inputs, url).await?;
            let size = file.image_size();
            let file_name = format!("{}-image_{}.{}", job.id, index + 1, file.extension());
            let part = file.into_part(file_name)?;
            let form = reqwest::multipart::Form::new()
                .text("apiKey", self.config.api_key.expose().to_owned())
                .text("fileType", "input")
                .part("file", part);
            let url = self.url("/task/openapi/upload")?;
            let response = self.http.post(url).multipart(form).send().await.map_err(|e| transport(PROVIDER, e))?;
            let (code, msg, data) = Self::open(response).await?;
            if code != 0 {
                return Err(Self::refusal(code, &msg));
            }
            let name = data["fileName"].as_str().ok_or_else(|| unreadable(PROVIDER))?;
            names.push(Uploaded { name: name.to_owned(), size });
        }
        Ok(names)
    }
}

#[async_trait]
impl Provider for RunningHub {
    fn name(&self) -> &str {
        &self.name
    }

    /// The account's status, `POST /uc/openapi/accountStatus` (`code` 0 with the key accepted).
    async fn probe(&self) -> Result<ProbeAnswer> {
        let key = self.config.api_key.expose();
        let request = self.http.post(self.url("/uc/openapi/accountStatus")?).json(&json!({"apikey": key}));
        crate::http::probe(PROVIDER, request, &[key], |code, body| code.is_success() && body["code"] == 0).await
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let workflow = configured_for(&self.config.workflows, job.capability(), &self.name, "workflow")?;
        let images = self.upload_images(job, workflow, inputs).await?;
        let node_info = self.node_info(job, workflow, &images);
        let key = self.config.api_key.expose();
        let (path, body) = match &workflow.run {
            RunTarget::Workflow(id) => (
                "/task/openapi/create",
                json!({"apiKey": key, "workflowId": id, "nodeInfoList": node_info, "addMetadata": true}),
            ),
            RunTarget::App(id) => {
                ("/task/openapi/ai-app/run", json!({"apiKey": key, "webappId": id, "nodeInfoList": node_info}))
            }
        };
        let (code, msg, data) = self.create(path, body).await?;
        if code != 0 {
            return Err(Self::refusal(code, &msg));
        }
        // ComfyUI's validation result, packed in a string.
        let tips: Value = data["promptTips"].as_str().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
        if tips["node_errors"].as_object().is_some_and(|errors| !errors.is_empty()) {
            let refused =
                UpstreamError::new(PROVIDER, Cause::RefusedAsInvalid).detail("the workflow failed validation");
            return Err(refused.said(&tips["node_errors"].to_string()).into());
        }
        let task_id = data["taskId"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| data["taskId"].as_i64().map(|id| id.to_string()))
            .ok_or_else(|| no_task_id(PROVIDER))?;
        Ok(Submission::Accepted { task_id, poll_after: self.interval() })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let task_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let body = json!({"apiKey": self.config.api_key.expose(), "taskId": task_id});
        let (code, msg, data) = self.call("/task/openapi/outputs", body).await?;
        match code {
            0 => {
                let mut files = Vec::new();
                for url in data.as_array().into_iter().flatten().filter_map(|f| f["fileUrl"].as_str()) {
                    files.push(download(PROVIDER, &self.http, url).await?);
                }
                if files.is_empty() {
                    return Err(UpstreamError::new(PROVIDER, Cause::Failed)
                        .detail("finished without an output")
                        .into());
                }
                Ok(PollOutcome::Succeeded(files))
            }
            804 => Ok(PollOutcome::Running { progress: 50, poll_after: self.interval() }),
            813 => Ok(PollOutcome::Running { progress: 0, poll_after: self.interval() }),
            805 => {
                let reason = &data["failedReason"];
                let kind = reason["exception_type"].as_str().unwrap_or_default();
                if kind.contains("Audit") {
                    return Err(UpstreamError::new(PROVIDER, Cause::Filtered).detail("the content was refused").into());
                }
                let message = reason["exception_message"].as_str().unwrap_or("the task failed").trim();
                let node = reason["node_name"].as_str().unwrap_or("?");
                Err(UpstreamError::new(PROVIDER, Cause::Failed).detail(&format!("node {node}: {message}")).into())
            }
            _ => Err(Self::refusal(code, &msg)),
        }
    }

    /// `POST /task/openapi/cancel`; a task that already ended (807) is fine.
    async fn cancel(&self, job: &Job) -> Result<()> {
        let Some(task_id) = job.upstream_task_id.as_deref() else { return Ok(()) };
        let body = json!({"apiKey": self.config.api_key.expose(), "taskId": task_id});
        match self.call("/task/openapi/cancel", body).await? {
            (0 | 807, _, _) => Ok(()),
            (code, msg, _) => Err(Self::refusal(code, &msg)),
        }
    }
}
