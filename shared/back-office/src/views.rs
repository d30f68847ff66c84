//! A job as the back office shows it: seed 000's task fields (`task_id`, `status` in its
//! vocabulary with `status_text`, `api_task_id`, `duration_seconds`, …) over genrelay's job.

use chrono::{DateTime, Utc};
use genrelay_core::{AssetId, Attempt, InputImageType, Job, JobSource, JobStatus, OperatorAction, WebhookDelivery};
use genrelay_wire::views::{DeliveryView, params_of};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Seed 000's task statuses, each a group of genrelay's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AiTaskStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl AiTaskStatus {
    pub const NAMES: [&'static str; 5] = ["pending", "processing", "completed", "failed", "cancelled"];

    pub fn of(status: JobStatus) -> Self {
        match status {
            JobStatus::Queued => Self::Pending,
            JobStatus::Running => Self::Processing,
            JobStatus::Succeeded => Self::Completed,
            JobStatus::Failed | JobStatus::Expired => Self::Failed,
            JobStatus::Cancelled => Self::Cancelled,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Processing, Self::Completed, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// genrelay's statuses this one groups.
    pub fn job_statuses(self) -> Vec<JobStatus> {
        JobStatus::ALL.iter().copied().filter(|status| Self::of(*status) == self).collect()
    }

    /// The label seed 000's console shows.
    pub fn text(self) -> &'static str {
        match self {
            Self::Pending => "待处理",
            Self::Processing => "处理中",
            Self::Completed => "已完成",
            Self::Failed => "失败",
            Self::Cancelled => "已取消",
        }
    }
}

pub fn image_type_text(kind: InputImageType) -> &'static str {
    match kind {
        InputImageType::Original => "原图",
        InputImageType::Retouched => "美颜后",
    }
}

/// One input or output file, with a link the console can show it through.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FilePreview {
    /// `image`, `video`, `audio` or `file`.
    pub kind: &'static str,
    /// A URL the client gave, or this back office's link to a stored file (a redirect to a
    /// short-lived download URL; it needs the session).
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
}

/// A task (a genrelay job of any client and surface) in the list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiTask {
    #[schema(example = "job_01jd4x7k2m8q9r3s5t6v7w8x9y")]
    pub task_id: String,
    pub order_number: Option<String>,
    pub status: AiTaskStatus,
    #[schema(example = "处理中")]
    pub status_text: &'static str,
    /// genrelay's own status (`expired` shows as `failed` above).
    #[schema(value_type = String, example = "running")]
    pub job_status: JobStatus,
    pub progress: u8,
    /// The capability (the console's 工作流 column).
    #[schema(example = "image.generate")]
    pub capability: String,
    /// The provider channel that took it.
    pub provider: Option<String>,
    /// The upstream's task id.
    pub api_task_id: Option<String>,
    pub client_id: String,
    /// The surface it came in through: open-api, ps-tasks, jimeng-async, inference.
    pub surface: &'static str,
    #[schema(value_type = Option<String>, example = "original")]
    pub image_type: Option<InputImageType>,
    /// 原图 or 美颜后.
    pub image_type_text: Option<&'static str>,
    /// The name of the catalog style the job named (风格).
    pub style_name: Option<String>,
    /// Run from the playground, and by whom.
    pub playground: bool,
    pub playground_user: Option<String>,
    pub prompt: Option<String>,
    /// The capability's parameters as submitted, defaults applied.
    #[schema(value_type = Object)]
    pub request_params: Value,
    pub input_files: Vec<FilePreview>,
    pub output_files: Vec<FilePreview>,
    /// Seconds from creation to the end, once it ended.
    pub duration_seconds: Option<f64>,
    /// Why it failed, expired or was cancelled.
    pub error_message: Option<String>,
    /// The job this one retries.
    pub retry_of: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<&Job> for AiTask {
    fn from(job: &Job) -> Self {
        let status = AiTaskStatus::of(job.status);
        Self {
            task_id: job.id.to_string(),
            order_number: job.labels.order_number.clone(),
            status,
            status_text: status.text(),
            job_status: job.status,
            progress: job.progress,
            capability: job.capability().to_string(),
            provider: job.channel.clone(),
            api_task_id: job.upstream_task_id.clone(),
            client_id: job.client_id.to_string(),
            surface: job.source.surface(),
            image_type: job.labels.image_type,
            image_type_text: job.labels.image_type.map(image_type_text),
            style_name: job.spec.style.as_ref().map(|style| style.name.clone()),
            playground: job.labels.playground_of.is_some(),
            playground_user: job.labels.playground_of.clone(),
            prompt: job.spec.prompt.clone(),
            request_params: params_of(&job.spec.params),
            input_files: input_files(job),
            output_files: job
                .output_asset_ids
                .iter()
                .map(|id| stored_file(job, id, job.capability().output_kind().as_str()))
                .collect(),
            duration_seconds: job
                .finished_at
                .map(|end| ((end - job.created_at).num_milliseconds() as f64 / 1000.0 * 10.0).round() / 10.0),
            error_message: job.error.clone(),
            retry_of: job.labels.retry_of.as_ref().map(ToString::to_string),
            created_at: job.created_at,
            started_at: job.started_at,
            completed_at: job.finished_at,
        }
    }
}

