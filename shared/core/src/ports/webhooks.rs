//! Webhook deliveries: where they are kept, who sends them, what wakes them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::{ClientId, JobId};
use crate::job::Job;
use crate::webhook::{SendOutcome, WebhookDelivery, WebhookEvent};

/// Webhook deliveries and the URLs receivers disabled.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Writes a new delivery unless one with its id exists (the same event of the same job was
    /// triggered before). Returns whether it was written.
    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> Result<bool>;

    /// Replaces `current` with `next` if the stored delivery is still at `current`'s revision.
    async fn replace_delivery(&self, current: &WebhookDelivery, next: &WebhookDelivery) -> Result<bool>;

    /// The delivery of `event` about a job, if it exists and belongs to `client`.
    async fn delivery(&self, client: &ClientId, job: &JobId, event: WebhookEvent) -> Result<Option<WebhookDelivery>>;

    /// A job's deliveries, oldest first.
    async fn deliveries(&self, client: &ClientId, job: &JobId) -> Result<Vec<WebhookDelivery>>;

    /// Pending deliveries whose next attempt is due at or before `now`, soonest first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<WebhookDelivery>>;

    /// Stops deliveries to `url` for `client` (the receiver answered 410), or, with `false`,
    /// allows them again.
    async fn set_url_disabled(&self, client: &ClientId, url: &str, disabled: bool) -> Result<()>;

    async fn is_url_disabled(&self, client: &ClientId, url: &str) -> Result<bool>;
}

/// Signs and sends one attempt of a webhook: the event about the job, as the job reads now, to
/// the delivery's URL (through the SSRF guard; redirects are not followed).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, delivery: &WebhookDelivery, job: &Job) -> SendOutcome;

    /// Whether a webhook URL may be registered: https, and not an internal address (checked
    /// again at every delivery, after DNS resolution); else `Invalid`, naming `field`.
    fn check_url(&self, url: &str, field: &str) -> Result<()>;
}

/// Wakes webhook delivery when a retry falls due. The dev server sweeps due deliveries itself;
/// on AWS a delayed SQS message carries the wake-up (re-sent while the wait exceeds SQS's
/// 15-minute limit).
#[async_trait]
pub trait DeliveryScheduler: Send + Sync {
    async fn schedule(&self, delivery: &WebhookDelivery, due: DateTime<Utc>) -> Result<()>;
}

/// Nothing to schedule: due deliveries are swept.
pub struct SweptDeliveries;

#[async_trait]
impl DeliveryScheduler for SweptDeliveries {
    async fn schedule(&self, _: &WebhookDelivery, _: DateTime<Utc>) -> Result<()> {
        Ok(())
    }
}
