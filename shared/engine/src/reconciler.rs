//! The reconciler: jobs left `queued` (a lost or failed enqueue, a crashed worker) are
//! dispatched again, or expire once past their deadline.

use genrelay_core::Result;

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
            } else {
                self.dispatch(&job).await;
                report.redispatched += 1;
            }
        }
        Ok(report)
    }
}
