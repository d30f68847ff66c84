//! The poller step: ask providers about running jobs whose next poll is due, then reschedule,
//! or finish the job, or expire it past its deadline.

use genrelay_core::ports::{PollOutcome, UpstreamOperation};
use genrelay_core::{Attempt, AttemptOutcome, Cause, Error, Job, Result, Waiting};

use futures_util::StreamExt;

use crate::{CONCURRENT_CALLS, Engine, span};

/// What one poller step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub polled: usize,
    pub finished: usize,
}

impl Engine {
    /// Polls up to `limit` due jobs, `CONCURRENT_CALLS` at a time, so one slow upstream (or a
    /// long synchronous submission) does not hold up the others.
    pub async fn poll_due(&self, limit: usize) -> Result<PollReport> {
        self.refresh().await;
        let due = self.due_polls(limit).await?;
        let polled = due.len();
        let finished = futures_util::stream::iter(due)
            .map(|job| async move { self.poll_job(&job).await })
            .buffer_unordered(CONCURRENT_CALLS)
            .filter(|ended| std::future::ready(*ended))
            .count()
            .await;
        Ok(PollReport { polled, finished })
    }

    /// Up to `limit` running jobs whose next poll is due, soonest first.
    pub async fn due_polls(&self, limit: usize) -> Result<Vec<Job>> {
        self.deps.jobs.due_polls(self.deps.clock.now(), limit).await
    }

    /// One poller step on one due job (claimed first, so a job listed twice is stepped once).
    /// Returns whether the job ended; a failed step is logged and the job polled again later.
    pub async fn poll_job(&self, job: &Job) -> bool {
        match self.poll_one(job).await {
            Ok(ended) => ended,
            Err(error) => {
                tracing::warn!(job_id = %job.id, error = %error.chain(), "poll failed; retrying later");
                self.postpone_poll(job, None).await;
                false
            }
        }
    }

    /// Forgets a task the upstream lost or dropped, so the next poll submits the job again
    /// (each channel in turn, as at first), up to `max_submit_attempts` submissions in all.
    /// Returns whether the job ended.
    async fn resubmit_later(&self, job: &Job, reason: String) -> Result<bool> {
        let now = self.deps.clock.now();
        let channel = job.channel.clone().unwrap_or_default();
        let mut again = job.revise();
        let outcome = AttemptOutcome::Refused(reason.clone());
        again.attempts.push(Attempt { channel: channel.clone(), at: now, outcome });
        if job.submit_attempts + 1 >= self.settings().max_submit_attempts {
            tracing::warn!(job_id = %job.id, channel, reason, "upstream task gone; no submissions left");
            again.fail(reason, now)?;
            self.end(job, again).await?;
            return Ok(true);
        }
        tracing::warn!(job_id = %job.id, channel, reason, "upstream task gone; submitting again");
        again.upstream_task_id = None;
        again.unreachable_since = None;
        again.submit_attempts += 1;
        let until = now + span(self.settings().channel_wait);
        again.waiting = Some(Waiting { reason: format!("to be submitted again: {reason}"), since: now, until });
        again.next_poll_at = Some(now);
        again.updated_at = now;
        if self.deps.jobs.replace(job, &again).await? {
            self.release_slot(&channel, job).await;
        }
        Ok(false)
    }

    /// Moves a job's next poll back after a failed step, so one sweep does not retry it at once,
    /// noting `setback` when the step met one. The step claimed the job (a later revision than
    /// `job`), so the job is read again.
    async fn postpone_poll(&self, job: &Job, setback: Option<String>) {
        let postponed = async {
            let Some(current) = self.deps.jobs.get(&job.client_id, &job.id).await? else { return Ok(false) };
            if current.status.is_terminal() {
                return Ok(false);
            }
            let mut later = current.revise();
            later.next_poll_at = Some(self.deps.clock.now() + span(self.settings().poll_retry));
            later.setback = setback.or(later.setback);
            self.deps.jobs.replace(&current, &later).await
        };
        if let Err(error) = postponed.await {
            tracing::warn!(job_id = %job.id, error = %error.chain(), "could not postpone the poll; its claim will end");
        }
    }

