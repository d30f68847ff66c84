//! A ComfyUI server (self-hosted) as an upstream. A capability runs a workflow template: an
//! API-format graph kept in the providers file, with named slots (see [`slot_names`]) bound to a
//! node id and an input name. Input images are sent first with `POST /upload/image` into a
//! folder of their own job (`genrelay-<job id>/<slot>.<ext>`), since ComfyUI's input folder is
//! one namespace shared by every client and a `LoadImage` reads the file when it runs.
//! `POST /prompt` queues the graph; `GET /api/jobs/{id}` says `pending`, `in_progress`,
//! `completed`, `failed` or `cancelled`, and 404 for a prompt the server does not know (it
//! restarted, or the prompt was deleted); servers before the jobs API are asked `/history/{id}`
//! (`{}` until done) and `/queue`. Only files of `type: "output"` are results (previews are
//! `temp`), in the order of the output nodes the workflow names or else by node number.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{GeneratedFile, PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::spec::Params;
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use genrelay_egress::Egress;

use crate::http::{
    InputFile, answer_json, client, configured_for, fetch_input, image_slots, no_task_id, result_file, slotted_images,
    status, submission_status, submission_transport, transport, unfetched, unreadable,
};

const PROVIDER: &str = "ComfyUI";
const FIRST_POLL: Duration = Duration::from_secs(2);
/// The first poll of a prompt whose answer was lost.
const LOST_ANSWER_FIRST_POLL: Duration = Duration::from_secs(60);
/// How long each call that stops a prompt may take (an upstream being given up on may not
/// answer at all).
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Frames per second of video workflows, unless the workflow's own value is kept.
const VIDEO_FPS: u32 = 24;

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

/// A workflow template: the graph in ComfyUI's API format, where each slot goes, and which
/// output nodes hold the results.
#[derive(Debug, Clone, Deserialize)]
pub struct Workflow {
    pub graph: serde_json::Map<String, Value>,
    /// Slot name → `[node id, input name]`.
    #[serde(default)]
    pub slots: HashMap<String, (String, String)>,
    /// The output nodes whose files are the results, in order; every output node by number
    /// when absent.
    #[serde(default)]
    pub outputs: Option<Vec<String>>,
}

/// The slots a workflow of `capability` may bind: every value a job of that capability has.
/// `image`/`image_1`, `image_2`, … are the input images (for image.inpaint, `image_2` is the
/// mask, also named `mask`).
pub fn slot_names(capability: Capability) -> &'static [&'static str] {
    match capability {
        Capability::ImageGenerate => &[
            "prompt",
            "negative_prompt",
            "seed",
            "width",
            "height",
            "scale",
            "quality",
            "image",
            "image_1",
            "image_2",
            "image_3",
            "image_4",
        ],
        Capability::ImageEdit => {
            &["prompt", "negative_prompt", "seed", "width", "height", "keep_size", "image", "image_1"]
        }
        Capability::ImageInpaint => {
            &["prompt", "negative_prompt", "seed", "width", "height", "image", "image_1", "image_2", "mask"]
        }
        Capability::ImageUpscale => {
            &["prompt", "negative_prompt", "seed", "width", "height", "resolution", "scale_by", "image", "image_1"]
        }
        Capability::VideoGenerate => &[
            "prompt",
            "negative_prompt",
            "seed",
            "width",
            "height",
            "ratio",
            "resolution",
            "duration",
            "fps",
            "frames",
            "image",
            "image_1",
            "image_2",
        ],
    }
}

impl ComfyConfig {
    /// Refuses a workflow that binds a slot its capability lacks, or a node its graph lacks.
    pub fn check(&self) -> Result<()> {
        for (capability, workflow) in &self.workflows {
            let allowed = slot_names(*capability);
            for (slot, (node, _)) in &workflow.slots {
                if !allowed.contains(&slot.as_str()) {
                    return Err(Error::invalid(format!(
                        "workflow for {capability}: slot {slot:?} is not a value of {capability} (its slots: {})",
                        allowed.join(", ")
                    )));
                }
                if !workflow.graph.contains_key(node) {
                    return Err(Error::invalid(format!(
                        "workflow for {capability}: slot {slot:?} names node {node}, not in the graph"
                    )));
                }
            }
        }
        Ok(())
    }
}

