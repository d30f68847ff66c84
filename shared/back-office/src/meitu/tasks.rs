//! `/admin/meitu/api/tasks`: the Meitu (Yunxiu) calls, as seed 000's 美颜任务: the jobs offered
//! to a `yunxiu` channel, each with its preset, `msg_id` (when Meitu took the call), times,
//! state and result; a recheck asks Meitu about the `msg_id` now and applies the answer. Admins and operators, as in the
//! original. A task's id is its job's.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use genrelay_core::ports::AdminJobQuery;
use genrelay_core::{AssetId, Job, JobId, JobStatus, Retouch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, Success};
use crate::session::SignedIn;
use crate::tasks::{instant, positive};
use crate::views::{FilePreview, file_link};

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().routes(routes!(list_tasks)).routes(routes!(get_task)).routes(routes!(recheck_task))
}

/// Seed 000's answer to a task that does not exist.
const TASK_NOT_FOUND: &str = "任务不存在";
/// Seed 000's original's answer to a recheck of a call Meitu gave no `msg_id`.
const NO_MSG_ID: &str = "任务没有msg_id，无法查询结果。可能是原始调用失败或响应格式不正确。";

/// A Meitu call.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeituTask {
    /// The job's id.
    pub id: String,
    pub order_number: Option<String>,
    /// The Meitu preset code the call ran (预设ID).
    pub preset_id: Option<String>,
    /// Meitu's id of the call, asked about by a recheck.
    pub msg_id: Option<String>,
    pub has_msg_id: bool,
    /// The channel that called Meitu.
    pub channel: String,
    /// When it was sent (请求时间).
    pub request_time: Option<DateTime<Utc>>,
    /// Meitu's answer to the call (响应状态): `accepted`, or why not.
    pub response_status: Option<String>,
    /// From the call to its end (耗时), once it ended.
    pub duration_ms: Option<i64>,
    /// `pending`, `success` or `failed`.
    pub status: &'static str,
    /// The retouched image, through this back office.
    pub result: Vec<FilePreview>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A Meitu call in full: also its request and the job it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeituTaskDetail {
    #[serde(flatten)]
    pub task: MeituTask,
    /// What was sent: the preset, the endpoint and the input image.
    #[schema(value_type = Object)]
    pub request: Value,
    /// Every hand-over of the job, Meitu's answers among them.
    #[schema(value_type = Object)]
    pub attempts: Value,
    /// The job's console page.
    pub job: String,
    pub client_id: String,
}

fn meitu_status(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued | JobStatus::Running => "pending",
        JobStatus::Succeeded => "success",
        _ => "failed",
    }
}

fn statuses_of(raw: &str) -> Result<Vec<JobStatus>, Failure> {
    match raw {
        "pending" => Ok(vec![JobStatus::Queued, JobStatus::Running]),
        "success" => Ok(vec![JobStatus::Succeeded]),
        "failed" => Ok(vec![JobStatus::Failed, JobStatus::Expired, JobStatus::Cancelled]),
        other => {
            Err(Failure::new(StatusCode::BAD_REQUEST, format!("status: pending, success or failed, got {other:?}")))
        }
    }
}

/// The `yunxiu` channels and their settings (the Meitu calls are the jobs handed to them).
async fn meitu_channels(state: &BackOfficeState) -> Result<Vec<Value>, Failure> {
    let channels = state.channels.list().await?;
    Ok(channels.into_iter().filter(|channel| channel["type"] == "yunxiu").collect())
}

/// Whether `channel` is one of the Meitu channels.
fn is_meitu(channel: &str, channels: &[Value]) -> bool {
    channels.iter().any(|settings| settings["name"] == channel)
}

fn task_of(job: &Job, channels: &[Value]) -> MeituTask {
    match &job.retouch {
        Some(retouch) => retouch_task(job, retouch),
        None => call_task(job, channels),
    }
}

/// A job handed to a Meitu channel for its own capability.
fn call_task(job: &Job, channels: &[Value]) -> MeituTask {
    // The last call to Meitu; Meitu took it when the job is on that channel now.
    let call = job.attempts.iter().rev().find(|attempt| is_meitu(&attempt.channel, channels));
    let channel = call.map(|attempt| attempt.channel.clone()).unwrap_or_default();
    let taken = job.channel.as_deref() == Some(channel.as_str());
    let msg_id = job.upstream_task_id.clone().filter(|_| taken);
    let settings = channels.iter().find(|settings| settings["name"] == channel.as_str());
    let preset_id = settings.and_then(|s| s["presets"][job.capability().as_str()].as_str()).map(str::to_owned);
    let request_time = call.map(|attempt| attempt.at);
    let ended = job.status.is_terminal().then_some(job.updated_at);
    MeituTask {
        id: job.id.to_string(),
        order_number: job.labels.order_number.clone(),
        preset_id,
        has_msg_id: msg_id.is_some(),
        msg_id,
        channel,
        request_time,
        response_status: call.map(|attempt| String::from(attempt.outcome.clone())),
        duration_ms: request_time.zip(ended).map(|(from, to)| (to - from).num_milliseconds()),
        status: meitu_status(job.status),
        result: previews(job, &job.output_asset_ids),
        error_message: job.error.clone(),
        created_at: job.created_at,
    }
}

