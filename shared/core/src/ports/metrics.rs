//! What the engine counts and times.

use std::time::Duration;

use crate::capability::Capability;
use crate::job::JobStatus;

named_values!(
    /// What a call to an upstream channel did.
    UpstreamOperation { Submit = "submit", Poll = "poll" }
);

named_values!(
    /// How a webhook attempt ended.
    WebhookOutcome {
        Delivered = "delivered",
        /// Not delivered; another attempt is scheduled.
        Retry = "retry",
        /// Refused, or a manual attempt that did not get through.
        Failed = "failed",
        /// Not delivered, and the retries are exhausted.
        DeadLetter = "dead_letter",
    }
);

/// Operational metrics: what the engine counts and times.
pub trait Metrics: Send + Sync {
    fn job_created(&self, capability: Capability);
    fn job_finished(&self, capability: Capability, status: JobStatus);
    /// One call to an upstream channel.
    fn upstream_call(&self, channel: &str, operation: UpstreamOperation, latency: Duration, succeeded: bool);
    fn webhook_attempt(&self, outcome: WebhookOutcome);
}

/// Metrics that go nowhere (tests, and the dev server, which logs instead).
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn job_created(&self, _: Capability) {}
    fn job_finished(&self, _: Capability, _: JobStatus) {}
    fn upstream_call(&self, _: &str, _: UpstreamOperation, _: Duration, _: bool) {}
    fn webhook_attempt(&self, _: WebhookOutcome) {}
}
