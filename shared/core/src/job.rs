//! A job and the state machine it moves through:
//! `queued → running → succeeded | failed | expired | cancelled`. A queued job may also be
//! cancelled, expire, or fail before it starts. Terminal states are final.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::Capability;
use crate::error::{Error, Result};
use crate::ids::{AssetId, ClientId, JobId};
use crate::spec::JobSpec;
use crate::webhook::WebhookEvent;

named_values!(
    /// Where a job is in its lifecycle.
    JobStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Expired = "expired",
        Cancelled = "cancelled",
    }
);

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    /// Whether the state machine allows moving from `self` to `next`.
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Queued, Running | Failed | Expired | Cancelled) | (Running, Succeeded | Failed | Expired | Cancelled)
        )
    }
}

/// Seed 001's priority: a lower number runs sooner. Jobs without one get this.
pub const DEFAULT_PRIORITY: u32 = 10;
pub const MAX_PRIORITY: u32 = 1000;
/// Jobs with a priority at or below this are dispatched on the priority lane.
pub const PRIORITY_LANE_MAX: u32 = 5;

/// The dispatch queue a job travels on. Each lane has its own queue and worker concurrency, so a
/// burst of standard work never delays priority jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchLane {
    Priority,
    Standard,
}

fn default_priority() -> u32 {
    DEFAULT_PRIORITY
}

/// A priority a client asked for: 0 (soonest) to `MAX_PRIORITY`.
pub fn parse_priority(raw: Option<u32>, field: &str) -> Result<Option<u32>> {
    match raw {
        Some(priority) if priority > MAX_PRIORITY => {
            Err(Error::invalid(format!("{field}: must be between 0 and {MAX_PRIORITY}, got {priority}")))
        }
        other => Ok(other),
    }
}

/// One hand-over of a job to a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The channel (an operator's name for an upstream and its settings).
    pub channel: String,
    pub at: DateTime<Utc>,
    /// `accepted`, or why it did not take the job.
    #[schema(value_type = String, example = "accepted")]
    pub outcome: AttemptOutcome,
}

/// How a hand-over went. On the wire, `accepted` or the reason as one string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AttemptOutcome {
    Accepted,
    /// The channel did not take the job, and why.
    Refused(String),
}

const ACCEPTED: &str = "accepted";

impl From<String> for AttemptOutcome {
    fn from(text: String) -> Self {
        if text == ACCEPTED { Self::Accepted } else { Self::Refused(text) }
    }
}

impl From<AttemptOutcome> for String {
    fn from(outcome: AttemptOutcome) -> Self {
        match outcome {
            AttemptOutcome::Accepted => ACCEPTED.to_owned(),
            AttemptOutcome::Refused(reason) => reason,
        }
    }
}

/// Why a running job waits for a channel, since when, and until when it may wait: past `until`
/// it fails with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    pub reason: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The API surface a job came in through, with what that surface's clients name it by.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "surface", rename_all = "kebab-case")]
pub enum JobSource {
    /// genrelay's own API (seed 004).
    #[default]
    OpenApi,
    /// The inference backend API (seed 003): the task index it was submitted with.
    Inference { index: u32 },
    /// The PS task API (seed 001).
    #[serde(rename_all = "camelCase")]
    PsTasks { image_id: String, editor: Option<String> },
    /// The Jimeng async API (seed 002): the model the client asked for.
    JimengAsync { model: Option<String> },
}

impl JobSource {
    pub fn surface(&self) -> &'static str {
        match self {
            Self::OpenApi => "open-api",
            Self::Inference { .. } => "inference",
            Self::PsTasks { .. } => "ps-tasks",
            Self::JimengAsync { .. } => "jimeng-async",
        }
    }
}

named_values!(
    /// Which picture a job starts from, as the back office filters it (seed 000's 图片类型):
    /// the customer's original, or one already retouched (by Meitu) before generation.
    InputImageType {
        /// 原图
        Original = "original",
        /// 美颜后
        Retouched = "retouched",
    }
);

