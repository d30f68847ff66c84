//! Seed 002's Jimeng async API, served on the engine: image generations, compositions (image to
//! image, JSON with URLs or multipart with `images` files) and video generations answer a
//! `history_id` at once; `POST /v1/async/tasks/query` and `GET /v1/async/tasks/{history_id}`
//! report it with Jimeng's codes (20 processing, 10 done, 30 failed). Errors are
//! `{"error": {"message", "type", "code"}}`. The API key takes the session id's place in
//! `Authorization: Bearer …`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use genrelay_core::NewJob;
use genrelay_core::shapes::{HttpUrl, Prompt, WebhookUrl};
use genrelay_core::spec::{
    ImageGenerateParams, Inputs, Params, VideoRatio, VideoSettings, parse_prompt, parse_url, parse_urls,
};
use genrelay_core::{AssetId, Capability, ClientId, Job, JobId, JobSource, JobSpec, JobStatus};
use genrelay_engine::NewFile;
use genrelay_wire::paths::download_path;
use genrelay_wire::views::JobView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, or_not_found};
use crate::extract::PublicBase;
use crate::json::{JsonBody, is_json};
use crate::surface::{Caller, ErrorFormat, SurfaceError};

const SUBMITTED: &str = "任务已提交，请使用 history_id 查询任务状态";

/// The surface's error format: the open API's status, in jimeng-api's error object.
pub struct JimengFormat;

/// jimeng-api's error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct JimengErrorBody {
    #[schema(inline)]
    pub error: JimengErrorObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JimengErrorObject {
    pub message: String,
    /// `invalid_request_error`, or `api_error` for a failure of the service.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `UNAUTHORIZED`, `TASK_NOT_FOUND`, `INVALID_PARAMETER`, `TOO_MANY_TASKS` (the client's
    /// unfinished tasks are at its limit), `SERVICE_UNAVAILABLE` (try again after `Retry-After`
    /// seconds for either) or `INTERNAL_ERROR`.
    pub code: &'static str,
}

impl ErrorFormat for JimengFormat {
    type Body = JimengErrorBody;

    fn body(status: StatusCode, message: String) -> JimengErrorBody {
        let (kind, code) = match status {
            StatusCode::UNAUTHORIZED => ("invalid_request_error", "UNAUTHORIZED"),
            StatusCode::NOT_FOUND => ("invalid_request_error", "TASK_NOT_FOUND"),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limit_error", "TOO_MANY_TASKS"),
            status if status.is_client_error() => ("invalid_request_error", "INVALID_PARAMETER"),
            StatusCode::SERVICE_UNAVAILABLE => ("api_error", "SERVICE_UNAVAILABLE"),
            _ => ("api_error", "INTERNAL_ERROR"),
        };
        JimengErrorBody { error: JimengErrorObject { message, kind, code } }
    }
}

type JimengError = SurfaceError<JimengFormat>;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(image_generations))
        .routes(routes!(image_compositions))
        .routes(routes!(video_generations))
        .routes(routes!(query_task))
        .routes(routes!(get_task))
}

/// `POST /v1/async/images/generations`. The fields of jimeng-api's request genrelay uses; others
/// (`negative_prompt`, `sample_strength`, …) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImageGenerationBody {
    pub model: Option<String>,
    #[schema(value_type = Prompt, required = true)]
    pub prompt: Option<String>,
    /// Default 1:1.
    pub ratio: Option<ImageRatio>,
    /// Default 2k.
    pub resolution: Option<ImageResolution>,
    /// genrelay's addition: a webhook (http or https) told when the task ends, as on the open API.
    #[schema(value_type = Option<WebhookUrl>)]
    pub webhook_url: Option<String>,
}