pub struct ComfyUi {
    name: String,
    config: ComfyConfig,
    http: crate::http::SharedClient,
    egress: Egress,
}

/// An input image uploaded for a job: the name its `LoadImage` reads, and its size.
pub(crate) struct Uploaded {
    pub name: String,
    pub size: Option<(u32, u32)>,
}

impl ComfyUi {
    /// `egress` fetches the input images clients name by URL.
    pub fn new(name: impl Into<String>, config: ComfyConfig, egress: Egress) -> Self {
        Self { name: name.into(), config, http: client(), egress }
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.config.base_url.join(path).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    /// The workflow of the job's capability with the job's values in its slots.
    fn graph_for(&self, job: &Job, workflow: &Workflow, images: &[Uploaded]) -> Result<Value> {
        let values = slot_values(job, images);
        let mut graph = workflow.graph.clone();
        for (slot, (node, input)) in &workflow.slots {
            let Some(value) = values.get(slot.as_str()) else { continue };
            let inputs = graph
                .get_mut(node)
                .and_then(|n| n.get_mut("inputs"))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| Error::internal(format!("workflow slot {slot}: node {node} has no inputs")))?;
            inputs.insert(input.clone(), value.clone());
        }
        Ok(Value::Object(graph))
    }

    /// Uploads the input images the workflow has slots for into the job's own subfolder, one
    /// file per slot, and answers the names a `LoadImage` node reads them by.
    async fn upload_images(&self, job: &Job, workflow: &Workflow, inputs: &ResolvedInputs) -> Result<Vec<Uploaded>> {
        let subfolder = format!("genrelay-{}", job.id);
        let mut uploaded = Vec::new();
        for (index, url) in slotted_images(inputs, &workflow.slots).iter().enumerate() {
            let file: InputFile = fetch_input(&self.http, &self.egress, inputs, url).await?;
            let size = file.image_size();
            let file_name = format!("image_{}.{}", index + 1, file.extension());
            let form = reqwest::multipart::Form::new()
                .part("image", file.into_part(file_name)?)
                .text("type", "input")
                .text("subfolder", subfolder.clone())
                .text("overwrite", "true");
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
            let stored: Value = answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))?;
            let name = stored["name"].as_str().ok_or_else(|| unreadable(PROVIDER))?;
            let name = match stored["subfolder"].as_str().filter(|s| !s.is_empty()) {
                Some(subfolder) => format!("{subfolder}/{name}"),
                None => name.to_owned(),
            };
            uploaded.push(Uploaded { name, size });
        }
        Ok(uploaded)
    }

    /// The prompt's history entry, `None` while the server has none (queued, running, or
    /// unknown).
    async fn history(&self, prompt_id: &str) -> Result<Option<Value>> {
        let history = self.get_json(&format!("/history/{prompt_id}")).await?;
        Ok(history.get(prompt_id).cloned())
    }

    /// `GET path`, read as JSON.
    async fn get_json(&self, path: &str) -> Result<Value> {
        let response = self.http.get(self.url(path)?).send().await.map_err(|e| transport(PROVIDER, e))?;
        if !response.status().is_success() {
            return Err(status(PROVIDER, response.status(), ""));
        }
        answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))
    }

    /// Whether the prompt waits or runs in the server's queue.
    async fn queued(&self, prompt_id: &str) -> Result<bool> {
        let queue = self.get_json("/queue").await?;
        let listed = |list: &str| queue[list].as_array().into_iter().flatten().any(|entry| entry[1] == prompt_id);
        Ok(listed("queue_running") || listed("queue_pending"))
    }

    /// The outcome of a finished prompt, from its history entry.
    async fn finished(&self, entry: &Value, workflow: Option<&Workflow>) -> Result<PollOutcome> {
        match entry["status"]["status_str"].as_str() {
            Some("success") => Ok(PollOutcome::Succeeded(self.outputs(entry, workflow).await?)),
            Some("error") => Err(failure(entry).into()),
            _ => Ok(PollOutcome::Running { progress: 90, poll_after: self.poll_interval() }),
        }
    }

    /// The saved files of a finished prompt, fetched from `/view`.
    async fn outputs(&self, entry: &Value, workflow: Option<&Workflow>) -> Result<Vec<GeneratedFile>> {
        let mut files = Vec::new();
        for file in result_files(entry, workflow.and_then(|w| w.outputs.as_deref())) {
            let name = file["filename"].as_str().unwrap_or("output").to_owned();
            let mut url = self.url("/view")?;
            url.query_pairs_mut()
                .append_pair("filename", &name)
                .append_pair("subfolder", file["subfolder"].as_str().unwrap_or(""))
                .append_pair("type", "output");
            let response = self.http.get(url).send().await.map_err(|e| unfetched(PROVIDER, e))?;
            files.push(result_file(PROVIDER, name, response)?);
        }
        if files.is_empty() {
            return Err(UpstreamError::new(PROVIDER, Cause::Failed).detail("the workflow saved no output").into());
        }
        Ok(files)
    }

    fn poll_interval(&self) -> Duration {
        self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(POLL_INTERVAL)
    }

    /// A server without the jobs API (before v0.26): history, then the queue; a prompt in
    /// neither is lost (looked up in history once more, in case it ended in between).
    async fn poll_history(&self, prompt_id: &str, workflow: Option<&Workflow>) -> Result<PollOutcome> {
        if let Some(entry) = self.history(prompt_id).await? {
            return self.finished(&entry, workflow).await;
        }
        if self.queued(prompt_id).await? {
            return Ok(PollOutcome::Running { progress: 0, poll_after: self.poll_interval() });
        }
        match self.history(prompt_id).await? {
            Some(entry) => self.finished(&entry, workflow).await,
            None => Err(lost()),
        }
    }
}