/// Meitu's retouch of a job's original before its own capability runs (seed 000's
/// `enable_in_workflow`): the call, and the retouched image once it is back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retouch {
    /// The Meitu channel that took the call.
    pub channel: String,
    /// Meitu's preset code (`media_code`), from the job's style.
    pub preset: String,
    /// Meitu's id of the call.
    pub msg_id: String,
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The retouched image, kept as the client's asset: the job's input from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub result: Option<AssetId>,
}

/// The longest order number a job carries.
pub const MAX_ORDER_NUMBER_CHARS: usize = 128;

/// An order number a client gave: trimmed, 1-128 characters, no control characters.
pub fn parse_order_number(raw: Option<String>, field: &str) -> Result<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    let number = raw.trim();
    if number.is_empty() || number.chars().count() > MAX_ORDER_NUMBER_CHARS {
        return Err(Error::invalid(format!("{field}: must be 1 to {MAX_ORDER_NUMBER_CHARS} characters")));
    }
    if number.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{field}: must not contain control characters")));
    }
    Ok(Some(number.to_owned()))
}

/// What operators find a job by in the back office. None of it changes how the job runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLabels {
    /// The client's order number (searched by substring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<InputImageType>,
    /// The back-office user who ran the job from the playground.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playground_of: Option<String>,
    /// The job this one submits again (an operator's retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<JobId>,
}

named_values!(
    /// What an operator did to a job from the back office.
    OperatorActionKind {
        /// Asked the upstream for the task's state now.
        Recheck = "recheck",
        Cancel = "cancel",
        /// Submitted it again as a new job.
        Retry = "retry",
    }
);

/// One operator action, recorded on the job it acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorAction {
    pub action: OperatorActionKind,
    /// The back-office user.
    pub by: String,
    pub at: DateTime<Utc>,
    /// What came of it: the upstream's answer, or the new job's id.
    pub outcome: String,
}

/// A generation job. Stored whole; `status` is the field every conditional write checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: JobId,
    pub client_id: ClientId,
    pub status: JobStatus,
    pub spec: JobSpec,
    pub webhook_url: Option<String>,
    /// The events the webhook announces (`webhookEvents`); the job's ending by default.
    #[serde(default = "default_webhook_events")]
    pub webhook_events: Vec<WebhookEvent>,
    pub idempotency_key: Option<String>,
    /// The surface it came in through.
    #[serde(default)]
    pub source: JobSource,
    /// Lower runs sooner (see `DispatchLane`).
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Counts the writes of this job; every write is conditional on it (optimistic concurrency).
    #[serde(default)]
    pub revision: u64,
    /// 0-100 while running, 100 once succeeded.
    pub progress: u8,
    pub output_asset_ids: Vec<AssetId>,
    /// Why the job failed, expired or was cancelled; written for the client.
    pub error: Option<String>,
    /// The channel that took the job and its task id there. Never shown to clients. (Stored as
    /// `provider` by earlier versions.)
    #[serde(alias = "provider")]
    pub channel: Option<String>,
    pub upstream_task_id: Option<String>,
    /// When the poller should next ask the provider; set only while the job waits on a poll.
    pub next_poll_at: Option<DateTime<Utc>>,
    /// A job not finished by then becomes `expired`.
    pub deadline_at: DateTime<Utc>,
    /// When a dispatch message was last sent for it (the reconciler re-sends after a grace
    /// period, not at every pass).
    #[serde(default)]
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Submissions again after the upstream lost or dropped the task; limited.
    #[serde(default)]
    pub submit_attempts: u32,
    /// Set while no channel can take the job (all busy or briefly unreachable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Since when the upstream running the job's task has not answered a poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<DateTime<Utc>>,
    /// The latest passing problem a poll met while the job runs (its results not fetched yet,
    /// the upstream not answering), cleared by a poll that answers; an expiry says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setback: Option<String>,
    /// Every hand-over to a channel: which, when, and how it went.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// What operators find it by.
    #[serde(default, flatten)]
    pub labels: JobLabels,
    /// What operators did to it, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_actions: Vec<OperatorAction>,
    /// Meitu's retouch of its original, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retouch: Option<Retouch>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn default_webhook_events() -> Vec<WebhookEvent> {
    WebhookEvent::DEFAULT.to_vec()
}

