//! `/admin/ai/api/tasks…`: seed 000's AI task list and detail over every client's jobs, and
//! what operators do to a task (recheck, cancel, retry).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use genrelay_core::ports::AdminJobQuery;
use genrelay_core::{AssetId, Cursor, InputImageType, Job, JobId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, Success};
use crate::session::SignedIn;
use crate::views::{AiTask, AiTaskDetail, AiTaskStatus};

pub const DEFAULT_PER_PAGE: usize = 10;
pub const MAX_PER_PAGE: usize = 100;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(get_task))
        .routes(routes!(recheck_task))
        .routes(routes!(cancel_task))
        .routes(routes!(retry_task))
        .routes(routes!(task_file))
}

/// Seed 000's list parameters (all optional; unknown ones are ignored, as the original does).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilters {
    /// Page number, from 1 (default 1).
    pub page: Option<String>,
    /// Tasks per page, 1-100 (default 10).
    pub per_page: Option<String>,
    /// pending, processing, completed, failed (failed or expired) or cancelled.
    pub status: Option<String>,
    /// Part of the order number, in any case.
    pub order_number: Option<String>,
    /// Created on or after: a date (`2026-12-01`, from its start, UTC) or a time (RFC 3339).
    pub start_date: Option<String>,
    /// Created on or before: a date (to its end, UTC) or a time (RFC 3339).
    pub end_date: Option<String>,
    /// The input picture: original (原图) or retouched (美颜后).
    pub image_type: Option<String>,
    /// `true`: only the playground tasks of the signed-in user.
    pub playground_only: Option<String>,
    /// `next_cursor` of an earlier answer: go on reading from where it stopped.
    pub cursor: Option<String>,
}

/// Where a filter value is wrong.
fn invalid(field: &str, detail: impl std::fmt::Display) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, format!("{field}: {detail}"))
}

/// The value of a parameter, with an empty one counted as not given (as a form sends them).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub(crate) fn positive(value: &Option<String>, field: &str, default: usize, max: usize) -> Result<usize, Failure> {
    match given(value) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(invalid(field, format!("must be a whole number from 1 to {max}, got {raw:?}"))),
        },
    }
}

/// A date or a time; a date means its start (`from`) or its end.
pub(crate) fn instant(value: &Option<String>, field: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, Failure> {
    let Some(raw) = given(value) else { return Ok(None) };
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(time.with_timezone(&Utc)));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| invalid(field, format!("expected a date like 2026-12-01 or an RFC 3339 time, got {raw:?}")))?;
    let time = if end_of_day { NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999) } else { Some(NaiveTime::MIN) };
    Ok(Some(date.and_time(time.expect("a valid time")).and_utc()))
}

impl TaskFilters {
    /// The store query of page `page`, for `user`.
    pub fn query(&self, user: &str) -> Result<(AdminJobQuery, usize), Failure> {
        let page = positive(&self.page, "page", 1, 1_000_000)?;
        let per_page = positive(&self.per_page, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
        let statuses = match given(&self.status) {
            None => Vec::new(),
            Some(raw) => AiTaskStatus::parse(raw)
                .ok_or_else(|| invalid("status", format!("{raw:?} is not one of {}", AiTaskStatus::NAMES.join(", "))))?
                .job_statuses(),
        };
        let image_type = given(&self.image_type)
            .map(|raw| InputImageType::parse(raw, "image_type"))
            .transpose()
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        let playground_only = match given(&self.playground_only) {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(raw) => return Err(invalid("playground_only", format!("expected true or false, got {raw:?}"))),
        };
        let (created_from, created_to) =
            (instant(&self.start_date, "start_date", false)?, instant(&self.end_date, "end_date", true)?);
        if let (Some(from), Some(to)) = (created_from, created_to)
            && from > to
        {
            return Err(invalid("end_date", "is before start_date"));
        }
        let query = AdminJobQuery {
            statuses,
            order_number: given(&self.order_number).map(str::to_owned),
            image_type,
            playground_of: playground_only.then(|| user.to_owned()),
            channels: Vec::new(),
            created_from,
            created_to,
            skip: (page - 1).saturating_mul(per_page),
            limit: per_page,
            cursor: given(&self.cursor).map(Cursor::from_client),
        };
        Ok((query, page))
    }
}

/// One page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiTaskList {
    pub tasks: Vec<AiTask>,
    /// The matching tasks. When `next_cursor` is set, only those the call read (the store
    /// reads a bounded number per call): pass the cursor to count on.
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
    pub pages: usize,
    /// Set when the call stopped reading before the end: where to go on.
    pub next_cursor: Option<String>,
}

/// List AI tasks: every client's jobs from every surface, newest first.
#[utoipa::path(
    get, path = "/admin/ai/api/tasks", tag = "管理后台",
    params(TaskFilters),
    responses(
        (status = 200, description = "A page of tasks", body = Success<AiTaskList>),
        (status = 400, description = "A filter is invalid"),
        (status = 401, description = "未登录"),
    ),
    security(("session" = []))
)]
async fn list_tasks(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    Query(filters): Query<TaskFilters>,
) -> Result<Success<AiTaskList>, Failure> {
    Ok(Success::of(task_list(&state, &signed_in, &filters).await?))
}

