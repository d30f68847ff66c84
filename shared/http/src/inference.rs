//! Seed 003's inference backend API, served on the engine: `POST /api/inference?index=N` starts
//! the job an index selects (a configured preset), `GET /api/task/{id}/status|result|file/{name}`
//! follow it, `GET /api/tasks` lists them with a total, `GET /api/system/status` and
//! `GET /api/health` report on the service. Errors are `{"detail": "..."}`. Callers
//! authenticate as on the open API (the seed has none; genrelay is never open).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use genrelay_core::NewJob;
use genrelay_core::shapes::WebhookUrl;
use genrelay_core::spec::parse_url;
use genrelay_core::{AssetKind, ClientId, Error, Job, JobId, JobSource, JobStatus};
use genrelay_wire::job_body::CreateJobBody;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::or_not_found;
use crate::query::QueryPairs;
use crate::surface::{Caller, ErrorFormat, SurfaceError};

/// What each index runs: a job body of the open API (`POST /api/v1/jobs`), checked and parsed
/// once, and the pending queue's limit (503 above it).
#[derive(Debug, Clone)]
pub struct InferencePresets {
    by_index: BTreeMap<u32, NewJob>,
    pub queue_limit: usize,
}

/// The default queue limit.
pub const DEFAULT_QUEUE_LIMIT: usize = 50;

impl InferencePresets {
    /// The documented default set, which runs on the mock provider (or on whatever channels
    /// serve these capabilities).
    pub fn defaults() -> Self {
        let bodies = [
            (
                1,
                json!({"capability": "image.generate", "prompt": "A product photo on a clean white background",
                       "width": 1024, "height": 1024}),
            ),
            (
                2,
                json!({"capability": "image.generate", "prompt": "A 9:16 travel poster of a coastal town",
                       "width": 720, "height": 1280}),
            ),
            (
                3,
                json!({"capability": "video.generate", "prompt": "Ocean waves at sunset, slow camera pan",
                       "settings": {"duration": 5, "ratio": "16:9"}}),
            ),
        ];
        let by_index =
            bodies.into_iter().map(|(i, body)| (i, preset(body, i).expect("the defaults are valid"))).collect();
        Self { by_index, queue_limit: DEFAULT_QUEUE_LIMIT }
    }

    /// Presets from JSON: `{"1": {<job body>}, "2": {...}}`; each body is checked now.
    pub fn from_json(text: &str, queue_limit: usize) -> Result<Self, PresetsError> {
        let raw: BTreeMap<String, Value> = serde_json::from_str(text).map_err(PresetsError::NotAnObject)?;
        Self::from_bodies(raw, queue_limit)
    }

    /// Presets from index → job body; each body is checked now.
    pub fn from_bodies(raw: BTreeMap<String, Value>, queue_limit: usize) -> Result<Self, PresetsError> {
        let mut by_index = BTreeMap::new();
        for (key, body) in raw {
            let index: u32 = key.parse().ok().filter(|i| *i >= 1).ok_or(PresetsError::NotAnIndex(key))?;
            by_index.insert(index, preset(body, index).map_err(|error| PresetsError::Body { index, error })?);
        }
        if by_index.is_empty() {
            return Err(PresetsError::Empty);
        }
        Ok(Self { by_index, queue_limit })
    }
}

/// Why configured presets were refused.
#[derive(Debug, thiserror::Error)]
pub enum PresetsError {
    #[error("not a JSON object: {0}")]
    NotAnObject(serde_json::Error),
    #[error("{0:?} is not an index >= 1")]
    NotAnIndex(String),
    #[error("index {index}: {error}")]
    Body { index: u32, error: Error },
    #[error("no index is configured")]
    Empty,
}

/// The job an index starts.
fn preset(body: Value, index: u32) -> Result<NewJob, Error> {
    let body: CreateJobBody = serde_json::from_value(body).map_err(|e| Error::invalid(e.to_string()))?;
    let new: NewJob = body.try_into()?;
    Ok(NewJob { source: JobSource::Inference { index }, ..new })
}

#[derive(Clone)]
pub struct InferenceState {
    pub app: AppState,
    /// The deployment's presets; the AI config's replace them.
    pub presets: Arc<InferencePresets>,
}

impl InferenceState {
    /// The presets in force: those of the AI config operators set in the back office (read by
    /// the engine at most a minute ago), else the deployment's.
    fn presets(&self) -> Arc<InferencePresets> {
        let config = self.app.engine.live_ai_config();
        let limit = config.inference_queue_limit.map_or(self.presets.queue_limit, |limit| limit as usize);
        let Some(bodies) = config.inference_presets else {
            if limit == self.presets.queue_limit {
                return self.presets.clone();
            }
            return Arc::new(InferencePresets { by_index: self.presets.by_index.clone(), queue_limit: limit });
        };
        match InferencePresets::from_bodies(bodies, limit) {
            Ok(presets) => Arc::new(presets),
            Err(error) => {
                // Checked when saved; a preset a later version refuses falls back, logged.
                tracing::warn!(error = %error, "the AI config's inference presets are refused; using the deployment's");
                self.presets.clone()
            }
        }
    }
}