/// `POST /v1/async/images/compositions` as JSON (or multipart/form-data with `prompt`, `model`
/// and `images` files).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CompositionBody {
    pub model: Option<String>,
    #[schema(value_type = Prompt, required = true)]
    pub prompt: Option<String>,
    /// The input images, each a URL or `{"url": …}`.
    #[schema(value_type = Vec<HttpUrl>, required = true, min_items = 1, max_items = 16)]
    pub images: Option<Vec<ImageRef>>,
    /// genrelay's addition: a webhook (http or https) told when the task ends.
    #[schema(value_type = Option<WebhookUrl>)]
    pub webhook_url: Option<String>,
}

/// `POST /v1/async/videos/generations`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VideoGenerationBody {
    pub model: Option<String>,
    #[schema(value_type = Prompt, required = true)]
    pub prompt: Option<String>,
    /// Default 1:1 (jimeng-api's; the open API defaults videos to 16:9).
    #[schema(value_type = Option<VideoRatio>)]
    pub ratio: Option<String>,
    /// Default 720p.
    #[schema(value_type = Option<genrelay_core::spec::VideoResolution>)]
    pub resolution: Option<String>,
    /// Seconds, 4-15 (default 5); a number, or a string of digits as multipart forms send it.
    #[schema(value_type = Option<u32>, minimum = 4, maximum = 15)]
    pub duration: Option<NumberOrText>,
    /// Reference images (jimeng-api's `file_paths`, also `filePaths`), each a URL or `{"url": …}`.
    #[serde(alias = "filePaths")]
    #[schema(value_type = Option<Vec<HttpUrl>>, max_items = 16)]
    pub file_paths: Option<Vec<ImageRef>>,
    /// genrelay's addition: a webhook (http or https) told when the task ends.
    #[schema(value_type = Option<WebhookUrl>)]
    pub webhook_url: Option<String>,
}

/// jimeng's image ratios.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum ImageRatio {
    #[serde(rename = "1:1")]
    Square,
    #[serde(rename = "4:3")]
    Landscape4x3,
    #[serde(rename = "3:4")]
    Portrait3x4,
    #[serde(rename = "16:9")]
    Landscape16x9,
    #[serde(rename = "9:16")]
    Portrait9x16,
    #[serde(rename = "3:2")]
    Landscape3x2,
    #[serde(rename = "2:3")]
    Portrait2x3,
    #[serde(rename = "21:9")]
    Wide21x9,
}

/// jimeng's image resolutions.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum ImageResolution {
    #[serde(rename = "1k")]
    K1,
    #[serde(rename = "2k")]
    K2,
    #[serde(rename = "4k")]
    K4,
}

/// An image as jimeng-api takes it: a URL, or an object with one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ImageRef {
    Url(String),
    Object { url: String },
}

impl ImageRef {
    fn urls(refs: Option<Vec<ImageRef>>) -> Vec<String> {
        refs.unwrap_or_default()
            .into_iter()
            .map(|r| match r {
                ImageRef::Url(url) | ImageRef::Object { url } => url,
            })
            .collect()
    }
}

/// A number a client may also send as a string (multipart forms do).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NumberOrText {
    Number(u32),
    Text(String),
}

impl NumberOrText {
    fn value(&self, field: &str) -> Result<u32, JimengError> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| JimengError::new(StatusCode::BAD_REQUEST, format!("{field}: not a number: {text:?}"))),
        }
    }
}

/// The 2k size of each ratio (jimeng's table); 1k halves it, 4k doubles it within 4096.
fn image_size(ratio: ImageRatio, resolution: ImageResolution) -> (u32, u32) {
    let (width, height) = match ratio {
        ImageRatio::Square => (2048, 2048),
        ImageRatio::Landscape4x3 => (2304, 1728),
        ImageRatio::Portrait3x4 => (1728, 2304),
        ImageRatio::Landscape16x9 => (2560, 1440),
        ImageRatio::Portrait9x16 => (1440, 2560),
        ImageRatio::Landscape3x2 => (2496, 1664),
        ImageRatio::Portrait2x3 => (1664, 2496),
        ImageRatio::Wide21x9 => (3024, 1296),
    };
    let scale = match resolution {
        ImageResolution::K1 => 0.5,
        ImageResolution::K2 => 1.0,
        ImageResolution::K4 => 2.0,
    };
    let fit = (4096.0 / (f64::from(width.max(height)) * scale)).min(1.0);
    let side = |s: u32| ((f64::from(s) * scale * fit) as u32) & !1;
    (side(width), side(height))
}

