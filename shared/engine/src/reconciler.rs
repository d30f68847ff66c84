//! The reconciler: jobs left `queued` (a lost or failed enqueue, a crashed worker) are
//! dispatched again (at most once per grace period), or expire once past their deadline.

use genrelay_core::{JobStatus, Result};

use crate::{Engine, span};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub redispatched: usize,
    pub expired: usize,
}

impl Engine {
    pub async fn reconcile(&self, limit: usize) -> Result<ReconcileReport> {
        let now = self.deps.clock.now();
        let cutoff = now - span(self.settings.queued_grace);
        let mut report = ReconcileReport::default();
        for job in self.deps.jobs.queued_before(cutoff, limit).await? {
            if job.is_past_deadline(now) {
                self.expire(&job).await?;
                report.expired += 1;
                continue;
            }
            // Re-send at most once per grace period, whatever the backlog: record the dispatch
            // first (conditionally, so a job that started meanwhile is left alone).
            if job.dispatched_at.is_some_and(|at| at > cutoff) {
                continue;
            }
            let mut redispatched = job.clone();
            redispatched.dispatched_at = Some(now);
            if self.deps.jobs.replace_if_status(&redispatched, JobStatus::Queued).await? {
                self.dispatch(&redispatched).await;
                report.redispatched += 1;
            }
        }
        Ok(report)
    }
}