impl axum::extract::FromRef<InferenceState> for AppState {
    fn from_ref(state: &InferenceState) -> AppState {
        state.app.clone()
    }
}

/// The surface's error format: the open API's status, `{"detail": message}`.
pub struct InferenceFormat;

/// The backend's error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetailBody {
    #[schema(example = "Task 550e8400-e29b-41d4-a716-446655440000 not found")]
    pub detail: String,
}

impl ErrorFormat for InferenceFormat {
    type Body = DetailBody;

    fn body(_: StatusCode, detail: String) -> DetailBody {
        DetailBody { detail }
    }
}

type InferenceError = SurfaceError<InferenceFormat>;

pub fn routes() -> OpenApiRouter<InferenceState> {
    OpenApiRouter::new()
        .routes(routes!(submit))
        .routes(routes!(task_status))
        .routes(routes!(task_result))
        .routes(routes!(task_file))
        .routes(routes!(tasks))
        .routes(routes!(system_status))
        .routes(routes!(health))
}

/// Seed 003's task statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl TaskStatus {
    const NAMES: &str = "pending, processing, completed, failed";

    fn of(status: JobStatus) -> Self {
        match status {
            JobStatus::Queued => Self::Pending,
            JobStatus::Running => Self::Processing,
            JobStatus::Succeeded => Self::Completed,
            JobStatus::Failed | JobStatus::Expired | JobStatus::Cancelled => Self::Failed,
        }
    }
}

/// Times as the seed shows them: UTC, without an offset.
fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn index_of(job: &Job) -> Option<u32> {
    match job.source {
        JobSource::Inference { index } => Some(index),
        _ => None,
    }
}

fn inference_time(job: &Job) -> Option<f64> {
    let (started, finished) = (job.started_at?, job.finished_at?);
    Some(((finished - started).num_milliseconds() as f64 / 100.0).round() / 10.0)
}

fn task_id(raw: &str) -> Result<JobId, InferenceError> {
    JobId::parse(raw).map_err(|_| task_not_found(raw))
}

fn task_not_found(raw: &str) -> InferenceError {
    InferenceError::new(StatusCode::NOT_FOUND, format!("Task {raw} not found"))
}

async fn task(state: &InferenceState, client: &ClientId, raw: &str) -> Result<Job, InferenceError> {
    let id = task_id(raw)?;
    state.app.engine.job(client, &id).await.map_err(|e| or_not_found(e, || task_not_found(raw)))
}

/// Start the task an index selects.
#[utoipa::path(
    post, path = "/api/inference", tag = "inference (seed 003)",
    params(
        ("index" = u32, Query, minimum = 1, description = "The preset to run: one of those configured (see the README); another answers 400"),
        ("webhook_url" = Option<WebhookUrl>, Query, description = "genrelay's addition: a webhook told when the task ends"),
    ),
    responses(
        (status = 200, body = InferenceSubmitted),
        (status = 400, description = "The index is not configured", body = DetailBody),
        (status = 401, body = DetailBody),
        (status = 422, description = "index missing or below 1", body = DetailBody),
        (status = 429, description = "The client has as many unfinished jobs as the operator allows; try again after Retry-After", body = DetailBody),
        (status = 503, description = "The pending queue is full", body = DetailBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn submit(
    State(state): State<InferenceState>,
    Caller(client, _): Caller<InferenceFormat>,
    query: QueryPairs,
) -> Result<Response, InferenceError> {
    let raw = query.unique().map_err(|e| InferenceError::new(StatusCode::UNPROCESSABLE_ENTITY, e.message))?;
    let index = raw
        .iter()
        .find(|(name, _)| name == "index")
        .map(|(_, value)| value.trim().parse::<i64>())
        .ok_or_else(|| InferenceError::new(StatusCode::UNPROCESSABLE_ENTITY, "index: field required"))?
        .map_err(|_| InferenceError::new(StatusCode::UNPROCESSABLE_ENTITY, "index: must be an integer"))?;
    if index < 1 {
        return Err(InferenceError::new(StatusCode::UNPROCESSABLE_ENTITY, "index: must be >= 1"));
    }
    let index = u32::try_from(index).map_err(|_| InferenceError::new(StatusCode::BAD_REQUEST, "index: too large"))?;
    state.app.engine.refresh().await;
    let presets = state.presets();
    let Some(new_job) = presets.by_index.get(&index) else {
        let known: Vec<String> = presets.by_index.keys().map(u32::to_string).collect();
        let detail = format!("index {index} is not configured (configured: {})", known.join(", "));
        return Err(InferenceError::new(StatusCode::BAD_REQUEST, detail));
    };
    let pending = state.app.engine.queued_count(&client, presets.queue_limit + 1).await?;
    if pending > presets.queue_limit {
        let detail = format!("队列已满: {pending} tasks are pending (limit {})", presets.queue_limit);
        return Err(InferenceError::new(StatusCode::SERVICE_UNAVAILABLE, detail));
    }
    // genrelay's addition: `webhook_url` in the query, a webhook told when the task ends.
    let webhook = raw.iter().find(|(name, _)| name == "webhook_url").map(|(_, url)| parse_url(url, "webhook_url"));
    let new_job = NewJob { webhook_url: webhook.transpose()?, ..new_job.clone() };
    let job = state.app.engine.submit(&client, new_job, None).await?.job;
    let answer =
        InferenceSubmitted { task_id: job.id.to_string(), index, message: "任务已创建，正在处理中" };
    Ok((axum::Extension(crate::request_log::LoggedJob(job.id)), Json(answer)).into_response())
}

/// The answer to a submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct InferenceSubmitted {
    pub task_id: String,
    pub index: u32,
    #[schema(example = "任务已创建，正在处理中")]
    pub message: &'static str,
}

/// A task as `status` reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskState {
    pub task_id: String,
    pub index: Option<u32>,
    pub status: TaskStatus,
    /// UTC, without an offset.
    pub created_at: String,
    pub completed_at: Option<String>,
    /// Seconds from start to end, to a tenth.
    pub inference_time: Option<f64>,
    pub error_message: Option<String>,
}