/// The job of a request: its spec, the model it named, and its webhook if it gave one.
fn new_job(spec: JobSpec, model: Option<String>, webhook_url: Option<&str>) -> Result<NewJob, JimengError> {
    let webhook_url = webhook_url.map(|url| parse_url(url, "webhook_url")).transpose()?;
    let source = JobSource::JimengAsync { model };
    Ok(NewJob { spec, webhook_url, webhook_events: None, priority: None, source, labels: Default::default() })
}

fn prompt(prompt: Option<String>) -> Result<Option<String>, JimengError> {
    if prompt.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(JimengError::new(StatusCode::BAD_REQUEST, "prompt: required"));
    }
    Ok(parse_prompt(prompt, "prompt")?)
}

/// The answer to a generation: the task was taken; follow it by `history_id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JimengSubmitted {
    /// Unix seconds.
    pub created: i64,
    pub history_id: String,
    /// Always `submitted`.
    #[schema(example = "submitted")]
    pub status: &'static str,
    pub message: &'static str,
    /// Compositions: how many input images it takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_images: Option<usize>,
}

async fn submit(
    state: &AppState,
    client: &ClientId,
    new: NewJob,
    input_images: Option<usize>,
) -> Result<Json<JimengSubmitted>, JimengError> {
    let job = state.engine.submit(client, new, None).await?.job;
    let history_id = job.id.to_string();
    Ok(Json(JimengSubmitted {
        created: job.created_at.timestamp(),
        history_id,
        status: "submitted",
        message: SUBMITTED,
        input_images,
    }))
}

/// Text to image.
#[utoipa::path(
    post, path = "/v1/async/images/generations", tag = "jimeng async (seed 002)",
    request_body = ImageGenerationBody,
    responses((status = 200, body = JimengSubmitted),
              (status = 400, body = JimengErrorBody), (status = 401, body = JimengErrorBody),
              (status = 429, description = "The client has as many unfinished jobs as the operator allows; try again after Retry-After", body = JimengErrorBody)),
    security(("bearer" = []))
)]
async fn image_generations(
    State(state): State<AppState>,
    Caller(client, _): Caller<JimengFormat>,
    body: Result<JsonBody<ImageGenerationBody>, ApiError>,
) -> Result<Json<JimengSubmitted>, JimengError> {
    let JsonBody { body, .. } = body?;
    let (width, height) =
        image_size(body.ratio.unwrap_or(ImageRatio::Square), body.resolution.unwrap_or(ImageResolution::K2));
    let params = Params::ImageGenerate(ImageGenerateParams::new(Some(width), Some(height), None, None, None)?);
    let spec = JobSpec::new(Capability::ImageGenerate, prompt(body.prompt)?, Inputs::default(), params)?;
    let new = new_job(spec, body.model, body.webhook_url.as_deref())?;
    submit(&state, &client, new, None).await
}

