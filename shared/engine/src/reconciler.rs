//! The reconciler: jobs left `queued` (a lost or failed enqueue, a crashed worker) are
//! dispatched again (at most once per grace period), or expire once past their deadline.

use genrelay_core::Result;

use crate::{Engine, span};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub redispatched: usize,
    pub expired: usize,
}

impl Engine {
    pub async fn reconcile(&self, limit: usize) -> Result<ReconcileReport> {
        self.refresh().await;
        let now = self.deps.clock.now();
        let cutoff = now - span(self.settings().queued_grace);
        let mut report = ReconcileReport::default();
        for job in self.deps.jobs.queued_before(cutoff, limit).await? {
            if job.is_past_deadline(now) {
                self.expire(&job).await?;
                report.expired += 1;
                continue;
            }
            // Re-send at most once per grace period, whatever the backlog: record the dispatch
            // first (conditionally, so a job that started meanwhile is left alone); the query
            // then skips the job until the grace period has passed again.
            let mut redispatched = job.revise();
            redispatched.dispatched_at = Some(now);
            if self.deps.jobs.replace(&job, &redispatched).await? {
                self.dispatch(&redispatched).await;
                report.redispatched += 1;
            }
        }
        Ok(report)
    }
}