/// Every value a job of its capability fills a slot with (ComfyUI's and RunningHub's workflows).
pub(crate) fn slot_values(job: &Job, images: &[Uploaded]) -> HashMap<&'static str, Value> {
    let mut values: HashMap<&'static str, Value> = HashMap::new();
    values.insert("prompt", Value::from(job.spec.prompt.clone().unwrap_or_default()));
    values.insert("negative_prompt", Value::from(""));
    // A seed from the job id: the same job always renders the same way.
    let digest = Sha256::digest(job.id.as_str().as_bytes());
    values.insert("seed", Value::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])));
    for (index, image) in images.iter().enumerate() {
        for slot in image_slots(index) {
            if let Some(slot) = static_slot(&slot) {
                values.insert(slot, Value::from(image.name.clone()));
            }
        }
    }
    let input_size = images.first().and_then(|image| image.size);
    let mut size = |(width, height): (u32, u32)| {
        values.insert("width", Value::from(width));
        values.insert("height", Value::from(height));
    };
    match &job.spec.params {
        Params::ImageGenerate(params) => {
            size((params.width, params.height));
            if let Some(scale) = params.scale {
                values.insert("scale", Value::from(scale));
            }
            if let Some(quality) = params.quality {
                values.insert("quality", Value::from(quality.as_str()));
            }
        }
        Params::ImageEdit { keep_size } => {
            if let Some(input) = input_size {
                size(input);
            }
            values.insert("keep_size", Value::from(*keep_size));
        }
        Params::ImageInpaint => {
            if let Some(input) = input_size {
                size(input);
            }
        }
        Params::ImageUpscale { resolution } => {
            let long_side: u32 = if resolution.as_str() == "4k" { 3840 } else { 2048 };
            if let Some((width, height)) = input_size {
                let factor = f64::from(long_side) / f64::from(width.max(height).max(1));
                size(((f64::from(width) * factor).round() as u32, (f64::from(height) * factor).round() as u32));
                values.insert("scale_by", Value::from((factor * 1000.0).round() / 1000.0));
            }
            values.insert("resolution", Value::from(resolution.as_str()));
        }
        Params::VideoGenerate(settings) => {
            size(settings.dimensions());
            values.insert("ratio", Value::from(settings.ratio.as_str()));
            values.insert("resolution", Value::from(settings.resolution.as_str()));
            values.insert("duration", Value::from(settings.duration));
            values.insert("fps", Value::from(VIDEO_FPS));
            values.insert("frames", Value::from(settings.duration * VIDEO_FPS));
        }
    }
    values
}

