//! A ComfyUI server (self-hosted) as an upstream. A capability runs a workflow template: an
//! API-format graph kept in the providers file, with named slots (`prompt`, `negative_prompt`,
//! `seed`, `width`, `height`, and `image`/`image_1`, `image_2`, … for input images, which are sent
//! first with `POST /upload/image`) bound to a node id and an input name. `POST /prompt` queues it;
//! `GET /history/{id}` is `{}` until it ends, then holds the outputs (or the error in
//! `status.messages`); `GET /view` serves each file.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{GeneratedFile, PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::spec::Params;
use genrelay_core::{Capability, Error, Job, Result};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use genrelay_egress::Egress;

use crate::http::{body_stream, client, configured_for, fetch_input, image_slots, slotted_images, status, transport};

const PROVIDER: &str = "ComfyUI";
const FIRST_POLL: Duration = Duration::from_secs(2);
const POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComfyConfig {
    /// e.g. `http://comfy:8188`
    pub base_url: url::Url,
    /// The workflow each capability runs.
    pub workflows: HashMap<Capability, Workflow>,
    #[serde(default)]
    pub first_poll_ms: Option<u64>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

/// A workflow template: the graph in ComfyUI's API format, and where each slot goes.
#[derive(Debug, Clone, Deserialize)]
pub struct Workflow {
    pub graph: serde_json::Map<String, Value>,
    /// Slot name → `[node id, input name]`.
    #[serde(default)]
    pub slots: HashMap<String, (String, String)>,
}

pub struct ComfyUi {
    name: String,
    config: ComfyConfig,
    http: reqwest::Client,
    egress: Egress,
}

impl ComfyUi {
    /// `egress` fetches the input images clients name by URL.
    pub fn new(name: impl Into<String>, config: ComfyConfig, egress: Egress) -> Self {
        Self { name: name.into(), config, http: client(), egress }
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.config.base_url.join(path).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    /// The workflow of the job's capability with the job's values in its slots; `images` are
    /// the names of the uploaded input images.
    fn graph_for(&self, job: &Job, workflow: &Workflow, images: Vec<String>) -> Result<Value> {
        let mut values: HashMap<String, Value> = HashMap::new();
        if let Some(prompt) = &job.spec.prompt {
            values.insert("prompt".into(), Value::from(prompt.clone()));
        }
        values.insert("negative_prompt".into(), Value::from(""));
        for (index, image) in images.into_iter().enumerate() {
            for slot in image_slots(index) {
                values.insert(slot, Value::from(image.clone()));
            }
        }
        // A seed from the job id: the same job always renders the same way.
        let digest = Sha256::digest(job.id.as_str().as_bytes());
        values.insert("seed".into(), Value::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])));
        if let Params::ImageGenerate(params) = &job.spec.params {
            values.insert("width".into(), Value::from(params.width));
            values.insert("height".into(), Value::from(params.height));
        }
        let mut graph = workflow.graph.clone();
        for (slot, (node, input)) in &workflow.slots {
            let Some(value) = values.get(slot) else { continue };
            let inputs = graph
                .get_mut(node)
                .and_then(|n| n.get_mut("inputs"))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| Error::internal(format!("workflow slot {slot}: node {node} has no inputs")))?;
            inputs.insert(input.clone(), value.clone());
        }
        Ok(Value::Object(graph))
    }

    /// Uploads the input images the workflow has slots for (`POST /upload/image`, into the
    /// input folder) and answers the names a `LoadImage` node reads them by.
    async fn upload_images(&self, workflow: &Workflow, inputs: &ResolvedInputs) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for url in slotted_images(inputs, &workflow.slots) {
            let part = fetch_input(&self.http, &self.egress, inputs, url).await?.into_part()?;
            let form =
                reqwest::multipart::Form::new().part("image", part).text("type", "input").text("overwrite", "true");
            let response = self
                .http
                .post(self.url("/upload/image")?)
                .multipart(form)
                .send()
                .await
                .map_err(|e| transport(PROVIDER, e))?;
            if !response.status().is_success() {
                return Err(status(PROVIDER, response.status(), "uploading an input image"));
            }
            let stored: Value = response
                .json()
                .await
                .map_err(|e| Error::Unavailable(format!("{PROVIDER} answered unreadable JSON: {e}")))?;
            let name = stored["name"]
                .as_str()
                .ok_or_else(|| Error::Unavailable(format!("{PROVIDER} stored an upload without a name")))?;
            names.push(match stored["subfolder"].as_str().filter(|s| !s.is_empty()) {
                Some(subfolder) => format!("{subfolder}/{name}"),
                None => name.to_owned(),
            });
        }
        Ok(names)
    }

    async fn outputs(&self, entry: &Value) -> Result<Vec<GeneratedFile>> {
        let mut files = Vec::new();
        for output in entry["outputs"].as_object().into_iter().flat_map(|o| o.values()) {
            for file in output["images"].as_array().into_iter().flatten() {
                let name = file["filename"].as_str().unwrap_or("output").to_owned();
                let mut url = self.url("/view")?;
                url.query_pairs_mut()
                    .append_pair("filename", &name)
                    .append_pair("subfolder", file["subfolder"].as_str().unwrap_or(""))
                    .append_pair("type", file["type"].as_str().unwrap_or("output"));
                let response = self.http.get(url).send().await.map_err(|e| transport(PROVIDER, e))?;
                if !response.status().is_success() {
                    return Err(status(PROVIDER, response.status(), "fetching an output"));
                }
                let content_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                files.push(GeneratedFile { name, content_type, body: body_stream(response) });
            }
        }
        if files.is_empty() {
            return Err(Error::Upstream(format!("{PROVIDER} finished without an output image")));
        }
        Ok(files)
    }
}