    /// Returns whether the job ended.
    async fn poll_one(&self, job: &Job) -> Result<bool> {
        let now = self.deps.clock.now();
        if job.is_past_deadline(now) {
            self.expire(job).await?;
            return Ok(true);
        }
        // Claim the step: only the poller whose write wins goes on, so two pollers (or a step
        // that outlasts the schedule) never submit or ingest twice. A claim to submit also
        // clears `waiting`: a step that stops midway leaves a submission of unknown outcome.
        let mut claimed = job.revise();
        claimed.next_poll_at = Some(now + span(self.step_hold()));
        let waiting_since = match (&job.upstream_task_id, claimed.waiting.take()) {
            (None, Some(waiting)) => Some(waiting.since),
            (_, waiting) => {
                claimed.waiting = waiting;
                None
            }
        };
        if !self.deps.jobs.replace(job, &claimed).await? {
            return Ok(false);
        }
        let job = &claimed;
        if job.upstream_task_id.is_none() {
            let Some(since) = waiting_since else {
                // A worker stopped during the submission: the upstream may have the task (and
                // charge for it), so it is not sent again.
                let reason = "genrelay: outcome unknown: the submission was interrupted; not sent again";
                self.fail(job, reason.into()).await?;
                return Ok(true);
            };
            self.submit_upstream(job, Some(since)).await?;
            return Ok(false);
        }
        let provider = job.channel.as_deref().and_then(|name| self.channels().by_name(name).cloned());
        let Some(provider) = provider else {
            self.fail(job, "The channel that took this job is no longer configured.".into()).await?;
            return Ok(true);
        };
        let started = std::time::Instant::now();
        let polled = provider.poll(job).await;
        self.deps.metrics.upstream_call(provider.name(), UpstreamOperation::Poll, started.elapsed(), polled.is_ok());
        let error = match polled {
            Ok(PollOutcome::Running { progress, poll_after }) => {
                let mut waiting = job.revise();
                let now = self.deps.clock.now();
                waiting.unreachable_since = None;
                waiting.report_progress(progress, now + span(poll_after), now);
                self.deps.jobs.replace(job, &waiting).await?;
                return Ok(false);
            }
            Ok(PollOutcome::Succeeded(files)) if job.is_retouching() => {
                self.retouched(job, files).await?;
                return Ok(false);
            }
            Ok(PollOutcome::Succeeded(files)) => {
                self.succeed(job, files).await?;
                return Ok(true);
            }
            Err(error) => error,
        };
        let reason = error.client_reason();
        tracing::warn!(job_id = %job.id, channel = provider.name(), error = %error.chain(), "poll did not answer the task's state");
        match &error {
            Error::Upstream(upstream) if upstream.cause.resubmits() => self.resubmit_later(job, reason).await,
            // The task ended upstream but its files could not be fetched (yet): fetch again,
            // until the deadline; never submit a finished (and paid) task again.
            Error::Upstream(upstream) if upstream.cause == Cause::ResultsUnreachable => {
                self.postpone_poll(job, Some(reason)).await;
                Ok(false)
            }
            Error::Upstream(upstream) if upstream.cause.is_channel_fault() => {
                // The task's state is unknown (it may still run, and be charged): the channel
                // cools down and the job fails with the reason, not sent again.
                self.cool_down(provider.name(), &reason).await;
                self.fail(job, reason).await?;
                Ok(true)
            }
            Error::Upstream(upstream) if !upstream.cause.is_transient() => {
                self.fail(job, reason).await?;
                Ok(true)
            }
            _ => self.unanswered(job, reason).await,
        }
    }

    /// A poll the upstream did not answer: poll again, unless it has not answered for
    /// `upstream_outage`, in which case the task is given up on and the job submitted again.
    /// The task may still run where it cannot be seen from here: it is asked to stop, so it
    /// does not run on unknown (best effort: an upstream that answers nothing may not take that
    /// either).
    async fn unanswered(&self, job: &Job, reason: String) -> Result<bool> {
        let now = self.deps.clock.now();
        let since = job.unreachable_since.unwrap_or(now);
        if now - since >= span(self.settings().upstream_outage) {
            let reason =
                format!("{reason} (no answer since {})", since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            let ended = self.resubmit_later(job, reason).await?;
            self.cancel_upstream(job).await;
            return Ok(ended);
        }
        let mut waiting = job.revise();
        waiting.unreachable_since = Some(since);
        waiting.setback = Some(reason);
        waiting.next_poll_at = Some(now + span(self.settings().poll_retry));
        waiting.updated_at = now;
        self.deps.jobs.replace(job, &waiting).await?;
        Ok(false)
    }
}