/// Meitu's retouch of a job's original before its own capability: its call, and its image once
/// back. Its status is its job's, as for every task (and as the list filters).
fn retouch_task(job: &Job, retouch: &Retouch) -> MeituTask {
    let call = job.attempts.iter().rev().find(|attempt| attempt.channel == retouch.channel);
    let ended = retouch.finished_at.or(job.status.is_terminal().then_some(job.updated_at));
    MeituTask {
        id: job.id.to_string(),
        order_number: job.labels.order_number.clone(),
        preset_id: Some(retouch.preset.clone()),
        msg_id: Some(retouch.msg_id.clone()),
        has_msg_id: true,
        channel: retouch.channel.clone(),
        request_time: Some(retouch.sent_at),
        response_status: call.map(|attempt| String::from(attempt.outcome.clone())),
        duration_ms: ended.map(|to| (to - retouch.sent_at).num_milliseconds()),
        status: meitu_status(job.status),
        result: previews(job, retouch.result.as_slice()),
        error_message: job.error.clone(),
        created_at: job.created_at,
    }
}

fn previews(job: &Job, assets: &[AssetId]) -> Vec<FilePreview> {
    let preview =
        |asset: &AssetId| FilePreview { kind: "image", url: file_link(job, asset), asset_id: Some(asset.to_string()) };
    assets.iter().map(preview).collect()
}

/// The list's parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeituTaskFilters {
    /// Page number, from 1 (default 1).
    pub page: Option<String>,
    /// Tasks per page, 1-100 (default 20).
    pub per_page: Option<String>,
    /// Part of the order number.
    pub order_number: Option<String>,
    /// pending, success or failed.
    pub status: Option<String>,
    /// Created on or after (a date or an RFC 3339 time).
    pub start_date: Option<String>,
    /// Created on or before (a date, to its end, or an RFC 3339 time).
    pub end_date: Option<String>,
    /// `next_cursor` of an earlier answer: go on reading from where it stopped.
    pub cursor: Option<String>,
}

/// A page of Meitu tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeituTaskList {
    pub tasks: Vec<MeituTask>,
    /// The matching tasks. When `next_cursor` is set, only those the call read (the store
    /// reads a bounded number of jobs per call): pass it as `cursor` to go on.
    pub total: usize,
    pub pages: usize,
    pub page: usize,
    pub per_page: usize,
    pub next_cursor: Option<String>,
}

/// The Meitu calls, newest first (美颜任务列表).
#[utoipa::path(
    get, path = "/admin/meitu/api/tasks", tag = "管理后台", params(MeituTaskFilters),
    responses(
        (status = 200, description = "A page of Meitu tasks", body = Success<MeituTaskList>),
        (status = 400, description = "A filter is wrong"),
        (status = 401, description = "未登录"),
    ),
    security(("session" = []))
)]
async fn list_tasks(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    Query(filters): Query<MeituTaskFilters>,
) -> Result<Success<MeituTaskList>, Failure> {
    Ok(Success::of(task_list(&state, &filters).await?))
}

/// The page of Meitu tasks `filters` ask for.
pub async fn task_list(state: &BackOfficeState, filters: &MeituTaskFilters) -> Result<MeituTaskList, Failure> {
    let page = positive(&filters.page, "page", 1, 100_000)?;
    let per_page = positive(&filters.per_page, "per_page", 20, 100)?;
    let statuses = match filters.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => statuses_of(raw)?,
        None => Vec::new(),
    };
    let channels = meitu_channels(state).await?;
    let names: Vec<String> = channels.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect();
    if names.is_empty() {
        return Ok(MeituTaskList { tasks: Vec::new(), total: 0, pages: 0, page, per_page, next_cursor: None });
    }
    let query = AdminJobQuery {
        statuses,
        order_number: filters.order_number.clone().filter(|o| !o.trim().is_empty()),
        channels: names,
        created_from: instant(&filters.start_date, "start_date", false)?,
        created_to: instant(&filters.end_date, "end_date", true)?,
        skip: (page - 1).saturating_mul(per_page),
        limit: per_page,
        cursor: filters
            .cursor
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(genrelay_core::Cursor::from_client),
        ..AdminJobQuery::default()
    };
    let found = state.engine.admin_jobs(&query).await?;
    let tasks = found.jobs.iter().map(|job| task_of(job, &channels)).collect();
    let pages = found.total.div_ceil(per_page);
    let next_cursor = found.next.map(|cursor| cursor.as_str().to_owned());
    Ok(MeituTaskList { tasks, total: found.total, pages, page, per_page, next_cursor })
}

