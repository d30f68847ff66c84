//! `/api/v1/jobs`: create (idempotent), read, list, cancel.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use genrelay_core::NewJob;
use genrelay_core::job::parse_priority;
use genrelay_core::ports::JobQuery;
use genrelay_core::shapes::{AssetIdText, HttpUrl, Prompt, WebhookUrl};
use genrelay_core::spec::{
    ImageGenerateParams, ImageQuality, Inputs, Material, MaterialType, Params, UpscaleResolution, VideoRatio,
    VideoResolution, VideoSettings, parse_asset_ids, parse_prompt, parse_url, parse_urls,
};
use genrelay_core::{Capability, JobId, JobSource, JobSpec, JobStatus, RequestFingerprint, WebhookEvent};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Idempotency, ResourceId};
use crate::json::JsonBody;
use crate::query::{QueryPairs, new_paging, unknown_parameter};
use crate::request_log::LoggedJob;
use crate::surface::Caller;
use crate::views::{CreatedJobEnvelope, DeliveryList, DeliveryView, JobEnvelope, JobPage, JobView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(webhook_deliveries))
        .routes(routes!(redeliver_webhooks))
}

/// The body of `POST /api/v1/jobs`. Fields that do not apply to the capability, and fields not
/// listed here, are ignored: they are neither stored nor passed to a provider.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobBody {
    /// `image.generate`, `image.inpaint`, `image.upscale` or `video.generate`.
    #[schema(value_type = Capability, required = true, example = "image.generate")]
    pub capability: Option<String>,
    /// Required except for `image.upscale`.
    #[schema(value_type = Option<Prompt>)]
    pub prompt: Option<String>,
    /// image.generate: 64-4096, default 1024.
    #[schema(minimum = 64, maximum = 4096, default = 1024)]
    pub width: Option<u32>,
    /// image.generate: 64-4096, default 1024.
    #[schema(minimum = 64, maximum = 4096, default = 1024)]
    pub height: Option<u32>,
    /// image.generate: text influence 0-100 (Jimeng).
    #[schema(minimum = 0, maximum = 100)]
    pub scale: Option<u32>,
    /// image.generate: low, medium, high or auto (EvoLink).
    #[schema(value_type = Option<ImageQuality>)]
    pub quality: Option<String>,
    /// image.generate: ask for a single image.
    #[serde(rename = "force_single")]
    #[schema(default = false)]
    pub force_single: Option<bool>,
    /// image.upscale: 2k (default) or 4k.
    #[schema(value_type = Option<UpscaleResolution>, default = "2k")]
    pub resolution: Option<String>,
    /// image.edit: the output keeps the input's size (default false).
    #[schema(default = false)]
    pub keep_size: Option<bool>,
    /// video.generate settings.
    pub settings: Option<VideoSettingsBody>,
    /// video.generate reference materials.
    #[schema(max_items = 16)]
    pub materials: Option<Vec<MaterialBody>>,
    /// Input images (http or https); for image.inpaint the original then the mask.
    #[schema(value_type = Option<Vec<HttpUrl>>, max_items = 16)]
    pub image_urls: Option<Vec<String>>,
    /// Other input files (http or https).
    #[schema(value_type = Option<Vec<HttpUrl>>, max_items = 16)]
    pub input_urls: Option<Vec<String>>,
    /// Ids of the caller's assets, used as input images.
    #[schema(value_type = Option<Vec<AssetIdText>>, max_items = 16)]
    pub input_asset_ids: Option<Vec<String>>,
    /// Called when the job ends (signed, retried; see the webhook deliveries).
    #[schema(value_type = Option<WebhookUrl>)]
    pub webhook_url: Option<String>,
    /// The events the webhook announces: any of generation.running, generation.succeeded,
    /// generation.failed, generation.expired, generation.cancelled; default all but running.
    /// Needs a webhookUrl.
    #[schema(value_type = Option<Vec<WebhookEvent>>, min_items = 1)]
    pub webhook_events: Option<Vec<String>>,
    /// Lower runs sooner: 0-5 travel on the priority lane; default 10.
    #[schema(minimum = 0, maximum = 1000, default = 10)]
    pub priority: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VideoSettingsBody {
    /// 16:9, 4:3, 1:1, 3:4, 9:16, 21:9 or adaptive; default 16:9.
    #[schema(value_type = Option<VideoRatio>, default = "16:9")]
    pub ratio: Option<String>,
    /// Seconds, 4-15; default 5.
    #[schema(minimum = 4, maximum = 15, default = 5)]
    pub duration: Option<u32>,
    /// 480p, 720p (default) or 1080p.
    #[schema(value_type = Option<VideoResolution>, default = "720p")]
    pub resolution: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaterialBody {
    /// image, video or audio.
    #[serde(rename = "type")]
    #[schema(value_type = MaterialType, required = true)]
    pub kind: Option<String>,
    #[schema(value_type = Option<HttpUrl>)]
    pub url: Option<String>,
    #[schema(value_type = Option<AssetIdText>)]
    pub asset_id: Option<String>,
    /// How the prompt refers to it, e.g. `@图片1`.
    pub label: Option<String>,
}

/// Which fields of [`CreateJobBody`] a capability reads (beyond those every job reads), which it
/// requires, and what a schema cannot say: the published parameters of each capability.
pub(crate) struct CapabilityFields {
    pub own: &'static [&'static str],
    pub required: &'static [&'static str],
    pub note: Option<&'static str>,
}