fn static_slot(slot: &str) -> Option<&'static str> {
    ["image", "image_1", "image_2", "image_3", "image_4", "mask"].into_iter().find(|known| *known == slot)
}

/// The files of a history entry that are results: `type: "output"` only (previews are `temp`),
/// images, gifs and videos alike, from the named output nodes in their order, else from every
/// node in numeric order (a JSON map iterates "10" before "9").
fn result_files<'a>(entry: &'a Value, named: Option<&[String]>) -> Vec<&'a Value> {
    let outputs = entry["outputs"].as_object();
    let mut nodes: Vec<&String> = match named {
        Some(named) => named.iter().collect(),
        None => outputs.into_iter().flat_map(|o| o.keys()).collect(),
    };
    if named.is_none() {
        nodes.sort_by_key(|id| (id.parse::<u64>().unwrap_or(u64::MAX), (*id).clone()));
    }
    let mut files = Vec::new();
    for node in nodes {
        let Some(output) = outputs.and_then(|o| o.get(node.as_str())) else { continue };
        for key in ["images", "gifs", "videos"] {
            files.extend(output[key].as_array().into_iter().flatten().filter(|file| file["type"] == "output"));
        }
    }
    files
}

fn lost() -> Error {
    UpstreamError::new(PROVIDER, Cause::Lost)
        .detail("the server does not know the prompt (restarted or deleted)")
        .into()
}

/// Why a run ended in error, from its last `execution_error` or `execution_interrupted`
/// message: the node and the exception's first line for the client, the rest for the log.
fn failure(entry: &Value) -> UpstreamError {
    let messages = entry["status"]["messages"].as_array().cloned().unwrap_or_default();
    for message in messages.iter().rev() {
        let data = &message[1];
        match message[0].as_str() {
            Some("execution_error") => {
                let exception = data["exception_message"].as_str().unwrap_or("unknown error");
                let detail = format!(
                    "node {} ({}): {}",
                    data["node_id"].as_str().unwrap_or("?"),
                    data["node_type"].as_str().unwrap_or("?"),
                    exception.trim()
                );
                let mut error = UpstreamError::new(PROVIDER, Cause::Failed).detail(&detail);
                if let Some(traceback) = data["traceback"].as_array().filter(|t| !t.is_empty()) {
                    error.said = Some(format!(
                        "{exception}\n{}",
                        traceback.iter().filter_map(Value::as_str).collect::<String>()
                    ));
                }
                return error;
            }
            Some("execution_interrupted") => {
                return UpstreamError::new(PROVIDER, Cause::Failed).detail("the run was interrupted on the server");
            }
            _ => {}
        }
    }
    UpstreamError::new(PROVIDER, Cause::Failed).detail("the run ended in an error")
}

/// A 400 from `POST /prompt`: the graph does not fit this server (a node type missing, an
/// input out of range). The same graph fails the same way every time.
fn refused(answer: &Value) -> Error {
    let error = &answer["error"];
    let kind = error["type"].as_str().unwrap_or("invalid_prompt");
    let message = error["message"].as_str().unwrap_or("validation failed");
    let nodes = answer["node_errors"].as_object();
    let first_node_error = nodes.into_iter().flat_map(|n| n.iter()).next().map(|(id, node)| {
        let first = &node["errors"][0];
        format!(
            " (node {id} {}: {} {})",
            node["class_type"].as_str().unwrap_or("?"),
            first["message"].as_str().unwrap_or(""),
            first["details"].as_str().unwrap_or("")
        )
    });
    let detail = format!("{kind}: {message}{}", first_node_error.unwrap_or_default());
    UpstreamError::new(PROVIDER, Cause::RefusedAsInvalid).detail(detail.trim_end()).into()
}

#[async_trait]
impl Provider for ComfyUi {
    fn name(&self) -> &str {
        &self.name
    }

