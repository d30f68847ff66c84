//! What the engine counts and times.

use std::time::Duration;

use crate::capability::Capability;
use crate::job::JobStatus;

/// Operational metrics: what the engine counts and times.
pub trait Metrics: Send + Sync {
    fn job_created(&self, capability: Capability);
    fn job_finished(&self, capability: Capability, status: JobStatus);
    /// One call to an upstream provider: `operation` is `submit` or `poll`.
    fn upstream_call(&self, provider: &str, operation: &'static str, latency: Duration, succeeded: bool);
    /// One webhook attempt: `outcome` is `delivered`, `retry`, `failed` or `dead_letter` (retries
    /// exhausted).
    fn webhook_attempt(&self, outcome: &'static str);
}

/// Metrics that go nowhere (tests, and the dev server, which logs instead).
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn job_created(&self, _: Capability) {}
    fn job_finished(&self, _: Capability, _: JobStatus) {}
    fn upstream_call(&self, _: &str, _: &'static str, _: Duration, _: bool) {}
    fn webhook_attempt(&self, _: &'static str) {}
}
