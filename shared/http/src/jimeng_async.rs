//! Seed 002's Jimeng async API, served on the engine: image generations, compositions (image to
//! image, JSON with URLs or multipart with `images` files) and video generations answer a
//! `history_id` at once; `POST /v1/async/tasks/query` and `GET /v1/async/tasks/{history_id}`
//! report it with Jimeng's codes (20 processing, 10 done, 30 failed). Errors are
//! `{"error": {"message", "type", "code"}}`. The API key takes the session id's place in
//! `Authorization: Bearer …`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use genrelay_core::asset::download_path;
use genrelay_core::spec::{
    ImageGenerateParams, Inputs, Params, VideoRatio, VideoSettings, parse_prompt, parse_url, parse_urls,
};
use genrelay_core::{AssetId, Capability, ClientId, Job, JobId, JobSource, JobSpec, JobStatus};
use genrelay_engine::{NewFile, NewJob};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, or_not_found};
use crate::extract::PublicBase;
use crate::json::{JsonBody, is_json};
use crate::views::JobView;

const SUBMITTED: &str = "任务已提交，请使用 history_id 查询任务状态";

/// The surface's one error format: the open API's status, in jimeng-api's error object.
pub struct JimengError(ApiError);

impl<E: Into<ApiError>> From<E> for JimengError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl JimengError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(status, message))
    }
}

/// A route or method this surface does not have, in its error format.
pub(crate) fn unrouted(status: StatusCode, message: String) -> Response {
    JimengError(ApiError::new(status, message)).into_response()
}

impl IntoResponse for JimengError {
    fn into_response(self) -> Response {
        let (kind, code) = match self.0.status {
            StatusCode::UNAUTHORIZED => ("invalid_request_error", "UNAUTHORIZED"),
            StatusCode::NOT_FOUND => ("invalid_request_error", "TASK_NOT_FOUND"),
            status if status.is_client_error() => ("invalid_request_error", "INVALID_PARAMETER"),
            _ => ("api_error", "INTERNAL_ERROR"),
        };
        let body = json!({"error": {"message": self.0.message, "type": kind, "code": code}});
        (self.0.status, Json(body)).into_response()
    }
}

struct Caller(ClientId);

impl FromRequestParts<AppState> for Caller {
    type Rejection = JimengError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        crate::auth::client_of(&parts.headers, &state.keys)
            .map(Caller)
            .ok_or_else(|| JimengError::new(StatusCode::UNAUTHORIZED, "Invalid API key."))
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(image_generations))
        .routes(routes!(image_compositions))
        .routes(routes!(video_generations))
        .routes(routes!(query_task))
        .routes(routes!(get_task))
}

/// The fields of jimeng-api's generation requests genrelay uses; others (`negative_prompt`,
/// `sample_strength`, …) are accepted and ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GenerationBody {
    pub model: Option<String>,
    pub prompt: Option<String>,
    /// 1:1 (default), 4:3, 3:4, 16:9, 9:16, 3:2, 2:3, 21:9.
    pub ratio: Option<String>,
    /// Images: 1k, 2k (default), 4k. Videos: 480p, 720p (default), 1080p.
    pub resolution: Option<String>,
    /// Videos: seconds, 4-15 (default 5); a number or a string of digits.
    #[schema(value_type = Option<u32>)]
    pub duration: Option<NumberOrText>,
    /// Compositions: the input images, each a URL or `{"url": …}`.
    #[schema(value_type = Option<Vec<String>>)]
    pub images: Option<Vec<ImageRef>>,
    /// genrelay's addition: a webhook (https) told when the task ends, as on the open API.
    pub webhook_url: Option<String>,
    /// Videos: reference images (jimeng-api's `file_paths`, also `filePaths`).
    #[serde(alias = "filePaths")]
    #[schema(value_type = Option<Vec<String>>)]
    pub file_paths: Option<Vec<ImageRef>>,
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
fn image_size(ratio: &str, resolution: &str) -> Result<(u32, u32), JimengError> {
    let (width, height) = match ratio {
        "1:1" => (2048, 2048),
        "4:3" => (2304, 1728),
        "3:4" => (1728, 2304),
        "16:9" => (2560, 1440),
        "9:16" => (1440, 2560),
        "3:2" => (2496, 1664),
        "2:3" => (1664, 2496),
        "21:9" => (3024, 1296),
        other => {
            let message =
                format!("ratio: {other:?} is not supported; expected 1:1, 4:3, 3:4, 16:9, 9:16, 3:2, 2:3, 21:9");
            return Err(JimengError::new(StatusCode::BAD_REQUEST, message));
        }
    };
    let scale = match resolution {
        "1k" => 0.5,
        "2k" => 1.0,
        "4k" => 2.0,
        other => {
            let message = format!("resolution: {other:?} is not supported; expected 1k, 2k or 4k");
            return Err(JimengError::new(StatusCode::BAD_REQUEST, message));
        }
    };
    let fit = (4096.0 / (f64::from(width.max(height)) * scale)).min(1.0);
    let side = |s: u32| ((f64::from(s) * scale * fit) as u32) & !1;
    Ok((side(width), side(height)))
}