/// The back office's link to a stored file of a job.
pub fn file_link(job: &Job, asset: &AssetId) -> String {
    format!("/admin/ai/api/tasks/{}/files/{asset}", job.id)
}

fn stored_file(job: &Job, asset: &AssetId, kind: &'static str) -> FilePreview {
    FilePreview { kind, url: file_link(job, asset), asset_id: Some(asset.to_string()) }
}

fn input_files(job: &Job) -> Vec<FilePreview> {
    let inputs = &job.spec.inputs;
    let urls = |urls: &[String], kind: &'static str| {
        urls.iter().map(move |url| FilePreview { kind, url: url.clone(), asset_id: None }).collect::<Vec<_>>()
    };
    let mut files = urls(&inputs.image_urls, "image");
    files.extend(urls(&inputs.input_urls, "file"));
    files.extend(inputs.input_asset_ids.iter().map(|id| stored_file(job, id, "image")));
    for material in &inputs.materials {
        let kind = material.kind.as_str();
        match (&material.url, &material.asset_id) {
            (_, Some(id)) => files.push(stored_file(job, id, kind)),
            (Some(url), None) => files.push(FilePreview { kind, url: url.clone(), asset_id: None }),
            (None, None) => {}
        }
    }
    files
}

/// Where the job's task is upstream, for the detail view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpstreamState {
    pub provider: Option<String>,
    pub api_task_id: Option<String>,
    /// Submissions after the upstream lost or dropped the task.
    pub resubmissions: u32,
    pub next_poll_at: Option<DateTime<Utc>>,
    /// Why it waits for a channel, while it does.
    pub waiting_reason: Option<String>,
    /// Since when the upstream has not answered polls, while it does not.
    pub unreachable_since: Option<DateTime<Utc>>,
    /// The latest passing problem a poll met (results not fetched yet, the upstream not
    /// answering), until a poll answers.
    pub setback: Option<String>,
    pub deadline_at: DateTime<Utc>,
}

/// A task with everything the detail view shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiTaskDetail {
    #[serde(flatten)]
    pub task: AiTask,
    /// Every hand-over to a channel, oldest first: the attempt timeline.
    #[schema(value_type = Vec<Object>)]
    pub attempts: Vec<Attempt>,
    pub upstream: UpstreamState,
    /// What operators did to it.
    #[schema(value_type = Vec<Object>)]
    pub operator_actions: Vec<OperatorAction>,
    pub webhook_url: Option<String>,
    pub webhook_deliveries: Vec<DeliveryView>,
    /// The surface it came in through, with what that surface names it by.
    #[schema(value_type = Object)]
    pub source: JobSource,
    pub priority: u32,
    pub updated_at: DateTime<Utc>,
}

impl AiTaskDetail {
    pub fn of(job: &Job, deliveries: Vec<WebhookDelivery>) -> Self {
        Self {
            task: AiTask::from(job),
            attempts: job.attempts.clone(),
            upstream: UpstreamState {
                provider: job.channel.clone(),
                api_task_id: job.upstream_task_id.clone(),
                resubmissions: job.submit_attempts,
                next_poll_at: job.next_poll_at,
                waiting_reason: job.waiting.as_ref().map(|w| w.reason.clone()),
                unreachable_since: job.unreachable_since,
                setback: job.setback.clone(),
                deadline_at: job.deadline_at,
            },
            operator_actions: job.operator_actions.clone(),
            webhook_url: job.webhook_url.clone(),
            webhook_deliveries: deliveries.into_iter().map(DeliveryView::from).collect(),
            source: job.source.clone(),
            priority: job.priority,
            updated_at: job.updated_at,
        }
    }
}