    /// `GET /system_stats` (a self-hosted ComfyUI has no credentials).
    async fn probe(&self) -> Result<ProbeAnswer> {
        let request = self.http.get(self.url("/system_stats")?);
        crate::http::probe(PROVIDER, request, &[], |code, _| code.is_success()).await
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let workflow = configured_for(&self.config.workflows, job.capability(), &self.name, "workflow")?;
        let images = self.upload_images(job, workflow, inputs).await?;
        // The prompt's id is chosen here (v0.26 honours a client's canonical UUID): a prompt
        // whose answer was lost is still found by it.
        let prompt_id = uuid::Builder::from_random_bytes(ulid::Ulid::new().0.to_be_bytes()).into_uuid().to_string();
        let body = serde_json::json!({
            "prompt": self.graph_for(job, workflow, &images)?, "client_id": "genrelay", "prompt_id": prompt_id,
        });
        let first = self.config.first_poll_ms.map(Duration::from_millis).unwrap_or(FIRST_POLL);
        let accepted = |task_id: &str| Submission::Accepted { task_id: task_id.to_owned(), poll_after: first };
        let failure = match self.http.post(self.url("/prompt")?).json(&body).send().await {
            Err(error) => submission_transport(PROVIDER, error),
            Ok(response) => {
                let code = response.status();
                let answer: Value = answer_json(response).await.unwrap_or(Value::Null);
                match answer["prompt_id"].as_str() {
                    _ if code == reqwest::StatusCode::BAD_REQUEST => return Err(refused(&answer)),
                    // A 500 (a body the server could not read) queues nothing; a gateway's 502/504 may.
                    _ if !code.is_success() => submission_status(PROVIDER, code, ""),
                    Some(id) => return Ok(accepted(id)),
                    None => no_task_id(PROVIDER),
                }
            }
        };
        match failure {
            // It went out and its answer was lost: the prompt may be queued. Polling it by its
            // id runs it to its end if it is, or finds it missing and sends the job again; it is
            // never left running unknown. The first poll waits until a request still on its way
            // (behind a gateway that gave up on it) has surely been queued or dropped, so it is
            // not sent twice.
            Error::Upstream(ref lost) if lost.cause == Cause::OutcomeUnknown => {
                tracing::warn!(job_id = %job.id, prompt_id, error = %failure.chain(), "the answer to a prompt was lost; polling it by its id");
                Ok(Submission::Accepted { task_id: prompt_id, poll_after: LOST_ANSWER_FIRST_POLL })
            }
            failure => Err(failure),
        }
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let prompt_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let workflow = self.config.workflows.get(&job.capability());
        let response = self
            .http
            .get(self.url(&format!("/api/jobs/{prompt_id}"))?)
            .send()
            .await
            .map_err(|e| transport(PROVIDER, e))?;
        let code = response.status();
        if matches!(code, reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::METHOD_NOT_ALLOWED) {
            // v0.26 answers `{"error": "Job not found"}`; an older server has no such route.
            let answer: Value = answer_json(response).await.unwrap_or(Value::Null);
            if code == reqwest::StatusCode::NOT_FOUND && answer["error"].is_string() {
                return Err(lost());
            }
            return self.poll_history(prompt_id, workflow).await;
        }
        if !code.is_success() {
            return Err(status(PROVIDER, code, ""));
        }
        let state: Value = answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))?;
        let progress = |value| Ok(PollOutcome::Running { progress: value, poll_after: self.poll_interval() });
        match state["status"].as_str() {
            Some("pending") => progress(0),
            Some("in_progress") => progress(50),
            Some("completed" | "failed" | "cancelled") => match self.history(prompt_id).await? {
                Some(entry) => self.finished(&entry, workflow).await,
                // The jobs API knows the end a moment before history has it.
                None => progress(95),
            },
            _ => Err(unreadable(PROVIDER)),
        }
    }

    /// `POST /interrupt` stops the run if it is the one executing; `POST /queue` `delete`
    /// removes it if it is still pending. Either may find nothing to do; both are sent, each
    /// given [`CANCEL_TIMEOUT`]; the first failure is answered.
    async fn cancel(&self, job: &Job) -> Result<()> {
        let Some(prompt_id) = job.upstream_task_id.as_deref() else { return Ok(()) };
        let mut outcome = Ok(());
        for (path, body) in [
            ("/interrupt", serde_json::json!({"prompt_id": prompt_id})),
            ("/queue", serde_json::json!({"delete": [prompt_id]})),
        ] {
            let sent = self.http.post(self.url(path)?).json(&body).timeout(CANCEL_TIMEOUT).send().await;
            let answered = match sent {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(status(PROVIDER, response.status(), "cancelling")),
                Err(error) => Err(transport(PROVIDER, error)),
            };
            outcome = outcome.and(answered);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_saved_outputs_count_in_node_order_or_as_named() {
        let entry = json!({"outputs": {
            "10": {"images": [{"filename": "ComfyUI_temp_gajod_00001_.png", "subfolder": "", "type": "temp"}]},
            "9": {"images": [{"filename": "gw_00001_.png", "subfolder": "", "type": "output"}]},
            "12": {"images": [{"filename": "clip_00001_.mp4", "subfolder": "", "type": "output"}], "animated": [true]},
            "11": {"gifs": [{"filename": "anim_00001_.gif", "subfolder": "", "type": "output"}]}
        }});
        let names =
            |files: Vec<&Value>| files.iter().map(|f| f["filename"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(result_files(&entry, None)), ["gw_00001_.png", "anim_00001_.gif", "clip_00001_.mp4"]);
        let named = ["12".to_owned(), "9".to_owned()];
        assert_eq!(names(result_files(&entry, Some(&named))), ["clip_00001_.mp4", "gw_00001_.png"]);
    }

    fn job_of(capability: Capability, params: Params) -> Job {
        use genrelay_core::spec::Inputs;
        let inputs = Inputs { image_urls: vec!["https://e.com/a.png".into()], ..Inputs::default() };
        let spec = genrelay_core::JobSpec::new(capability, Some("x".into()), inputs, params).unwrap();
        let now = chrono::Utc::now();
        let id = genrelay_core::JobId::parse("job_01jsample0000000000000000").unwrap();
        Job::new(id, genrelay_core::ClientId::parse("a").unwrap(), genrelay_core::NewJob::of(spec), None, now, now)
    }

    #[test]
    fn every_capability_fills_its_size_and_value_slots() {
        use genrelay_core::spec::UpscaleResolution;
        let input = [Uploaded { name: "genrelay-job/image_1.png".into(), size: Some((1000, 500)) }];
        let upscale = slot_values(
            &job_of(Capability::ImageUpscale, Params::ImageUpscale { resolution: UpscaleResolution::K2 }),
            &input,
        );
        assert_eq!((upscale["width"].clone(), upscale["height"].clone()), (json!(2048), json!(1024)));
        assert_eq!((upscale["resolution"].clone(), upscale["scale_by"].clone()), (json!("2k"), json!(2.048)));
        let edit = slot_values(&job_of(Capability::ImageEdit, Params::ImageEdit { keep_size: true }), &input);
        assert_eq!(
            (edit["width"].clone(), edit["height"].clone(), edit["keep_size"].clone()),
            (json!(1000), json!(500), json!(true))
        );
        assert_eq!(edit["image"], "genrelay-job/image_1.png");
        for capability in Capability::ALL {
            let names = slot_names(*capability);
            assert!(names.contains(&"width") && names.contains(&"seed"), "{capability}");
        }
    }

    #[test]
    fn a_workflow_binding_a_slot_its_capability_lacks_is_refused() {
        let workflow = |slot: &str| Workflow {
            graph: json!({"5": {"class_type": "EmptyImage", "inputs": {}}}).as_object().unwrap().clone(),
            slots: HashMap::from([(slot.to_owned(), ("5".to_owned(), "width".to_owned()))]),
            outputs: None,
        };
        let config = |capability, slot: &str| ComfyConfig {
            base_url: "http://comfy:8188".parse().unwrap(),
            workflows: HashMap::from([(capability, workflow(slot))]),
            first_poll_ms: None,
            poll_interval_ms: None,
        };
        assert!(config(Capability::VideoGenerate, "duration").check().is_ok());
        let refused = config(Capability::ImageGenerate, "duration").check().unwrap_err();
        assert!(refused.to_string().contains("slot \"duration\" is not a value of image.generate"), "{refused}");
    }
}