/// The job of a request: its spec, the model it named, and its webhook if it gave one.
fn new_job(spec: JobSpec, body: &GenerationBody) -> Result<NewJob, JimengError> {
    let webhook_url = body.webhook_url.as_deref().map(|url| parse_url(url, "webhook_url")).transpose()?;
    let source = JobSource::JimengAsync { model: body.model.clone() };
    Ok(NewJob { spec, webhook_url, webhook_events: None, priority: None, source })
}

fn prompt(body: &GenerationBody) -> Result<Option<String>, JimengError> {
    if body.prompt.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(JimengError::new(StatusCode::BAD_REQUEST, "prompt: required"));
    }
    Ok(parse_prompt(body.prompt.clone(), "prompt")?)
}

async fn submit(state: &AppState, client: &ClientId, new: NewJob, extra: Value) -> Result<Json<Value>, JimengError> {
    let job = state.engine.submit(client, new, None).await?.job;
    let mut answer = json!({"created": job.created_at.timestamp(), "history_id": job.id.as_str(),
                            "status": "submitted", "message": SUBMITTED});
    answer.as_object_mut().expect("an object").extend(extra.as_object().cloned().unwrap_or_default());
    Ok(Json(answer))
}

/// Text to image.
#[utoipa::path(
    post, path = "/v1/async/images/generations", tag = "jimeng async (seed 002)",
    request_body = GenerationBody,
    responses((status = 200, description = "`{created, history_id, status: \"submitted\", message}`", body = Object),
              (status = 400, body = Object), (status = 401, body = Object)),
    security(("bearer" = []))
)]
async fn image_generations(
    State(state): State<AppState>,
    Caller(client): Caller,
    body: Result<JsonBody<GenerationBody>, ApiError>,
) -> Result<Json<Value>, JimengError> {
    let JsonBody { body, .. } = body?;
    let (width, height) =
        image_size(body.ratio.as_deref().unwrap_or("1:1"), body.resolution.as_deref().unwrap_or("2k"))?;
    let params = Params::ImageGenerate(ImageGenerateParams::new(Some(width), Some(height), None, None, None)?);
    let spec = JobSpec::new(Capability::ImageGenerate, prompt(&body)?, Inputs::default(), params)?;
    let new = new_job(spec, &body)?;
    submit(&state, &client, new, json!({})).await
}

/// Image to image: JSON with `images` (URLs), or multipart with `images` files, `prompt`, `model`.
#[utoipa::path(
    post, path = "/v1/async/images/compositions", tag = "jimeng async (seed 002)",
    request_body(content = GenerationBody, description = "JSON, or multipart/form-data with prompt, model and images files"),
    responses((status = 200, description = "`{created, history_id, input_images, status, message}`", body = Object),
              (status = 400, body = Object), (status = 401, body = Object)),
    security(("bearer" = []))
)]
async fn image_compositions(
    State(state): State<AppState>,
    Caller(client): Caller,
    request: Request,
) -> Result<Json<Value>, JimengError> {
    let mut inputs = Inputs::default();
    let body = if is_json(request.headers()) {
        let JsonBody { body, .. } = JsonBody::<GenerationBody>::from_request(request, &state).await?;
        inputs.image_urls = parse_urls(ImageRef::urls(body.images.clone()), "images")?;
        body
    } else {
        let multipart = Multipart::from_request(request, &state).await.map_err(|_| {
            JimengError::new(StatusCode::BAD_REQUEST, "expected JSON, or multipart/form-data with images")
        })?;
        let (body, files) = read_form(multipart).await?;
        if !files.is_empty() {
            let assets = state.engine.upload(&client, files).await?;
            inputs.input_asset_ids = assets.into_iter().map(|a| a.id).collect();
        }
        body
    };
    let count = inputs.image_count();
    if count == 0 {
        return Err(JimengError::new(StatusCode::BAD_REQUEST, "images: at least one input image is required"));
    }
    let spec = JobSpec::new(Capability::ImageEdit, prompt(&body)?, inputs, Params::ImageEdit { keep_size: false })?;
    let new = new_job(spec, &body)?;
    submit(&state, &client, new, json!({"input_images": count})).await
}