/// A task's result: its files once completed, else why there are none yet.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TaskResult {
    Completed {
        task_id: String,
        index: Option<u32>,
        /// `completed`.
        status: TaskStatus,
        inference_time: Option<f64>,
        created_at: String,
        completed_at: Option<String>,
        files: Vec<ResultFile>,
    },
    NotCompleted {
        task_id: String,
        status: TaskStatus,
        #[schema(example = "任务尚未完成")]
        message: &'static str,
        error_message: Option<String>,
    },
}

/// A task in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskSummary {
    pub task_id: String,
    pub index: Option<u32>,
    pub status: TaskStatus,
    pub created_at: String,
    pub completed_at: Option<String>,
}

/// A page of tasks, with how many match in all.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskList {
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
    pub tasks: Vec<TaskSummary>,
}

/// The service's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemStatus {
    /// `running`.
    pub status: &'static str,
    /// Whether a channel is available for every preset's capability (the seed's name).
    pub ssh_connected: bool,
    pub queue_size: usize,
    pub queue_running: bool,
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `healthy`.
    pub status: &'static str,
    pub timestamp: String,
}

/// A task's status.
#[utoipa::path(
    get, path = "/api/task/{task_id}/status", tag = "inference (seed 003)",
    params(("task_id" = String, Path)),
    responses((status = 200, body = TaskState), (status = 401, body = DetailBody), (status = 404, body = DetailBody)),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn task_status(
    State(state): State<InferenceState>,
    Caller(client, _): Caller<InferenceFormat>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TaskState>, InferenceError> {
    let raw = path.map(|Path(raw)| raw).unwrap_or_default();
    let job = task(&state, &client, &raw).await?;
    Ok(Json(TaskState {
        task_id: job.id.to_string(),
        index: index_of(&job),
        status: TaskStatus::of(job.status),
        created_at: time(job.created_at),
        completed_at: job.finished_at.map(time),
        inference_time: inference_time(&job),
        error_message: job.error,
    }))
}

/// A file of a completed task.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultFile {
    pub filename: String,
    /// `image` or `video`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its `file` route (a redirect to the bytes).
    pub url: String,
}