/// Image to image: JSON with `images` (URLs), or multipart with `images` files, `prompt`, `model`.
#[utoipa::path(
    post, path = "/v1/async/images/compositions", tag = "jimeng async (seed 002)",
    request_body(content = CompositionBody, description = "JSON, or multipart/form-data with prompt, model and images files"),
    responses((status = 200, body = JimengSubmitted),
              (status = 400, body = JimengErrorBody), (status = 401, body = JimengErrorBody),
              (status = 429, description = "The client has as many unfinished jobs as the operator allows; try again after Retry-After", body = JimengErrorBody)),
    security(("bearer" = []))
)]
async fn image_compositions(
    State(state): State<AppState>,
    Caller(client, _): Caller<JimengFormat>,
    request: Request,
) -> Result<Json<JimengSubmitted>, JimengError> {
    let mut inputs = Inputs::default();
    let body = if is_json(request.headers()) {
        let JsonBody { body, .. } = JsonBody::<CompositionBody>::from_request(request, &state).await?;
        inputs.image_urls = parse_urls(ImageRef::urls(body.images.clone()), "images")?;
        body
    } else {
        let multipart = Multipart::from_request(request, &state).await.map_err(|_| {
            JimengError::new(StatusCode::BAD_REQUEST, "expected JSON, or multipart/form-data with images")
        })?;
        let (body, files) = read_form(multipart).await?;
        if !files.is_empty() {
            // Refused before its files are stored, when the client is over capacity.
            state.engine.check_capacity(&client).await?;
            let assets = state.engine.upload(&client, files).await?;
            inputs.input_asset_ids = assets.into_iter().map(|a| a.id).collect();
        }
        body
    };
    let count = inputs.image_count();
    if count == 0 {
        return Err(JimengError::new(StatusCode::BAD_REQUEST, "images: at least one input image is required"));
    }
    let spec =
        JobSpec::new(Capability::ImageEdit, prompt(body.prompt)?, inputs, Params::ImageEdit { keep_size: false })?;
    let new = new_job(spec, body.model, body.webhook_url.as_deref())?;
    submit(&state, &client, new, Some(count)).await
}

/// The text fields and `images` files of a multipart composition.
async fn read_form(mut form: Multipart) -> Result<(CompositionBody, Vec<NewFile>), JimengError> {
    let bad = |e: axum::extract::multipart::MultipartError| JimengError::new(StatusCode::BAD_REQUEST, e.body_text());
    let mut body = CompositionBody::default();
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "images" | "images[]" | "image" => {
                let name = field.file_name().unwrap_or("image.png").to_owned();
                let content_type = field.content_type().map(str::to_owned);
                files.push(NewFile { name, content_type, bytes: field.bytes().await.map_err(bad)?.to_vec() });
            }
            "prompt" => body.prompt = Some(field.text().await.map_err(bad)?),
            "model" => body.model = Some(field.text().await.map_err(bad)?),
            _ => {}
        }
    }
    Ok((body, files))
}

/// Text (and reference images) to video.
#[utoipa::path(
    post, path = "/v1/async/videos/generations", tag = "jimeng async (seed 002)",
    request_body = VideoGenerationBody,
    responses((status = 200, body = JimengSubmitted),
              (status = 400, body = JimengErrorBody), (status = 401, body = JimengErrorBody),
              (status = 429, description = "The client has as many unfinished jobs as the operator allows; try again after Retry-After", body = JimengErrorBody)),
    security(("bearer" = []))
)]
async fn video_generations(
    State(state): State<AppState>,
    Caller(client, _): Caller<JimengFormat>,
    body: Result<JsonBody<VideoGenerationBody>, ApiError>,
) -> Result<Json<JimengSubmitted>, JimengError> {
    let JsonBody { body, .. } = body?;
    // jimeng-api's default ratio is 1:1 (genrelay's own API defaults videos to 16:9).
    let ratio = VideoRatio::parse(body.ratio.as_deref().unwrap_or("1:1"), "ratio")?;
    let resolution =
        body.resolution.as_deref().map(|r| genrelay_core::spec::VideoResolution::parse(r, "resolution")).transpose()?;
    let duration = body.duration.as_ref().map(|d| d.value("duration")).transpose()?;
    let settings = VideoSettings::new(Some(ratio), duration, resolution)?;
    let image_urls = parse_urls(ImageRef::urls(body.file_paths.clone()), "file_paths")?;
    let inputs = Inputs { image_urls, ..Inputs::default() };
    let spec = JobSpec::new(Capability::VideoGenerate, prompt(body.prompt)?, inputs, Params::VideoGenerate(settings))?;
    let new = new_job(spec, body.model, body.webhook_url.as_deref())?;
    submit(&state, &client, new, None).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct QueryBody {
    #[schema(value_type = String, required = true)]
    pub history_id: Option<String>,
}

/// A task, by `history_id` in the body.
#[utoipa::path(
    post, path = "/v1/async/tasks/query", tag = "jimeng async (seed 002)",
    request_body = QueryBody,
    responses((status = 200, body = TaskReport), (status = 400, body = JimengErrorBody), (status = 401, body = JimengErrorBody),
              (status = 404, body = JimengErrorBody)),
    security(("bearer" = []))
)]
async fn query_task(
    State(state): State<AppState>,
    Caller(client, _): Caller<JimengFormat>,
    PublicBase(base): PublicBase,
    body: Result<JsonBody<QueryBody>, ApiError>,
) -> Result<Json<TaskReport>, JimengError> {
    let JsonBody { body, .. } = body?;
    let id = body.history_id.ok_or_else(|| JimengError::new(StatusCode::BAD_REQUEST, "history_id: required"))?;
    report(&state, &client, &base, &id).await
}