/// The text fields and `images` files of a multipart composition.
async fn read_form(mut form: Multipart) -> Result<(GenerationBody, Vec<NewFile>), JimengError> {
    let bad = |e: axum::extract::multipart::MultipartError| JimengError::new(StatusCode::BAD_REQUEST, e.body_text());
    let mut body = GenerationBody::default();
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
    request_body = GenerationBody,
    responses((status = 200, description = "`{created, history_id, status: \"submitted\", message}`", body = Object),
              (status = 400, body = Object), (status = 401, body = Object)),
    security(("bearer" = []))
)]
async fn video_generations(
    State(state): State<AppState>,
    Caller(client): Caller,
    body: Result<JsonBody<GenerationBody>, ApiError>,
) -> Result<Json<Value>, JimengError> {
    let JsonBody { body, .. } = body?;
    // jimeng-api's default ratio is 1:1 (genrelay's own API defaults videos to 16:9).
    let ratio = VideoRatio::parse(body.ratio.as_deref().unwrap_or("1:1"), "ratio")?;
    let resolution =
        body.resolution.as_deref().map(|r| genrelay_core::spec::VideoResolution::parse(r, "resolution")).transpose()?;
    let duration = body.duration.as_ref().map(|d| d.value("duration")).transpose()?;
    let settings = VideoSettings::new(Some(ratio), duration, resolution)?;
    let image_urls = parse_urls(ImageRef::urls(body.file_paths.clone()), "file_paths")?;
    let inputs = Inputs { image_urls, ..Inputs::default() };
    let spec = JobSpec::new(Capability::VideoGenerate, prompt(&body)?, inputs, Params::VideoGenerate(settings))?;
    let new = new_job(spec, &body)?;
    submit(&state, &client, new, json!({})).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct QueryBody {
    pub history_id: Option<String>,
}

/// A task, by `history_id` in the body.
#[utoipa::path(
    post, path = "/v1/async/tasks/query", tag = "jimeng async (seed 002)",
    request_body = QueryBody,
    responses((status = 200, body = Object), (status = 400, body = Object), (status = 401, body = Object),
              (status = 404, body = Object)),
    security(("bearer" = []))
)]
async fn query_task(
    State(state): State<AppState>,
    Caller(client): Caller,
    PublicBase(base): PublicBase,
    body: Result<JsonBody<QueryBody>, ApiError>,
) -> Result<Json<Value>, JimengError> {
    let JsonBody { body, .. } = body?;
    let id = body.history_id.ok_or_else(|| JimengError::new(StatusCode::BAD_REQUEST, "history_id: required"))?;
    report(&state, &client, &base, &id).await
}

/// A task, by `history_id` in the path.
#[utoipa::path(
    get, path = "/v1/async/tasks/{history_id}", tag = "jimeng async (seed 002)",
    params(("history_id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = Object), (status = 404, body = Object)),
    security(("bearer" = []))
)]
async fn get_task(
    State(state): State<AppState>,
    Caller(client): Caller,
    PublicBase(base): PublicBase,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, JimengError> {
    let id = path.map(|Path(id)| id).unwrap_or_default();
    report(&state, &client, &base, &id).await
}

/// Jimeng's status report: 20 processing, 10 done (with result URLs), 30 failed.
async fn report(state: &AppState, client: &ClientId, base: &str, raw: &str) -> Result<Json<Value>, JimengError> {
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
            .map(|id: &AssetId| json!({"url": format!("{base}{}", download_path(id))}))
            .collect::<Vec<_>>()
    });
    let item_count = results.as_ref().map_or(0, Vec::len);
    Ok(Json(json!({
        "history_id": job.id.as_str(),
        "task_type": task_type,
        "status": status,
        "fail_code": fail_code,
        "item_count": item_count,
        "results": results,
        "raw_data": {"job": JobView::from(job)},
    })))
}