/// A task's result: its files once completed, else the seed's "not completed" answer.
#[utoipa::path(
    get, path = "/api/task/{task_id}/result", tag = "inference (seed 003)",
    params(("task_id" = String, Path)),
    responses((status = 200, body = TaskResult), (status = 401, body = DetailBody), (status = 404, body = DetailBody)),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn task_result(
    State(state): State<InferenceState>,
    Caller(client, _): Caller<InferenceFormat>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TaskResult>, InferenceError> {
    let raw = path.map(|Path(raw)| raw).unwrap_or_default();
    let job = task(&state, &client, &raw).await?;
    if job.status != JobStatus::Succeeded {
        return Ok(Json(TaskResult::NotCompleted {
            task_id: job.id.to_string(),
            status: TaskStatus::of(job.status),
            message: "任务尚未完成",
            error_message: job.error,
        }));
    }
    let mut files = Vec::new();
    for id in &job.output_asset_ids {
        let asset = state.app.engine.asset(&client, id).await?;
        let kind = if asset.kind == AssetKind::Video { "video" } else { "image" };
        // A path segment: everything but the unreserved characters is escaped.
        const SEGMENT: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
        let name = percent_encoding::utf8_percent_encode(&asset.name, SEGMENT);
        let url = format!("/api/task/{}/file/{name}", job.id);
        files.push(ResultFile { filename: asset.name, kind, url });
    }
    Ok(Json(TaskResult::Completed {
        task_id: job.id.to_string(),
        index: index_of(&job),
        status: TaskStatus::Completed,
        inference_time: inference_time(&job),
        created_at: time(job.created_at),
        completed_at: job.finished_at.map(time),
        files,
    }))
}

/// A result file: a redirect to its bytes (a short-lived signed URL).
#[utoipa::path(
    get, path = "/api/task/{task_id}/file/{filename}", tag = "inference (seed 003)",
    params(("task_id" = String, Path), ("filename" = String, Path)),
    responses((status = 302, description = "To the file"), (status = 401, body = DetailBody), (status = 404, body = DetailBody)),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn task_file(
    State(state): State<InferenceState>,
    Caller(client, _): Caller<InferenceFormat>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, InferenceError> {
    let (raw, filename) = path.map(|Path(parts)| parts).unwrap_or_default();
    let id = task_id(&raw)?;
    let asset = state.app.engine.output_named(&client, &id, &filename).await?;
    let location = state.app.engine.download_url(&client, &asset.id).await?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store".to_owned())])
        .into_response())
}

/// The tasks started through this API, newest first.
#[utoipa::path(
    get, path = "/api/tasks", tag = "inference (seed 003)",
    params(
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 100),
        ("status" = inline(Option<TaskStatus>), Query),
    ),
    responses((status = 200, body = TaskList), (status = 401, body = DetailBody), (status = 422, body = DetailBody)),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn tasks(
    State(state): State<InferenceState>,
    Caller(client, _): Caller<InferenceFormat>,
    query: QueryPairs,
) -> Result<Json<TaskList>, InferenceError> {
    let invalid = |detail: String| InferenceError::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
    let (mut page, mut page_size, mut status) = (1usize, 10usize, None);
    for (name, value) in query.unique().map_err(|e| invalid(e.message))? {
        let number = |field: &str, range: std::ops::RangeInclusive<usize>| {
            value.trim().parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                invalid(format!("{field}: expected an integer from {} to {}", range.start(), range.end()))
            })
        };
        match name.as_str() {
            "page" => page = number("page", 1..=1_000_000)?,
            "page_size" => page_size = number("page_size", 1..=100)?,
            "status" => {
                let parsed = serde_json::from_value(Value::String(value.clone()));
                status = Some(parsed.map_err(|_| invalid(format!("status: expected one of {}", TaskStatus::NAMES)))?);
            }
            _ => {}
        }
    }
    let keep = |job: &Job| index_of(job).is_some() && status.is_none_or(|wanted| TaskStatus::of(job.status) == wanted);
    let (total, jobs) = state.app.engine.jobs_where(&client, keep, page, page_size).await?;
    let tasks = jobs
        .iter()
        .map(|job| TaskSummary {
            task_id: job.id.to_string(),
            index: index_of(job),
            status: TaskStatus::of(job.status),
            created_at: time(job.created_at),
            completed_at: job.finished_at.map(time),
        })
        .collect();
    Ok(Json(TaskList { total, page, page_size, tasks }))
}

/// The service's state: the pending queue, and whether the generators answer (`ssh_connected`,
/// the seed's name, reports the upstream's health here).
#[utoipa::path(
    get, path = "/api/system/status", tag = "inference (seed 003)",
    responses((status = 200, body = SystemStatus), (status = 401, body = DetailBody)),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn system_status(
    State(state): State<InferenceState>,
    Caller(client, _): Caller<InferenceFormat>,
) -> Result<Json<SystemStatus>, InferenceError> {
    let engine = &state.app.engine;
    let queue_size = engine.queued_count(&client, 200).await?;
    let mut upstream_ok = true;
    for preset in state.presets().by_index.values() {
        upstream_ok &= engine.has_available_channel(preset.spec.capability).await?;
    }
    Ok(Json(SystemStatus { status: "running", ssh_connected: upstream_ok, queue_size, queue_running: true }))
}

/// Liveness; needs no key.
#[utoipa::path(get, path = "/api/health", tag = "inference (seed 003)", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "healthy", timestamp: Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string() })
}