/// The page of tasks `filters` asks for (the API's answer and the console's table).
pub async fn task_list(state: &BackOfficeState, user: &SignedIn, filters: &TaskFilters) -> Result<AiTaskList, Failure> {
    let (query, page) = filters.query(user.name())?;
    let found = state.engine.admin_jobs(&query).await?;
    Ok(AiTaskList {
        tasks: found.jobs.iter().map(AiTask::from).collect(),
        total: found.total,
        page,
        per_page: query.limit,
        pages: found.total.div_ceil(query.limit),
        next_cursor: found.next.map(|cursor| cursor.as_str().to_owned()),
    })
}

pub fn task_id(raw: &str) -> Result<JobId, Failure> {
    JobId::parse(raw).map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("任务 {raw} 不存在")))
}

/// One task with its attempts across channels, the upstream's state, the operators' actions and
/// the webhook deliveries.
#[utoipa::path(
    get, path = "/admin/ai/api/tasks/{task_id}", tag = "管理后台",
    params(("task_id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The task", body = Success<AiTaskDetail>),
        (status = 401, description = "未登录"),
        (status = 404, description = "No such task"),
    ),
    security(("session" = []))
)]
async fn get_task(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    Path(raw): Path<String>,
) -> Result<Success<AiTaskDetail>, Failure> {
    let record = state.engine.admin_job_record(&task_id(&raw)?).await?;
    Ok(Success::of(AiTaskDetail::of(&record.job, record.deliveries)))
}

/// Ask the upstream about the task now and apply its answer (a queued task is dispatched
/// again). Recorded on the task.
#[utoipa::path(
    post, path = "/admin/ai/api/tasks/{task_id}/recheck", tag = "管理后台",
    params(("task_id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The task after the upstream's answer", body = Success<AiTask>),
        (status = 401, description = "未登录"),
        (status = 404, description = "No such task"),
        (status = 409, description = "The task ended, or is being submitted: nothing to ask"),
    ),
    security(("session" = []))
)]
async fn recheck_task(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
) -> Result<Success<AiTask>, Failure> {
    let job = state.engine.recheck(&task_id(&raw)?, signed_in.name()).await?;
    let outcome = job.operator_actions.last().map(|action| action.outcome.clone()).unwrap_or_default();
    Ok(Success::saying(format!("已重新查询: {outcome}"), AiTask::from(&job)))
}

/// Cancel a pending or processing task (and its upstream task, where the upstream can).
#[utoipa::path(
    post, path = "/admin/ai/api/tasks/{task_id}/cancel", tag = "管理后台",
    params(("task_id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "Cancelled", body = Success<AiTask>),
        (status = 401, description = "未登录"),
        (status = 404, description = "No such task"),
        (status = 409, description = "The task already ended"),
    ),
    security(("session" = []))
)]
async fn cancel_task(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
) -> Result<Success<AiTask>, Failure> {
    let job = state.engine.operator_cancel(&task_id(&raw)?, signed_in.name()).await?;
    Ok(Success::saying("已取消", AiTask::from(&job)))
}

/// What a retry made.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryResult {
    /// The new task.
    pub task: AiTask,
    pub original_task_id: String,
}

/// Submit a failed, expired or cancelled task again, as a new task of the same client linked
/// to it (`retry_of`). Recorded on the original.
#[utoipa::path(
    post, path = "/admin/ai/api/tasks/{task_id}/retry", tag = "管理后台",
    params(("task_id" = String, Path, description = "The job id")),
    responses(
        (status = 201, description = "The new task", body = Success<RetryResult>),
        (status = 401, description = "未登录"),
        (status = 404, description = "No such task"),
        (status = 409, description = "The task is not failed, expired or cancelled"),
    ),
    security(("session" = []))
)]
async fn retry_task(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
) -> Result<Response, Failure> {
    let retried = state.engine.retry(&task_id(&raw)?, signed_in.name()).await?;
    let result = RetryResult { task: AiTask::from(&retried.retry), original_task_id: retried.original.id.to_string() };
    Ok((StatusCode::CREATED, Success::saying("已重新提交", result)).into_response())
}

/// An input or output file of a task: a redirect to a short-lived download URL.
#[utoipa::path(
    get, path = "/admin/ai/api/tasks/{task_id}/files/{asset_id}", tag = "管理后台",
    params(
        ("task_id" = String, Path, description = "The job id"),
        ("asset_id" = String, Path, description = "One of the job's input or output assets"),
    ),
    responses(
        (status = 303, description = "To the file"),
        (status = 401, description = "未登录"),
        (status = 404, description = "No such task, or not one of its files"),
    ),
    security(("session" = []))
)]
async fn task_file(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    Path((raw_task, raw_asset)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let job = state.engine.admin_job(&task_id(&raw_task)?).await?;
    let asset = AssetId::parse(&raw_asset)
        .ok()
        .filter(|asset| is_file_of(&job, asset))
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("文件 {raw_asset} 不属于任务 {raw_task}")))?;
    let url = state.engine.download_url(&job.client_id, &asset).await?;
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], Redirect::to(&url)).into_response())
}

fn is_file_of(job: &Job, asset: &AssetId) -> bool {
    let inputs = &job.spec.inputs;
    job.output_asset_ids.contains(asset)
        || inputs.input_asset_ids.contains(asset)
        || inputs.materials.iter().any(|material| material.asset_id.as_ref() == Some(asset))
        || job.retouch.as_ref().is_some_and(|retouch| retouch.result.as_ref() == Some(asset))
}