/// The fields every job reads.
pub(crate) const COMMON_FIELDS: [&str; 8] =
    ["capability", "prompt", "imageUrls", "inputUrls", "inputAssetIds", "webhookUrl", "webhookEvents", "priority"];

pub(crate) fn fields_of(capability: Capability) -> CapabilityFields {
    let with_prompt: &[&str] = &["capability", "prompt"];
    match capability {
        Capability::ImageGenerate => CapabilityFields {
            own: &["width", "height", "scale", "quality", "force_single"],
            required: with_prompt,
            note: None,
        },
        Capability::ImageEdit => CapabilityFields {
            own: &["keepSize"],
            required: with_prompt,
            note: Some("one image to edit, in imageUrls or inputAssetIds"),
        },
        Capability::ImageInpaint => CapabilityFields {
            own: &[],
            required: with_prompt,
            note: Some("two images, original first then mask, from imageUrls and inputAssetIds"),
        },
        Capability::ImageUpscale => CapabilityFields {
            own: &["resolution"],
            required: &["capability"],
            note: Some("at least one image in imageUrls or inputAssetIds"),
        },
        Capability::VideoGenerate => {
            CapabilityFields { own: &["settings", "materials"], required: with_prompt, note: None }
        }
    }
}

impl TryFrom<CreateJobBody> for NewJob {
    type Error = genrelay_core::Error;

    fn try_from(body: CreateJobBody) -> Result<Self, Self::Error> {
        let raw_capability = body.capability.ok_or_else(|| genrelay_core::Error::invalid("capability: required"))?;
        let capability = Capability::parse(&raw_capability, "capability")?;
        let prompt = parse_prompt(body.prompt, "prompt")?;
        let materials = body
            .materials
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let field = format!("materials[{i}]");
                let kind = m.kind.ok_or_else(|| genrelay_core::Error::invalid(format!("{field}.type: required")))?;
                let kind = MaterialType::parse(&kind, &format!("{field}.type"))?;
                Material::new(kind, m.url, m.asset_id, m.label, &field)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let inputs = Inputs {
            image_urls: parse_urls(body.image_urls.unwrap_or_default(), "imageUrls")?,
            input_urls: parse_urls(body.input_urls.unwrap_or_default(), "inputUrls")?,
            input_asset_ids: parse_asset_ids(body.input_asset_ids.unwrap_or_default(), "inputAssetIds")?,
            materials,
        };
        let params = match capability {
            Capability::ImageGenerate => Params::ImageGenerate(ImageGenerateParams::new(
                body.width,
                body.height,
                body.scale,
                body.quality.map(|q| ImageQuality::parse(&q, "quality")).transpose()?,
                body.force_single,
            )?),
            Capability::ImageEdit => Params::ImageEdit { keep_size: body.keep_size.unwrap_or(false) },
            Capability::ImageInpaint => Params::ImageInpaint,
            Capability::ImageUpscale => Params::ImageUpscale {
                resolution: body
                    .resolution
                    .map(|r| UpscaleResolution::parse(&r, "resolution"))
                    .transpose()?
                    .unwrap_or(UpscaleResolution::K2),
            },
            Capability::VideoGenerate => {
                let settings =
                    body.settings.unwrap_or(VideoSettingsBody { ratio: None, duration: None, resolution: None });
                Params::VideoGenerate(VideoSettings::new(
                    settings.ratio.map(|r| VideoRatio::parse(&r, "settings.ratio")).transpose()?,
                    settings.duration,
                    settings.resolution.map(|r| VideoResolution::parse(&r, "settings.resolution")).transpose()?,
                )?)
            }
        };
        let webhook_url = body.webhook_url.map(|url| parse_url(&url, "webhookUrl")).transpose()?;
        let webhook_events = body
            .webhook_events
            .map(|events| {
                let parsed = events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| WebhookEvent::parse(e, &format!("webhookEvents[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                match (parsed.is_empty(), &webhook_url) {
                    (true, _) => Err(genrelay_core::Error::invalid("webhookEvents: name at least one event")),
                    (_, None) => Err(genrelay_core::Error::invalid("webhookEvents: needs a webhookUrl")),
                    _ => Ok(parsed),
                }
            })
            .transpose()?;
        let priority = parse_priority(body.priority, "priority")?;
        let spec = JobSpec::new(capability, prompt, inputs, params)?;
        Ok(NewJob { spec, webhook_url, webhook_events, priority, source: JobSource::OpenApi })
    }
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
    let submitted = state.engine.submit(&client, body.try_into()?, idempotency).await?;
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