/// A task, by `history_id` in the path.
#[utoipa::path(
    get, path = "/v1/async/tasks/{history_id}", tag = "jimeng async (seed 002)",
    params(("history_id" = String, Path)),
    responses((status = 200, body = TaskReport), (status = 401, body = JimengErrorBody), (status = 404, body = JimengErrorBody)),
    security(("bearer" = []))
)]
async fn get_task(
    State(state): State<AppState>,
    Caller(client, _): Caller<JimengFormat>,
    PublicBase(base): PublicBase,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TaskReport>, JimengError> {
    let id = path.map(|Path(id)| id).unwrap_or_default();
    report(&state, &client, &base, &id).await
}

/// Jimeng's status report of a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskReport {
    pub history_id: String,
    /// `image` or `video`.
    pub task_type: &'static str,
    /// 20 processing, 10 done, 30 failed.
    pub status: u8,
    /// 0, or 1 once failed.
    pub fail_code: u8,
    pub item_count: usize,
    /// Once done: where to download each output (with the API key); null before.
    pub results: Option<Vec<TaskResultUrl>>,
    /// The job behind the task, as genrelay's open API shows it.
    pub raw_data: RawData,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResultUrl {
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RawData {
    pub job: JobView,
}

/// Jimeng's status report: 20 processing, 10 done (with result URLs), 30 failed.
async fn report(state: &AppState, client: &ClientId, base: &str, raw: &str) -> Result<Json<TaskReport>, JimengError> {
    let not_found = || JimengError::new(StatusCode::NOT_FOUND, format!("任务不存在: {raw}"));
    let id = JobId::parse(raw).map_err(|_| not_found())?;
    let job: Job = state.engine.job(client, &id).await.map_err(|e| or_not_found(e, not_found))?;
    let task_type = match job.capability() {
        Capability::VideoGenerate => "video",
        Capability::ImageGenerate | Capability::ImageEdit | Capability::ImageInpaint | Capability::ImageUpscale => {
            "image"
        }
    };
    let (status, fail_code) = match job.status {
        JobStatus::Queued | JobStatus::Running => (20, 0),
        JobStatus::Succeeded => (10, 0),
        JobStatus::Failed | JobStatus::Expired | JobStatus::Cancelled => (30, 1),
    };
    let results = (job.status == JobStatus::Succeeded).then(|| {
        job.output_asset_ids
            .iter()
            .map(|id: &AssetId| TaskResultUrl { url: format!("{base}{}", download_path(id)) })
            .collect::<Vec<_>>()
    });
    let item_count = results.as_ref().map_or(0, Vec::len);
    Ok(Json(TaskReport {
        history_id: job.id.to_string(),
        task_type,
        status,
        fail_code,
        item_count,
        results,
        raw_data: RawData { job: JobView::from(job) },
    }))
}
