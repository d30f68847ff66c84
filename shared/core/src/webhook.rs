//! Webhooks: which events a job notifies, the delivery of one event to the job's URL with its
//! log of attempts, and the retry schedule. The engine decides; a `WebhookSender` adapter signs
//! and sends.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ClientId, JobId};
use crate::job::JobStatus;

named_values!(
    /// What a webhook announces.
    WebhookEvent {
        Running = "generation.running",
        Succeeded = "generation.succeeded",
        Failed = "generation.failed",
        Expired = "generation.expired",
        Cancelled = "generation.cancelled",
    }
);

impl WebhookEvent {
    /// The events a job notifies unless it asks otherwise (`webhookEvents`): its ending.
    pub const DEFAULT: &'static [Self] = &[Self::Succeeded, Self::Failed, Self::Expired, Self::Cancelled];

    /// The event a job entering `status` announces.
    pub fn of(status: JobStatus) -> Option<Self> {
        match status {
            JobStatus::Queued => None,
            JobStatus::Running => Some(Self::Running),
            JobStatus::Succeeded => Some(Self::Succeeded),
            JobStatus::Failed => Some(Self::Failed),
            JobStatus::Expired => Some(Self::Expired),
            JobStatus::Cancelled => Some(Self::Cancelled),
        }
    }

    /// A short form for ids.
    fn tag(self) -> &'static str {
        self.as_str().trim_start_matches("generation.")
    }
}

named_values!(
    /// Where a delivery stands: `pending` (another attempt is scheduled), `delivered` (a 2xx
    /// answer), `failed` (given up: retries exhausted, which makes it a dead letter, a
    /// permanent refusal, or the URL disabled).
    DeliveryStatus {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
);

/// The waits before each retry: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
/// (eight attempts over about 28 hours).
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// The longest wait a `Retry-After` may ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

/// One event of one job, sent to the job's webhook URL, and every attempt at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// Stable across attempts: the `webhook-id` receivers deduplicate on.
    pub id: String,
    pub client_id: ClientId,
    pub job_id: JobId,
    pub event: WebhookEvent,
    pub url: String,
    pub status: DeliveryStatus,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Optimistic concurrency, as for jobs.
    pub revision: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What wakes a delivery whose retry falls due (on AWS, the body of a delayed SQS message): the
/// delivery, the revision it was sent for, and when the attempt is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wakeup {
    pub client_id: ClientId,
    pub job_id: JobId,
    pub event: WebhookEvent,
    pub revision: u64,
    pub due: DateTime<Utc>,
}

/// One attempt: when, what the receiver answered (or why there was no answer), how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// The HTTP status answered; none after a timeout, a connection error or a refused address.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// Sent by `redeliver`, not by the schedule.
    #[serde(default)]
    pub manual: bool,
}

/// What one send produced, as the sender saw it. Reasons hold no URL (a URL may hold a token).
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The receiver answered `status`, maybe asking to wait before the next attempt.
    Answered { status: u16, latency: Duration, retry_after: Option<Duration> },
    /// No answer: a timeout, a connection error, a name that does not resolve now.
    NoAnswer { reason: String, latency: Duration },
    /// The SSRF guard refused the URL before anything was sent: never retried.
    Refused { reason: String },
}

/// How an attempt ends the delivery, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// 410 Gone: the receiver wants no more; the URL is disabled for the client.
    Gone,
    /// Worth trying again (429, 5xx, a timeout, a connection error).
    Retry,
    /// Another answer (3xx, other 4xx) or a refused address: no retry.
    Refused,
}

impl SendOutcome {
    pub fn verdict(&self) -> Verdict {
        match self {
            Self::Answered { status: 200..=299, .. } => Verdict::Delivered,
            Self::Answered { status: 410, .. } => Verdict::Gone,
            Self::Answered { status: 429 | 500..=599, .. } | Self::NoAnswer { .. } => Verdict::Retry,
            Self::Answered { .. } | Self::Refused { .. } => Verdict::Refused,
        }
    }

    /// The attempt as its log keeps it.
    fn logged(&self, at: DateTime<Utc>, manual: bool) -> DeliveryAttempt {
        let (status_code, latency, error) = match self {
            Self::Answered { status, latency, .. } => (Some(*status), *latency, None),
            Self::NoAnswer { reason, latency } => (None, *latency, Some(reason.clone())),
            Self::Refused { reason } => (None, Duration::ZERO, Some(reason.clone())),
        };
        DeliveryAttempt { at, status_code, latency_ms: latency.as_millis() as u64, error, manual }
    }
}

