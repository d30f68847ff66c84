//! Seed 001's PS task API, served on the engine: `POST /ps_tasks/submit` starts a prompt-driven
//! edit of one image (`image.edit`), `GET /ps_tasks/result/{task_id}` follows it. Every answer is
//! the `{"code", "msg", "data"}` envelope, its `code` the HTTP status. Callers authenticate as
//! on the open API (the seed says nothing of it; genrelay is never open).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use genrelay_core::NewJob;
use genrelay_core::job::{MAX_PRIORITY, parse_priority};
use genrelay_core::shapes::{Prompt, UrlOrAssetId, WebhookUrl};
use genrelay_core::spec::{Inputs, Params, parse_asset_ids, parse_prompt, parse_url, parse_urls};
use genrelay_core::{Capability, JobId, JobSource, JobSpec, JobStatus};
use genrelay_wire::paths::download_path;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::or_not_found;
use crate::extract::PublicBase;
use crate::surface::{Caller, ErrorFormat, SurfaceError};
use crate::{AppState, MAX_JSON_BYTES};

/// The surface's error format: the open API's status, in the envelope.
pub struct PsTasksFormat;

/// Every answer of this surface, errors too (`data` then `{}`); `code` is the HTTP status.
#[derive(Debug, Serialize, ToSchema)]
pub struct PsEnvelope<T> {
    #[schema(example = 200)]
    pub code: u16,
    #[schema(example = "success")]
    pub msg: String,
    #[schema(inline)]
    pub data: T,
}

/// The `data` of an error: `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PsNoData {}

/// The `data` of a submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct PsSubmitted {
    pub task_id: String,
}

/// The `data` of a result: the status; the image once completed, the reason once failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PsTaskResult {
    pub status: PsTaskStatus,
    /// Where to download the image (with the API key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// The image's asset id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_rid: Option<String>,
    /// Why it failed; empty while it has not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// Seed 001's task statuses.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PsTaskStatus {
    Pending,
    AiSubmitted,
    Processing,
    Completed,
    Failed,
}

impl ErrorFormat for PsTasksFormat {
    type Body = PsEnvelope<PsNoData>;

    fn body(status: StatusCode, msg: String) -> PsEnvelope<PsNoData> {
        PsEnvelope { code: status.as_u16(), msg, data: PsNoData {} }
    }
}

type PsError = SurfaceError<PsTasksFormat>;

fn success<T>(data: T) -> Json<PsEnvelope<T>> {
    Json(PsEnvelope { code: 200, msg: "success".to_owned(), data })
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit)).routes(routes!(result))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubmitBody {
    /// The image to edit: an http(s) URL, or the id of one of the caller's assets.
    #[schema(value_type = UrlOrAssetId, required = true, example = "https://example.com/product.png")]
    pub image_url: Option<String>,
    /// How to change it.
    #[schema(value_type = Prompt, required = true)]
    pub prompt: Option<String>,
    /// The caller's id for the image; generated when absent.
    #[schema(min_length = 1, max_length = 128, pattern = r"\S")]
    pub image_id: Option<String>,
    /// Lower runs sooner (0 is the highest; beyond 1000 every value means last).
    #[schema(minimum = 0)]
    pub priority: Option<i64>,
    /// Who submitted it, for tracking.
    pub editor: Option<String>,
    /// The output keeps the input's size.
    pub keep_size: Option<bool>,
    /// genrelay's addition: a webhook (http or https) told when the task ends, as on the open API.
    #[schema(value_type = Option<WebhookUrl>)]
    pub webhook_url: Option<String>,
}