/// A validated request to create a job, as a surface reads it from its client.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub spec: JobSpec,
    pub webhook_url: Option<String>,
    /// The events the webhook announces; the job's ending when not given.
    pub webhook_events: Option<Vec<WebhookEvent>>,
    /// Lower runs sooner; `DEFAULT_PRIORITY` when not given.
    pub priority: Option<u32>,
    /// The surface it comes in through.
    pub source: JobSource,
    pub labels: JobLabels,
}

impl NewJob {
    /// A job of the open API with no webhook, the default priority and no labels.
    pub fn of(spec: JobSpec) -> Self {
        Self {
            spec,
            webhook_url: None,
            webhook_events: None,
            priority: None,
            source: JobSource::OpenApi,
            labels: JobLabels::default(),
        }
    }
}

impl Job {
    /// The queued job `client_id` asked for with `request`.
    pub fn new(
        id: JobId,
        client_id: ClientId,
        request: NewJob,
        idempotency_key: Option<String>,
        now: DateTime<Utc>,
        deadline_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            client_id,
            status: JobStatus::Queued,
            spec: request.spec,
            webhook_url: request.webhook_url,
            webhook_events: request.webhook_events.unwrap_or_else(default_webhook_events),
            idempotency_key,
            source: request.source,
            priority: request.priority.unwrap_or(DEFAULT_PRIORITY),
            revision: 0,
            progress: 0,
            output_asset_ids: Vec::new(),
            error: None,
            channel: None,
            upstream_task_id: None,
            next_poll_at: None,
            deadline_at,
            dispatched_at: Some(now),
            submit_attempts: 0,
            waiting: None,
            unreachable_since: None,
            setback: None,
            attempts: Vec::new(),
            labels: request.labels,
            operator_actions: Vec::new(),
            retouch: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    /// The webhook event entering `status` announces, if the job has a webhook and asked for
    /// that event.
    pub fn announces(&self, status: JobStatus) -> Option<WebhookEvent> {
        let event = WebhookEvent::of(status)?;
        (self.webhook_url.is_some() && self.webhook_events.contains(&event)).then_some(event)
    }

    /// The next revision of this job, to change and then write with `JobStore::replace`.
    pub fn revise(&self) -> Job {
        Job { revision: self.revision + 1, ..self.clone() }
    }

    pub fn lane(&self) -> DispatchLane {
        if self.priority <= PRIORITY_LANE_MAX { DispatchLane::Priority } else { DispatchLane::Standard }
    }

    pub fn capability(&self) -> Capability {
        self.spec.capability
    }

    fn become_(&mut self, next: JobStatus, now: DateTime<Utc>) -> Result<()> {
        if !self.status.can_become(next) {
            return Err(Error::Conflict(format!(
                "Job {} is {} and cannot become {}.",
                self.id,
                self.status.as_str(),
                next.as_str()
            )));
        }
        self.status = next;
        self.updated_at = now;
        if next.is_terminal() {
            self.finished_at = Some(now);
            self.next_poll_at = None;
        }
        Ok(())
    }

    /// queued → running: the worker has it, and hands it to a channel.
    pub fn start(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.become_(JobStatus::Running, now)?;
        self.started_at = Some(now);
        Ok(())
    }

    /// Records the channel that took the job, its task there and when to ask about it next.
    pub fn await_upstream(&mut self, channel: &str, task_id: String, next_poll_at: DateTime<Utc>, now: DateTime<Utc>) {
        self.channel = Some(channel.to_owned());
        self.upstream_task_id = Some(task_id);
        self.next_poll_at = Some(next_poll_at);
        self.waiting = None;
        self.unreachable_since = None;
        self.updated_at = now;
    }

    /// Progress reported by the provider while running; never goes backwards, never reaches 100
    /// before the outputs are stored.
    pub fn report_progress(&mut self, progress: u8, next_poll_at: DateTime<Utc>, now: DateTime<Utc>) {
        self.progress = self.progress.max(progress.min(99));
        self.setback = None;
        self.next_poll_at = Some(next_poll_at);
        self.updated_at = now;
    }

    pub fn succeed(&mut self, outputs: Vec<AssetId>, now: DateTime<Utc>) -> Result<()> {
        self.become_(JobStatus::Succeeded, now)?;
        self.progress = 100;
        self.output_asset_ids = outputs;
        Ok(())
    }

    pub fn fail(&mut self, reason: impl Into<String>, now: DateTime<Utc>) -> Result<()> {
        self.become_(JobStatus::Failed, now)?;
        self.error = Some(reason.into());
        Ok(())
    }

    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.become_(JobStatus::Expired, now)?;
        self.error = Some(match &self.setback {
            Some(setback) => format!("The job did not finish before its deadline; last: {setback}"),
            None => "The job did not finish before its deadline.".to_owned(),
        });
        Ok(())
    }

    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.cancel_because("Cancelled by the client.", now)
    }

    /// Cancels it, saying who did.
    pub fn cancel_because(&mut self, reason: impl Into<String>, now: DateTime<Utc>) -> Result<()> {
        self.become_(JobStatus::Cancelled, now)?;
        self.error = Some(reason.into());
        Ok(())
    }

    /// Whether an operator may submit it again: it failed, expired or was cancelled.
    pub fn can_be_retried(&self) -> bool {
        matches!(self.status, JobStatus::Failed | JobStatus::Expired | JobStatus::Cancelled)
    }

    /// A request for a new job that does what this one asked, linked back to it.
    pub fn retried(&self) -> NewJob {
        // Its input is the client's original again: a retouch is done again for the new job.
        let image_type = match &self.retouch {
            Some(_) => Some(InputImageType::Original),
            None => self.labels.image_type,
        };
        NewJob {
            spec: self.spec.clone(),
            webhook_url: self.webhook_url.clone(),
            webhook_events: Some(self.webhook_events.clone()),
            priority: Some(self.priority),
            source: self.source.clone(),
            labels: JobLabels { retry_of: Some(self.id.clone()), image_type, ..self.labels.clone() },
        }
    }

    /// The Meitu preset to retouch the job's input image with before its own capability runs
    /// (when it has one): its input is an original, its style has a Meitu preset, and it is not
    /// retouched yet.
    pub fn retouch_preset(&self) -> Option<&str> {
        let original = self.labels.image_type == Some(InputImageType::Original);
        let retouched = self.retouch.as_ref().is_some_and(|retouch| retouch.result.is_some());
        let preset = self.spec.style.as_ref().and_then(|style| style.meitu_preset.as_deref());
        preset.filter(|_| original && !retouched)
    }

    /// Whether the task it waits on is Meitu's retouch of its original.
    pub fn is_retouching(&self) -> bool {
        self.retouch.as_ref().is_some_and(|retouch| {
            retouch.result.is_none() && self.upstream_task_id.as_deref() == Some(retouch.msg_id.as_str())
        })
    }

    /// Meitu's retouch is back as `asset`: from now on the job runs on it in place of its first
    /// input image (what it asked stays as it asked), as a `retouched` input, and is to be
    /// handed to its own channels.
    pub fn take_retouched(&mut self, asset: AssetId, now: DateTime<Utc>) {
        if let Some(retouch) = &mut self.retouch {
            retouch.result = Some(asset);
            retouch.finished_at = Some(now);
        }
        self.labels.image_type = Some(InputImageType::Retouched);
        self.channel = None;
        self.upstream_task_id = None;
        self.unreachable_since = None;
        self.updated_at = now;
    }

    pub fn is_past_deadline(&self, now: DateTime<Utc>) -> bool {
        now >= self.deadline_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Inputs, Params, UpscaleResolution};

    fn job() -> Job {
        let spec = JobSpec::new(
            Capability::ImageUpscale,
            None,
            Inputs { image_urls: vec!["https://example.com/a.png".into()], ..Inputs::default() },
            Params::ImageUpscale { resolution: UpscaleResolution::K2 },
        )
        .unwrap();
        let now = Utc::now();
        Job::new(
            JobId::from_ulid(ulid::Ulid::new()),
            ClientId::parse("a").unwrap(),
            NewJob::of(spec),
            None,
            now,
            now + chrono::Duration::hours(1),
        )
    }

    #[test]
    fn terminal_states_are_final() {
        for terminal in JobStatus::ALL.iter().copied().filter(|s| s.is_terminal()) {
            for next in JobStatus::ALL.iter().copied() {
                assert!(!terminal.can_become(next), "{terminal:?} -> {next:?}");
            }
        }
    }

    #[test]
    fn a_stored_job_of_an_earlier_version_keeps_its_channel() {
        let mut job = job();
        job.channel = Some("comfy-a".into());
        let stored = serde_json::to_string(&job).unwrap().replace("\"channel\":", "\"provider\":");
        let read: Job = serde_json::from_str(&stored).unwrap();
        assert_eq!(read.channel.as_deref(), Some("comfy-a"));
    }

    #[test]
    fn a_job_runs_then_succeeds_with_full_progress() {
        let mut job = job();
        let now = Utc::now();
        job.start(now).unwrap();
        job.report_progress(100, now, now);
        assert_eq!(job.progress, 99, "100 only once outputs are stored");
        job.report_progress(40, now, now);
        assert_eq!(job.progress, 99, "progress never goes backwards");
        job.succeed(vec![], now).unwrap();
        assert_eq!((job.status, job.progress), (JobStatus::Succeeded, 100));
        assert!(job.finished_at.is_some());
        assert!(matches!(job.cancel(now), Err(Error::Conflict(_))));
    }

    #[test]
    fn a_queued_job_can_be_cancelled_but_not_succeed() {
        let mut job = job();
        assert!(job.clone().succeed(vec![], Utc::now()).is_err());
        job.cancel(Utc::now()).unwrap();
        assert_eq!(job.status, JobStatus::Cancelled);
        assert!(job.start(Utc::now()).is_err());
    }

    #[test]
    fn unknown_status_names_the_field() {
        let err = JobStatus::parse("done", "status").unwrap_err();
        assert!(err.to_string().starts_with("status:"));
    }

    #[test]
    fn an_original_with_a_meitu_styled_preset_is_retouched_once_then_runs_on_the_retouch() {
        let mut job = job();
        let style =
            crate::styles::JobStyle { code: "film".into(), name: "胶片".into(), meitu_preset: Some("MT-1".into()) };
        job.spec.style = Some(style);
        assert_eq!(job.retouch_preset(), None, "only an original is retouched");
        job.labels.image_type = Some(InputImageType::Original);
        assert_eq!(job.retouch_preset(), Some("MT-1"));
        let now = Utc::now();
        job.retouch = Some(Retouch {
            channel: "meitu-yunxiu".into(),
            preset: "MT-1".into(),
            msg_id: "m1".into(),
            sent_at: now,
            finished_at: None,
            result: None,
        });
        job.await_upstream("meitu-yunxiu", "m1".into(), now, now);
        assert!(job.is_retouching());
        let retouched = AssetId::parse("asset_retouched").unwrap();
        job.take_retouched(retouched.clone(), now);
        assert!(!job.is_retouching() && job.retouch_preset().is_none(), "retouched once");
        assert_eq!(job.labels.image_type, Some(InputImageType::Retouched));
        assert_eq!((job.channel.as_deref(), job.upstream_task_id.as_deref()), (None, None));
        assert_eq!(job.retouch.as_ref().unwrap().result, Some(retouched));
        let retry = job.retried();
        assert_eq!(retry.labels.image_type, Some(InputImageType::Original), "a retry starts from the original");
    }
}