impl WebhookDelivery {
    /// The delivery of `event` about a job: its id is derived from both, so a second trigger of
    /// the same event finds the first.
    pub fn new(client_id: ClientId, job_id: JobId, event: WebhookEvent, url: String, now: DateTime<Utc>) -> Self {
        Self {
            id: Self::id_for(&job_id, event),
            client_id,
            job_id,
            event,
            url,
            status: DeliveryStatus::Pending,
            failure: None,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            revision: 0,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn id_for(job_id: &JobId, event: WebhookEvent) -> String {
        format!("msg_{}_{}", job_id.as_str().trim_start_matches("job_"), event.tag())
    }

    /// The next revision, to change and write with `WebhookStore::replace_delivery`.
    pub fn revise(&self) -> Self {
        Self { revision: self.revision + 1, ..self.clone() }
    }

    /// Records an attempt and what follows from it: delivered, failed, or the next attempt's
    /// time on the schedule (or later, if the receiver's `Retry-After` asks). Manual attempts
    /// do not count toward the schedule.
    pub fn record(&mut self, outcome: &SendOutcome, at: DateTime<Utc>, manual: bool) -> Verdict {
        self.attempts.push(outcome.logged(at, manual));
        self.updated_at = at;
        let verdict = outcome.verdict();
        let scheduled = self.attempts.iter().filter(|a| !a.manual).count();
        match verdict {
            Verdict::Delivered => self.settle(DeliveryStatus::Delivered, None),
            Verdict::Gone => self.settle(DeliveryStatus::Failed, Some("the receiver answered 410 Gone".into())),
            Verdict::Refused => {
                let reason = match outcome {
                    SendOutcome::Answered { status, .. } => format!("the receiver answered {status}"),
                    SendOutcome::NoAnswer { reason, .. } | SendOutcome::Refused { reason } => reason.clone(),
                };
                self.settle(DeliveryStatus::Failed, Some(reason))
            }
            Verdict::Retry if manual && self.status != DeliveryStatus::Pending => {
                // A manual attempt of a settled delivery does not restart the schedule.
                self.settle(DeliveryStatus::Failed, Some("the redelivery failed".into()))
            }
            Verdict::Retry => match RETRY_SCHEDULE.get(scheduled.saturating_sub(1)) {
                Some(wait) => {
                    let asked = match outcome {
                        SendOutcome::Answered { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    let wait = asked.map_or(*wait, |asked| asked.min(MAX_RETRY_AFTER).max(*wait));
                    self.status = DeliveryStatus::Pending;
                    self.next_attempt_at = Some(at + chrono::Duration::from_std(wait).unwrap_or_default());
                }
                None => self.settle(DeliveryStatus::Failed, Some("retries exhausted".into())),
            },
        }
        verdict
    }

    /// Ends the delivery without another attempt.
    pub fn settle(&mut self, status: DeliveryStatus, failure: Option<String>) {
        self.status = status;
        self.failure = failure;
        self.next_attempt_at = None;
    }

    /// The wake-up for this revision's next attempt.
    pub fn wakeup(&self, due: DateTime<Utc>) -> Wakeup {
        Wakeup {
            client_id: self.client_id.clone(),
            job_id: self.job_id.clone(),
            event: self.event,
            revision: self.revision,
            due,
        }
    }

    /// Whether an attempt is due at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status == DeliveryStatus::Pending && self.next_attempt_at.is_some_and(|due| due <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> WebhookDelivery {
        let job = JobId::parse("job_01jabc").unwrap();
        WebhookDelivery::new(ClientId::parse("acme").unwrap(), job, WebhookEvent::Succeeded, "https://r".into(), t0())
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn answer(status_code: Option<u16>) -> SendOutcome {
        let latency = Duration::from_millis(12);
        match status_code {
            Some(status) => SendOutcome::Answered { status, latency, retry_after: None },
            None => SendOutcome::NoAnswer { reason: "timed out".into(), latency },
        }
    }

    fn asking_to_wait(seconds: u64) -> SendOutcome {
        let retry_after = Some(Duration::from_secs(seconds));
        SendOutcome::Answered { status: 429, latency: Duration::from_millis(12), retry_after }
    }

    #[test]
    fn the_schedule_lasts_more_than_a_day_then_dead_letters() {
        let mut d = delivery();
        let mut at = t0();
        let mut waits = Vec::new();
        loop {
            d.record(&answer(Some(503)), at, false);
            match d.next_attempt_at {
                Some(next) => {
                    waits.push((next - at).num_seconds());
                    at = next;
                }
                None => break,
            }
        }
        assert_eq!(waits, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(d.attempts.len(), 8);
        assert!((at - t0()).num_hours() >= 24, "retries span at least a day");
        assert_eq!((d.status, d.failure.as_deref()), (DeliveryStatus::Failed, Some("retries exhausted")));
        assert_eq!(d.id, "msg_01jabc_succeeded");
    }

    #[test]
    fn answers_are_classified() {
        for (code, verdict) in [
            (Some(200), Verdict::Delivered),
            (Some(204), Verdict::Delivered),
            (Some(410), Verdict::Gone),
            (Some(429), Verdict::Retry),
            (Some(500), Verdict::Retry),
            (None, Verdict::Retry),
            (Some(301), Verdict::Refused),
            (Some(404), Verdict::Refused),
        ] {
            assert_eq!(answer(code).verdict(), verdict, "{code:?}");
        }
        assert_eq!(SendOutcome::Refused { reason: "internal address".into() }.verdict(), Verdict::Refused);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let mut d = delivery();
        d.record(&asking_to_wait(120), t0(), false);
        assert_eq!((d.next_attempt_at.unwrap() - t0()).num_seconds(), 120);
        let mut d = delivery();
        d.record(&asking_to_wait(1), t0(), false);
        assert_eq!((d.next_attempt_at.unwrap() - t0()).num_seconds(), 5, "never sooner than the schedule");
    }
}
