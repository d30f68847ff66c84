//! What the open API answers: jobs and assets as clients see them (no provider, upstream task
//! or storage details), and the envelopes around them.

use crate::paths::download_path;
use chrono::{DateTime, Utc};
use genrelay_core::spec::{Material, Params};
use genrelay_core::{Asset, AssetKind, AssetSource, AssetStatus, Attempt, Capability, Job, JobStatus};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    #[schema(example = "job_01jd4x7k2m8q9r3s5t6v7w8x9y")]
    pub id: String,
    pub capability: Capability,
    pub status: JobStatus,
    /// 0-100; 100 once succeeded.
    pub progress: u8,
    pub prompt: Option<String>,
    /// The capability's parameters after defaults were applied.
    #[schema(value_type = Object)]
    pub params: Value,
    pub image_urls: Vec<String>,
    pub input_urls: Vec<String>,
    pub input_asset_ids: Vec<String>,
    pub materials: Vec<Material>,
    pub output_asset_ids: Vec<String>,
    /// Why the job failed, expired or was cancelled.
    pub error: Option<String>,
    pub webhook_url: Option<String>,
    pub idempotency_key: Option<String>,
    /// Lower runs sooner.
    pub priority: u32,
    /// The API surface the job came in through (`open-api`, `inference`, `ps-tasks`), with
    /// what that surface names it by.
    pub source: genrelay_core::JobSource,
    /// Every hand-over to an upstream channel, and how it went.
    pub attempts: Vec<Attempt>,
    /// The order number given at creation.
    pub order_number: Option<String>,
    /// The input picture: `original` or `retouched`, as given at creation; an original becomes
    /// `retouched` once Meitu retouched it before the job's own capability.
    pub image_type: Option<genrelay_core::InputImageType>,
    /// The code of the catalog style the job named.
    pub style: Option<String>,
    /// Meitu's retouch of the original, once back: the job ran on it in place of its first
    /// input image.
    pub retouched_asset_id: Option<String>,
    /// The job this one submits again, when an operator retried it from the back office.
    pub retry_of: Option<String>,
    /// While a running job waits for a channel (every one busy or briefly unreachable): why,
    /// since when, and until when it may wait before it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<genrelay_core::Waiting>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// A job not finished by then becomes `expired`.
    pub deadline_at: DateTime<Utc>,
}

/// A capability's parameters as the job body names them, defaults applied.
pub fn params_of(params: &Params) -> Value {
    match params {
        Params::ImageGenerate(p) => json!({
            "width": p.width, "height": p.height, "scale": p.scale,
            "quality": p.quality, "force_single": p.force_single,
        }),
        Params::ImageEdit { keep_size } => json!({ "keepSize": keep_size }),
        Params::ImageInpaint => json!({}),
        Params::ImageUpscale { resolution } => json!({ "resolution": resolution }),
        Params::VideoGenerate(settings) => json!({ "settings": settings }),
    }
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        let params = params_of(&job.spec.params);
        let ids = |ids: &[genrelay_core::AssetId]| ids.iter().map(ToString::to_string).collect();
        Self {
            id: job.id.to_string(),
            capability: job.capability(),
            status: job.status,
            progress: job.progress,
            params,
            input_asset_ids: ids(&job.spec.inputs.input_asset_ids),
            output_asset_ids: ids(&job.output_asset_ids),
            prompt: job.spec.prompt,
            image_urls: job.spec.inputs.image_urls,
            input_urls: job.spec.inputs.input_urls,
            materials: job.spec.inputs.materials,
            error: job.error,
            webhook_url: job.webhook_url,
            idempotency_key: job.idempotency_key,
            priority: job.priority,
            source: job.source,
            attempts: job.attempts,
            order_number: job.labels.order_number,
            image_type: job.labels.image_type,
            style: job.spec.style.map(|style| style.code),
            retouched_asset_id: job.retouch.and_then(|retouch| retouch.result).map(|id| id.to_string()),
            retry_of: job.labels.retry_of.map(|id| id.to_string()),
            waiting: job.waiting,
            created_at: job.created_at,
            updated_at: job.updated_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            deadline_at: job.deadline_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobEnvelope {
    pub job: JobView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedJobEnvelope {
    pub job: JobView,
    /// True when an earlier request with the same Idempotency-Key and body created this job.
    pub reused: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetView {
    #[schema(example = "asset_01jd4x7k2m8q9r3s5t6v7w8x9y")]
    pub id: String,
    pub kind: AssetKind,
    pub source: AssetSource,
    /// `pending` until a presigned upload is completed.
    pub status: AssetStatus,
    pub name: String,
    pub content_type: String,
    /// Bytes; null for registered URLs.
    pub size: Option<u64>,
    /// SHA-256 of the bytes (hex); null for registered URLs.
    pub sha256: Option<String>,
    /// A URL for the asset, usable in `imageUrls`/`inputUrls` of a job: the registered URL
    /// (source `url`), or this API's download URL for stored files.
    pub url: String,
    /// Where to download the asset (with the API key); answers a redirect to a short-lived URL.
    pub download_url: String,
    /// The job that produced it (source `output`).
    pub job_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AssetView {
    /// The asset as seen by a client that called the API at `base` (`scheme://host`).
    pub fn new(asset: Asset, base: &str) -> Self {
        let download_url = format!("{base}{}", download_path(&asset.id));
        Self {
            url: asset.url.unwrap_or_else(|| download_url.clone()),
            download_url,
            id: asset.id.to_string(),
            kind: asset.kind,
            source: asset.source,
            status: asset.status,
            name: asset.name,
            content_type: asset.content_type,
            size: asset.size,
            sha256: asset.sha256,
            job_id: asset.job_id.map(|id| id.to_string()),
            created_at: asset.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssetEnvelope {
    pub asset: AssetView,
}

/// The answer to `POST /api/v1/assets`: every asset created, and the first one as `asset`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAssets {
    pub asset: AssetView,
    pub assets: Vec<AssetView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssetPage {
    pub assets: Vec<AssetView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next: Option<String>,
}

/// One webhook event of a job and every attempt at delivering it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The `webhook-id` header, the same on every attempt.
    #[schema(example = "msg_01jd4x7k2m8q9r3s5t6v7w8x9y_succeeded")]
    pub id: String,
    pub event: genrelay_core::WebhookEvent,
    pub url: String,
    pub status: genrelay_core::DeliveryStatus,
    /// Why it failed, when it did (retries exhausted, a refusal, a disabled URL).
    pub failure: Option<String>,
    pub attempts: Vec<genrelay_core::DeliveryAttempt>,
    /// When the next scheduled attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<genrelay_core::WebhookDelivery> for DeliveryView {
    fn from(d: genrelay_core::WebhookDelivery) -> Self {
        Self {
            id: d.id,
            event: d.event,
            url: d.url,
            status: d.status,
            failure: d.failure,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}
