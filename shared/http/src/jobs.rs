//! `/api/v1/jobs`: create (idempotent), read, list, cancel.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use genrelay_core::ports::JobQuery;
use genrelay_core::{Capability, JobId, JobStatus, RequestFingerprint};
use genrelay_wire::job_body::CreateJobBody;
use genrelay_wire::views::{CreatedJobEnvelope, DeliveryList, DeliveryView, JobEnvelope, JobPage, JobView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Idempotency, ResourceId};
use crate::json::JsonBody;
use crate::query::{QueryPairs, new_paging, unknown_parameter};
use crate::request_log::LoggedJob;
use crate::surface::Caller;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(webhook_deliveries))
        .routes(routes!(redeliver_webhooks))
}

/// Create a job. It is queued at once and runs in the background; poll it or wait for the
/// webhook. With an `Idempotency-Key`, repeating the same request returns the same job.
#[utoipa::path(
    post, path = "/api/v1/jobs", tag = "jobs",
    request_body = CreateJobBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Unique id of this request (printable ASCII); kept 24 h")),
    responses(
        (status = 202, description = "Job created", body = CreatedJobEnvelope),
        (status = 200, description = "Same Idempotency-Key and body as an earlier request: that job", body = CreatedJobEnvelope),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 409, description = "Idempotency-Key already used with another body", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 429, description = "The client has as many unfinished jobs as the operator allows; try again after Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn create_job(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    Idempotency(key): Idempotency,
    JsonBody { body, value }: JsonBody<CreateJobBody>,
) -> Result<Response, ApiError> {
    let idempotency = key.map(|key| (key, RequestFingerprint::of_json(&value)));
    let style = state.engine.style_choice(body.style.as_deref()).await?;
    let submitted = state.engine.submit(&client, body.in_style(style)?, idempotency).await?;
    let status = if submitted.reused { StatusCode::OK } else { StatusCode::ACCEPTED };
    let job_id = submitted.job.id.clone();
    let envelope = CreatedJobEnvelope { job: JobView::from(submitted.job), reused: submitted.reused };
    Ok((status, [(axum::http::header::CACHE_CONTROL, "no-store")], axum::Extension(LoggedJob(job_id)), Json(envelope))
        .into_response())
}

/// A job of the calling client.
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = JobEnvelope),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such job for this client", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn get_job(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    let job = state.engine.job(&client, &JobId::parse(&id)?).await?;
    Ok(job_response(job))
}

/// Cancel a queued or running job. A job that already ended answers 409.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = JobEnvelope),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The job already ended", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn cancel_job(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    let job = state.engine.cancel(&client, &JobId::parse(&id)?).await?;
    Ok(job_response(job))
}

/// The webhook deliveries of a job: one per event sent, each with every attempt (time, status
/// code, latency, error).
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}/webhook-deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = DeliveryList),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such job for this client", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn webhook_deliveries(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    ResourceId(id): ResourceId,
) -> Result<Json<DeliveryList>, ApiError> {
    let deliveries = state.engine.webhook_deliveries(&client, &JobId::parse(&id)?).await?;
    Ok(Json(DeliveryList { deliveries: deliveries.into_iter().map(DeliveryView::from).collect() }))
}

/// Send the job's webhooks again, now (logged as manual attempts). A URL disabled after a
/// `410 Gone` is enabled again.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/webhook-deliveries/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The deliveries after the new attempt", body = DeliveryList),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The job has no webhookUrl, or has sent nothing yet", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn redeliver_webhooks(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    ResourceId(id): ResourceId,
) -> Result<Json<DeliveryList>, ApiError> {
    let deliveries = state.engine.redeliver(&client, &JobId::parse(&id)?).await?;
    Ok(Json(DeliveryList { deliveries: deliveries.into_iter().map(DeliveryView::from).collect() }))
}

fn job_response(job: genrelay_core::Job) -> Response {
    let id = job.id.clone();
    (axum::Extension(LoggedJob(id)), Json(JobEnvelope { job: JobView::from(job) })).into_response()
}

const LIST_PARAMETERS: [&str; 5] = ["status", "capability", "limit", "before", "cursor"];

/// The calling client's jobs, newest first.
#[utoipa::path(
    get, path = "/api/v1/jobs", tag = "jobs",
    params(
        ("status" = Option<JobStatus>, Query, description = "Only jobs in this status"),
        ("capability" = Option<Capability>, Query, description = "Only jobs of this capability"),
        ("limit" = Option<u32>, Query, description = "1-200, default 20", minimum = 1, maximum = 200),
        ("before" = Option<String>, Query, format = DateTime, description = "Only jobs created before this ISO 8601 time"),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, body = JobPage),
        (status = 400, description = "Unknown or out-of-range parameter", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn list_jobs(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    query: QueryPairs,
) -> Result<Json<JobPage>, ApiError> {
    let mut paging = new_paging();
    let mut filter = JobQuery::default();
    for (name, value) in query.unique()? {
        if paging.accept(name, value)? {
            continue;
        }
        match name.as_str() {
            "status" => filter.status = Some(JobStatus::parse(value, "status")?),
            "capability" => filter.capability = Some(Capability::parse(value, "capability")?),
            "before" => filter.before = Some(parse_time(value, "before")?),
            _ => return Err(unknown_parameter(name, &LIST_PARAMETERS)),
        }
    }
    filter.limit = paging.limit;
    filter.cursor = paging.cursor;
    let page = state.engine.jobs(&client, &filter).await?;
    Ok(Json(JobPage {
        jobs: page.items.into_iter().map(JobView::from).collect(),
        next: page.next.map(|c| c.as_str().to_owned()),
    }))
}

/// An ISO 8601 time: with an offset (`2026-05-29T15:54:13+08:00`), without one (taken as UTC),
/// or a date alone (its midnight, UTC).
fn parse_time(raw: &str, field: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    // A '+' of a UTC offset arrives as a space when the client did not escape it.
    let raw = raw.trim().replace(' ', "+");
    DateTime::parse_from_rfc3339(&raw)
        .map(|time| time.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(&raw, "%Y-%m-%dT%H:%M:%S%.f").map(|time| time.and_utc()))
        .or_else(|_| {
            NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                .map(|date| date.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        })
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{field}: expected an ISO 8601 time such as 2026-05-29T15:54:13Z, got {raw:?}"
            ))
        })
}