impl SubmitBody {
    fn into_new_job(self) -> Result<NewJob, PsError> {
        let image = self.image_url.ok_or_else(|| PsError::new(StatusCode::BAD_REQUEST, "image_url: required"))?;
        if self.prompt.is_none() {
            return Err(PsError::new(StatusCode::BAD_REQUEST, "prompt: required"));
        }
        let prompt = parse_prompt(self.prompt, "prompt")?;
        let mut inputs = Inputs::default();
        if image.starts_with("asset_") {
            inputs.input_asset_ids = parse_asset_ids(vec![image], "image_url")?;
        } else if image.starts_with("http://") || image.starts_with("https://") {
            inputs.image_urls = parse_urls(vec![image], "image_url")?;
        } else {
            return Err(PsError::new(
                StatusCode::BAD_REQUEST,
                "image_url: must be an http(s) URL or an asset id (a local path cannot be reached from genrelay)",
            ));
        }
        // Lower is sooner; beyond genrelay's range every value means "last".
        let priority = match self.priority {
            Some(p) if p < 0 => return Err(PsError::new(StatusCode::BAD_REQUEST, "priority: must be 0 or more")),
            Some(p) => parse_priority(Some(p.min(i64::from(MAX_PRIORITY)) as u32), "priority")?,
            None => None,
        };
        let image_id = match self.image_id.map(|id| id.trim().to_owned()) {
            Some(id) if id.is_empty() || id.chars().count() > 128 => {
                return Err(PsError::new(StatusCode::BAD_REQUEST, "image_id: 1 to 128 characters"));
            }
            Some(id) => id,
            None => format!("img_{}", ulid::Ulid::new().to_string().to_lowercase()),
        };
        let params = Params::ImageEdit { keep_size: self.keep_size.unwrap_or(false) };
        Ok(NewJob {
            spec: JobSpec::new(Capability::ImageEdit, prompt, inputs, params)?,
            webhook_url: self.webhook_url.as_deref().map(|url| parse_url(url, "webhook_url")).transpose()?,
            webhook_events: None,
            priority,
            source: JobSource::PsTasks { image_id, editor: self.editor },
            labels: Default::default(),
        })
    }
}

/// Submit an image edit.
#[utoipa::path(
    post, path = "/ps_tasks/submit", tag = "ps tasks (seed 001)",
    request_body = SubmitBody,
    responses(
        (status = 200, body = PsEnvelope<PsSubmitted>),
        (status = 400, description = "A field is missing or invalid"),
        (status = 429, description = "The client has as many unfinished jobs as the operator allows; try again after Retry-After"),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn submit(
    State(state): State<AppState>,
    Caller(client, _): Caller<PsTasksFormat>,
    request: Request,
) -> Result<Response, PsError> {
    // The seed shows a JSON body and no headers: a body without a Content-Type is read as JSON.
    let headers = request.headers();
    if headers.contains_key(axum::http::header::CONTENT_TYPE) && !crate::json::is_json(headers) {
        return Err(PsError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json."));
    }
    let raw = crate::json::read_limited(request, &state, MAX_JSON_BYTES).await?;
    let crate::json::JsonBody { body, .. } = crate::json::parse::<SubmitBody>(&raw)?;
    let job = state.engine.submit(&client, body.into_new_job()?, None).await?.job;
    let id = job.id.clone();
    Ok((axum::Extension(crate::request_log::LoggedJob(id)), success(PsSubmitted { task_id: job.id.to_string() }))
        .into_response())
}

/// A task's status, and its image once completed.
#[utoipa::path(
    get, path = "/ps_tasks/result/{task_id}", tag = "ps tasks (seed 001)",
    params(("task_id" = String, Path)),
    responses((status = 200, body = PsEnvelope<PsTaskResult>), (status = 404, description = "No such task for this client")),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn result(
    State(state): State<AppState>,
    Caller(client, _): Caller<PsTasksFormat>,
    PublicBase(base): PublicBase,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<PsEnvelope<PsTaskResult>>, PsError> {
    let raw = path.map(|Path(raw)| raw).unwrap_or_default();
    let not_found = || PsError::new(StatusCode::NOT_FOUND, format!("task {raw} not found"));
    let id = JobId::parse(&raw).map_err(|_| not_found())?;
    let job = state.engine.job(&client, &id).await.map_err(|e| or_not_found(e, not_found))?;
    let status = match job.status {
        JobStatus::Queued => PsTaskStatus::Pending,
        JobStatus::Running if job.progress == 0 => PsTaskStatus::AiSubmitted,
        JobStatus::Running => PsTaskStatus::Processing,
        JobStatus::Succeeded => PsTaskStatus::Completed,
        JobStatus::Failed | JobStatus::Expired | JobStatus::Cancelled => PsTaskStatus::Failed,
    };
    let data = match job.output_asset_ids.first() {
        Some(output) if job.status == JobStatus::Succeeded => PsTaskResult {
            status,
            image_url: Some(format!("{base}{}", download_path(output))),
            image_rid: Some(output.to_string()),
            error_message: None,
        },
        _ => PsTaskResult {
            status,
            image_url: None,
            image_rid: None,
            error_message: Some(job.error.unwrap_or_default()),
        },
    };
    Ok(success(data))
}
