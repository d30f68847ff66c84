//! The poller step: ask providers about running jobs whose next poll is due, then reschedule,
//! or finish the job, or expire it past its deadline.

use genrelay_core::ports::PollOutcome;
use genrelay_core::{Attempt, Job, Result};

use crate::worker::client_reason;
use crate::{Engine, span};

/// What one poller step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub polled: usize,
    pub finished: usize,
}

impl Engine {
    pub async fn poll_due(&self, limit: usize) -> Result<PollReport> {
        let due = self.deps.jobs.due_polls(self.deps.clock.now(), limit).await?;
        let mut report = PollReport::default();
        for job in due {
            report.polled += 1;
            match self.poll_one(&job).await {
                Ok(true) => report.finished += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(job_id = %job.id, error = %error.chain(), "poll failed; retrying later");
                    self.postpone_poll(&job).await;
                }
            }
        }
        Ok(report)
    }

    /// Forgets a task that failed upstream for a passing reason, so the next poll submits the job
    /// again (counted with the other submission attempts). Returns whether the job ended.
    async fn resubmit_later(&self, job: &Job, reason: String) -> Result<bool> {
        let now = self.deps.clock.now();
        let channel = job.provider.clone().unwrap_or_default();
        tracing::warn!(job_id = %job.id, channel, reason, "upstream task failed; submitting again");
        if job.submit_attempts + 1 >= self.settings.max_submit_attempts {
            self.fail(job, reason).await?;
            return Ok(true);
        }
        let mut again = job.revise();
        again.attempts.push(Attempt { channel: channel.clone(), at: now, outcome: reason });
        again.upstream_task_id = None;
        again.submit_attempts += 1;
        again.next_poll_at = Some(now + span(self.settings.poll_retry));
        again.updated_at = now;
        if self.deps.jobs.replace(job, &again).await? {
            self.release_slot(&channel, job).await;
        }
        Ok(false)
    }

    /// Moves a job's next poll back after a failed step, so one sweep does not retry it at once.
    async fn postpone_poll(&self, job: &Job) {
        let mut later = job.revise();
        later.next_poll_at = Some(self.deps.clock.now() + span(self.settings.poll_retry));
        if let Err(error) = self.deps.jobs.replace(job, &later).await {
            tracing::warn!(job_id = %job.id, error = %error.chain(), "could not postpone the poll");
        }
    }

    /// Returns whether the job ended.
    async fn poll_one(&self, job: &Job) -> Result<bool> {
        let now = self.deps.clock.now();
        if job.is_past_deadline(now) {
            self.expire(job).await?;
            return Ok(true);
        }
        if job.upstream_task_id.is_none() {
            // The submission failed transiently, or the worker died before recording it.
            self.submit_upstream(job).await?;
            return Ok(false);
        }
        let provider = job.provider.as_deref().and_then(|name| self.deps.providers.by_name(name)).cloned();
        let Some(provider) = provider else {
            self.fail(job, "The provider that took this job is no longer configured.".into()).await?;
            return Ok(true);
        };
        let started = std::time::Instant::now();
        let polled = provider.poll(job).await;
        self.deps.metrics.upstream_call(provider.name(), "poll", started.elapsed(), polled.is_ok());
        match polled {
            Ok(PollOutcome::Running { progress, poll_after }) => {
                let mut waiting = job.revise();
                let now = self.deps.clock.now();
                waiting.report_progress(progress, now + span(poll_after), now);
                self.deps.jobs.replace(job, &waiting).await?;
                Ok(false)
            }
            Ok(PollOutcome::Succeeded(files)) => {
                self.succeed(job, files).await?;
                Ok(true)
            }
            Ok(PollOutcome::Failed(reason)) => {
                self.fail(job, reason).await?;
                Ok(true)
            }
            Ok(PollOutcome::Retry(reason)) => self.resubmit_later(job, reason).await,
            Err(error) => {
                tracing::warn!(job_id = %job.id, error = %error.chain(), "provider poll failed; retrying later");
                if matches!(error, genrelay_core::Error::Upstream(_)) {
                    self.fail(job, client_reason(&error)).await?;
                    return Ok(true);
                }
                let mut waiting = job.revise();
                waiting.next_poll_at = Some(now + span(self.settings.poll_retry));
                self.deps.jobs.replace(job, &waiting).await?;
                Ok(false)
            }
        }
    }
}