/// The error message of a failed run, from its `execution_error` (or interrupt) message.
fn failure(entry: &Value) -> String {
    let messages = entry["status"]["messages"].as_array().cloned().unwrap_or_default();
    for message in messages.iter().rev() {
        match message[0].as_str() {
            Some("execution_error") => {
                let data = &message[1];
                return format!(
                    "{} failed in node {} ({}): {}",
                    PROVIDER,
                    data["node_id"].as_str().unwrap_or("?"),
                    data["node_type"].as_str().unwrap_or("?"),
                    data["exception_message"].as_str().unwrap_or("unknown error").trim()
                );
            }
            Some("execution_interrupted") => return format!("{PROVIDER} interrupted the run"),
            _ => {}
        }
    }
    format!("{PROVIDER} reported an error")
}

#[async_trait]
impl Provider for ComfyUi {
    fn name(&self) -> &str {
        &self.name
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let workflow = configured_for(&self.config.workflows, job.capability(), &self.name, "workflow")?;
        let images = self.upload_images(workflow, inputs).await?;
        let body = serde_json::json!({"prompt": self.graph_for(job, workflow, images)?, "client_id": "genrelay"});
        let response =
            self.http.post(self.url("/prompt")?).json(&body).send().await.map_err(|e| transport(PROVIDER, e))?;
        let code = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if code == reqwest::StatusCode::BAD_REQUEST {
            // Validation: the workflow does not fit this server (a node or model missing).
            let error = &answer["error"];
            let detail = error["message"].as_str().unwrap_or("validation failed");
            let kind = error["type"].as_str().unwrap_or("invalid_prompt");
            return Err(Error::ChannelFault(format!("{PROVIDER} refused the workflow: {kind}: {detail}")));
        }
        if !code.is_success() {
            return Err(status(PROVIDER, code, ""));
        }
        let prompt_id = answer["prompt_id"]
            .as_str()
            .ok_or_else(|| Error::Unavailable(format!("{PROVIDER} answered without a prompt_id")))?;
        let first = self.config.first_poll_ms.map(Duration::from_millis).unwrap_or(FIRST_POLL);
        Ok(Submission::Accepted { task_id: prompt_id.to_owned(), poll_after: first })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let prompt_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let interval = self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(POLL_INTERVAL);
        let response = self
            .http
            .get(self.url(&format!("/history/{prompt_id}"))?)
            .send()
            .await
            .map_err(|e| transport(PROVIDER, e))?;
        if !response.status().is_success() {
            return Err(status(PROVIDER, response.status(), ""));
        }
        let history: Value = response
            .json()
            .await
            .map_err(|e| Error::Unavailable(format!("{PROVIDER} answered unreadable JSON: {e}")))?;
        let Some(entry) = history.get(prompt_id) else {
            // `{}` until the run ends (queued or running).
            return Ok(PollOutcome::Running { progress: 0, poll_after: interval });
        };
        match entry["status"]["status_str"].as_str() {
            Some("success") => Ok(PollOutcome::Succeeded(self.outputs(entry).await?)),
            Some("error") => Ok(PollOutcome::Failed(failure(entry))),
            _ => Ok(PollOutcome::Running { progress: 50, poll_after: interval }),
        }
    }

    /// `POST /interrupt` stops the run if it is the one executing; `POST /queue` `delete`
    /// removes it if it is still pending. Either may find nothing to do.
    async fn cancel(&self, job: &Job) -> Result<()> {
        let Some(prompt_id) = job.upstream_task_id.as_deref() else { return Ok(()) };
        for (path, body) in [
            ("/interrupt", serde_json::json!({"prompt_id": prompt_id})),
            ("/queue", serde_json::json!({"delete": [prompt_id]})),
        ] {
            let response =
                self.http.post(self.url(path)?).json(&body).send().await.map_err(|e| transport(PROVIDER, e))?;
            if !response.status().is_success() {
                return Err(status(PROVIDER, response.status(), "cancelling"));
            }
        }
        Ok(())
    }
}