/// The Meitu call of a job on a `yunxiu` channel, or 404.
async fn meitu_job(state: &BackOfficeState, raw: &str) -> Result<(Job, Vec<Value>), Failure> {
    let missing = || Failure::new(StatusCode::NOT_FOUND, TASK_NOT_FOUND);
    let id = JobId::parse(raw).map_err(|_| missing())?;
    let job = match state.engine.admin_job(&id).await {
        Ok(job) => job,
        Err(genrelay_core::Error::NotFound(_)) => return Err(missing()),
        Err(error) => return Err(error.into()),
    };
    let channels = meitu_channels(state).await?;
    let offered = job.attempts.iter().any(|attempt| is_meitu(&attempt.channel, &channels));
    if offered { Ok((job, channels)) } else { Err(missing()) }
}

/// One Meitu call (任务详情): its request, Meitu's answers, `msg_id`, result, duration and job.
#[utoipa::path(
    get, path = "/admin/meitu/api/tasks/{task_id}", tag = "管理后台",
    params(("task_id" = String, Path, description = "The task's (its job's) id")),
    responses(
        (status = 200, description = "The task", body = Success<MeituTaskDetail>),
        (status = 404, description = "任务不存在"),
    ),
    security(("session" = []))
)]
async fn get_task(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    Path(task_id): Path<String>,
) -> Result<Success<MeituTaskDetail>, Failure> {
    let (job, channels) = meitu_job(&state, &task_id).await?;
    Ok(Success::of(detail(&job, &channels)))
}

fn detail(job: &Job, channels: &[Value]) -> MeituTaskDetail {
    let task = task_of(job, channels);
    let settings = channels.iter().find(|settings| settings["name"] == task.channel.as_str());
    let request = serde_json::json!({
        "endpoint": settings.and_then(|s| s["endpoint"].as_str()).unwrap_or(genrelay_providers::yunxiu::DEFAULT_ENDPOINT),
        "media_code": task.preset_id,
        // The image Meitu fetched (a stored one through this back office).
        "media_data": crate::views::AiTask::from(job).input_files.first().map(|file| file.url.clone()),
    });
    MeituTaskDetail {
        request,
        attempts: serde_json::to_value(&job.attempts).unwrap_or_default(),
        job: format!("/admin/ai/tasks/{}", job.id),
        client_id: job.client_id.to_string(),
        task,
    }
}

/// Asks Meitu about the task's `msg_id` now and applies the answer (重新查询任务结果); 400 when
/// Meitu gave the call no `msg_id`.
#[utoipa::path(
    post, path = "/admin/meitu/api/tasks/{task_id}/recheck", tag = "管理后台",
    params(("task_id" = String, Path, description = "The task's (its job's) id")),
    responses(
        (status = 200, description = "Asked; the task as it is now", body = Success<MeituTaskDetail>),
        (status = 400, description = "The call has no msg_id"),
        (status = 404, description = "任务不存在"),
        (status = 409, description = "The task already ended: nothing to ask"),
    ),
    security(("session" = []))
)]
async fn recheck_task(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    Path(task_id): Path<String>,
) -> Result<Success<MeituTaskDetail>, Failure> {
    let (job, channels) = meitu_job(&state, &task_id).await?;
    let task = task_of(&job, &channels);
    if !task.has_msg_id {
        return Err(Failure::new(StatusCode::BAD_REQUEST, NO_MSG_ID));
    }
    if job.retouch.as_ref().is_some_and(|retouch| retouch.result.is_some()) {
        let ended = format!("The Meitu call of job {} already ended; there is nothing to ask.", job.id);
        return Err(Failure::new(StatusCode::CONFLICT, ended));
    }
    let job = state.engine.recheck(&job.id, signed_in.name()).await?;
    let outcome = job.operator_actions.last().map(|action| action.outcome.clone()).unwrap_or_default();
    Ok(Success::saying(format!("已重新查询: {outcome}"), detail(&job, &channels)))
}
