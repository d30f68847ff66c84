//! The worker step: start one dispatched job. Safe under at-least-once delivery: only the
//! delivery that wins the conditional `queued → running` write does anything.

use std::time::Duration;

use chrono::{DateTime, Utc};

use genrelay_core::ports::{DispatchMessage, ResolvedInputs, Submission, UpstreamOperation};
use genrelay_core::spec::MaterialType;
use genrelay_core::{
    Asset, AssetKind, Attempt, AttemptOutcome, Cause, DispatchLane, Error, Job, JobStatus, Result, Retouch, Waiting,
};
use genrelay_wire::paths::asset_of_download_url;

use futures_util::StreamExt;

use crate::{CONCURRENT_CALLS, Channel, Engine, span};

impl Engine {
    /// Handles one dispatch message. `Ok` means the message is done with (acknowledge it);
    /// `Err` means a transient failure, and the message should be delivered again.
    pub async fn run_dispatch(&self, message: &DispatchMessage) -> Result<()> {
        self.refresh().await;
        let Some(job) = self.deps.jobs.get(&message.client_id, &message.job_id).await? else {
            tracing::warn!(job_id = %message.job_id, "dispatch for an unknown job dropped");
            return Ok(());
        };
        if job.status != JobStatus::Queued {
            return Ok(()); // a duplicate delivery, or the job was cancelled meanwhile
        }
        let now = self.deps.clock.now();
        if job.is_past_deadline(now) {
            self.expire(&job).await?;
            return Ok(());
        }
        let mut running = job.revise();
        running.start(now)?;
        // Until the submission is recorded, the poller treats the job as a watchdog entry.
        running.next_poll_at = Some(now + span(self.step_hold()));
        if !self.deps.jobs.replace(&job, &running).await? {
            return Ok(());
        }
        tracing::info!(job_id = %job.id, "job started");
        self.submit_upstream(&running, None).await
    }

    /// Hands a running job to the channels that serve it, best first, and records the answer:
    /// the outputs of a provider that finished at once, or the upstream task and when to poll
    /// it. What each channel's refusal means decides what happens next (see `Cause`): a busy,
    /// unreachable or full channel hands over to the next, and if none takes the job it waits,
    /// visibly and for `channel_wait` at most (counted from `waiting_since`, when it already
    /// waited); a channel that refuses its credentials or quota cools down and hands over; one
    /// that refuses the request as invalid hands over without cooling down. When no channel is
    /// left to wait for, the job fails at once with the channels' reasons. A failed or filtered
    /// generation, or a submission of unknown outcome, fails the job: it is never sent to another
    /// channel, which could pay for it twice.
    ///
    /// `job` has no `waiting` while this runs: should the step stop midway, the poller finds a
    /// submission of unknown outcome, never a job to submit again.
    pub(crate) async fn submit_upstream(&self, job: &Job, waiting_since: Option<DateTime<Utc>>) -> Result<()> {
        let now = self.deps.clock.now();
        let since = waiting_since.unwrap_or(now);
        let inputs = match self.resolve_inputs(job).await {
            Ok(inputs) => inputs,
            Err(error) => {
                self.fail(job, format!("An input could not be resolved: {error}")).await?;
                return Ok(());
            }
        };
        let mut next = job.revise();
        // An original image whose style has a Meitu preset goes to Meitu first, when a channel
        // retouches originals; every other job (and that one, once retouched) to the channels
        // of its capability.
        let retouch = match (job.retouch_preset(), inputs.images.first(), self.channels().retoucher()) {
            (Some(preset), Some(image), Some(retoucher)) => Some((preset, image.as_str(), retoucher.clone())),
            _ => None,
        };
        let channels = match &retouch {
            Some((_, _, retoucher)) => vec![retoucher.clone()],
            None => self.channels().for_job(job),
        };
        let names: Vec<&str> = channels.iter().map(Channel::name).collect();
        let cooling = match self.deps.ledger.cooling(&names, now).await {
            Ok(cooling) => cooling,
            Err(error) => {
                // Nothing was sent: the job waits and is tried again.
                tracing::warn!(job_id = %job.id, error = %error.chain(), "could not read the channels' cooldowns");
                return self.wait_for_a_channel(job, next, since, "the channels' state could not be read".into()).await;
            }
        };
        // Reasons to wait (a channel may take the job soon), and reasons no channel will.
        let (mut waits, mut refusals) = (Vec::new(), Vec::new());
        for channel in &channels {
            if let Some(reason) = cooling.get(channel.name()) {
                refusals.push(reason.clone());
                continue;
            }
            match self.take_slot(channel, job).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(job_id = %job.id, channel = channel.name(), "channel at its concurrency cap; skipped");
                    waits.push(format!("channel {} is at its concurrency cap", channel.name()));
                    continue;
                }
                Err(error) => {
                    tracing::warn!(job_id = %job.id, channel = channel.name(), error = %error.chain(), "could not take a slot");
                    waits.push(format!("channel {}: a slot could not be taken", channel.name()));
                    continue;
                }
            }
            let provider = &channel.provider;
            let started = std::time::Instant::now();
            let submitted = match retouch {
                Some((preset, image, _)) => self.send_retouch(channel, preset, image, &mut next).await,
                None => provider.submit(job, &inputs).await,
            };
            self.deps.metrics.upstream_call(
                provider.name(),
                UpstreamOperation::Submit,
                started.elapsed(),
                submitted.is_ok(),
            );
            let error = match submitted {
                Ok(submission) => {
                    let outcome = AttemptOutcome::Accepted;
                    next.attempts.push(Attempt { channel: channel.name().to_owned(), at: now, outcome });
                    return self.accepted(job, channel.name(), next, submission).await;
                }
                Err(error) => error,
            };
            self.release_slot(channel.name(), job).await;
            let reason = error.client_reason();
            let outcome = AttemptOutcome::Refused(reason.clone());
            next.attempts.push(Attempt { channel: channel.name().to_owned(), at: now, outcome });
            tracing::warn!(job_id = %job.id, channel = channel.name(), error = %error.chain(), "channel did not take the job");
            match &error {
                Error::Upstream(upstream) if upstream.cause.is_channel_fault() => {
                    self.cool_down(channel.name(), &reason).await;
                    refusals.push(reason);
                }
                Error::Upstream(upstream) if upstream.cause == Cause::RefusedAsInvalid => refusals.push(reason),
                Error::Upstream(upstream) if !upstream.cause.is_transient() => {
                    return self.end_with(job, next, reason).await;
                }
                Error::Invalid(_) => return self.end_with(job, next, reason).await,
                _ => waits.push(reason),
            }
        }
        if waits.is_empty() {
            let reason = match refusals.is_empty() {
                true => format!("No channel serves {}.", job.capability()),
                false => refusals.join("; "),
            };
            return self.end_with(job, next, reason).await;
        }
        self.wait_for_a_channel(job, next, since, waits.join("; ")).await
    }

    /// Sends the job's first input image to Meitu's retouch with its style's preset, and notes
    /// the call on `next`.
    async fn send_retouch(&self, channel: &Channel, preset: &str, image: &str, next: &mut Job) -> Result<Submission> {
        let (msg_id, poll_after) = channel.provider.retouch(preset, image).await?;
        next.retouch = Some(Retouch {
            channel: channel.name().to_owned(),
            preset: preset.to_owned(),
            msg_id: msg_id.clone(),
            sent_at: self.deps.clock.now(),
            finished_at: None,
            result: None,
        });
        Ok(Submission::Accepted { task_id: msg_id, poll_after })
    }

    /// Records that `next` waits for a channel since `since`, for `reason`, and is tried again
    /// after `poll_retry`; past `channel_wait` it fails with the reason instead.
    async fn wait_for_a_channel(&self, job: &Job, mut next: Job, since: DateTime<Utc>, reason: String) -> Result<()> {
        let now = self.deps.clock.now();
        let until = since + span(self.settings().channel_wait);
        if now >= until {
            let reason = format!("No channel took the job in {} s: {reason}", self.settings().channel_wait.as_secs());
            return self.end_with(job, next, reason).await;
        }
        next.waiting = Some(Waiting { reason, since, until });
        next.next_poll_at = Some(now + span(self.settings().poll_retry));
        next.updated_at = now;
        self.deps.jobs.replace(job, &next).await?;
        Ok(())
    }

    /// Skips a channel that refused its credentials or quota for `channel_cooldown`, for every
    /// worker. Best effort: if the cooldown cannot be written, the next job finds out again.
    pub(crate) async fn cool_down(&self, channel: &str, reason: &str) {
        let until = self.deps.clock.now() + span(self.settings().channel_cooldown);
        if let Err(error) = self.deps.ledger.cool_down(channel, until, reason).await {
            tracing::warn!(channel, error = %error.chain(), "could not record the channel's cooldown");
        }
    }

    /// Fails `next` (the job's revision with its attempts recorded) for `reason`.
    async fn end_with(&self, job: &Job, mut next: Job, reason: String) -> Result<()> {
        next.fail(reason, self.deps.clock.now())?;
        self.end(job, next).await.map(drop)
    }

    /// Takes a slot on a capped channel for the job, leased until shortly after the job's
    /// deadline (the poller ends the job by then, and releases it). Uncapped channels need none.
    async fn take_slot(&self, channel: &Channel, job: &Job) -> Result<bool> {
        let Some(limit) = channel.max_concurrent else { return Ok(true) };
        let lease_until = job.deadline_at + span(self.settings().poll_retry) * 2;
        self.deps.ledger.take_slot(channel.name(), &job.id, limit, lease_until, self.deps.clock.now()).await
    }

    /// Gives back the job's slot on a capped channel. Best effort: an unreleased slot frees
    /// itself when its lease ends.
    pub(crate) async fn release_slot(&self, channel: &str, job: &Job) {
        if self.channels().named(channel).is_none_or(|found| found.max_concurrent.is_none()) {
            return;
        }
        if let Err(error) = self.deps.ledger.release_slot(channel, &job.id).await {
            tracing::warn!(job_id = %job.id, channel, error = %error.chain(), "could not release a slot; its lease will end");
        }
    }

    /// Records the channel that took the job, and what it answered.
    /// If the job moved on meanwhile (cancelled, or submitted again by the poller's watchdog),
    /// this submission is abandoned: its slot is released and its task stopped upstream.
    async fn accepted(&self, current: &Job, channel: &str, mut next: Job, submission: Submission) -> Result<()> {
        let now = self.deps.clock.now();
        let recorded = match submission {
            Submission::Accepted { task_id, poll_after } => {
                next.await_upstream(channel, task_id, now + span(poll_after), now);
                self.deps.jobs.replace(current, &next).await
            }
            Submission::Finished(files) => {
                next.channel = Some(channel.to_owned());
                next.waiting = None;
                let recorded = self.deps.jobs.replace(current, &next).await;
                if matches!(recorded, Ok(true))
                    && let Err(error) = self.succeed(&next, files).await
                {
                    // The upstream did the work (and may have charged for it): submitting
                    // again would pay twice, so the job ends here.
                    tracing::warn!(job_id = %next.id, error = %error.chain(), "the outputs could not be stored");
                    self.fail(&next, format!("The outputs could not be stored: {}", error.client_reason())).await?;
                }
                recorded
            }
        };
        if !matches!(recorded, Ok(true)) {
            tracing::info!(job_id = %next.id, "the job moved on during its submission; abandoning it");
            if let Some(channel) = &next.channel {
                self.release_slot(channel, &next).await;
            }
            self.cancel_upstream(&next).await;
        }
        recorded.map(drop)
    }

    /// The job's inputs as URLs the provider can fetch: stored assets, named by id or by one of
    /// our download URLs, get signed URLs.
    async fn resolve_inputs(&self, job: &Job) -> Result<ResolvedInputs> {
        let inputs = &job.spec.inputs;
        let mut resolved = ResolvedInputs::default();
        for url in &inputs.image_urls {
            let url = self.resolve_url(job, url, &mut resolved).await?;
            resolved.images.push(url);
        }
        for id in &inputs.input_asset_ids {
            let asset = self.asset(&job.client_id, id).await?;
            let url = self.signed_url(&asset, &mut resolved).await?;
            match asset.kind {
                AssetKind::Image => resolved.images.push(url),
                _ => resolved.others.push(url),
            }
        }
        for url in &inputs.input_urls {
            let url = self.resolve_url(job, url, &mut resolved).await?;
            resolved.others.push(url);
        }
        for material in &inputs.materials {
            let url = match (&material.url, &material.asset_id) {
                (Some(url), _) => self.resolve_url(job, url, &mut resolved).await?,
                (None, Some(id)) => self.signed_url(&self.asset(&job.client_id, id).await?, &mut resolved).await?,
                (None, None) => continue,
            };
            match material.kind {
                MaterialType::Image => resolved.images.push(url),
                _ => resolved.others.push(url),
            }
        }
        // A retouched job runs on Meitu's retouch in place of its first image.
        if let Some(retouched) = job.retouch.as_ref().and_then(|retouch| retouch.result.as_ref()) {
            let url = self.signed_url(&self.asset(&job.client_id, retouched).await?, &mut resolved).await?;
            if let Some(first) = resolved.images.first_mut() {
                *first = url;
            }
        }
        Ok(resolved)
    }

    /// A URL the client named: one of our download URLs becomes a signed URL of the asset.
    async fn resolve_url(&self, job: &Job, url: &str, resolved: &mut ResolvedInputs) -> Result<String> {
        let own = match asset_of_download_url(url) {
            Some(id) => self.deps.assets.get(&job.client_id, &id).await?,
            None => None,
        };
        match own {
            Some(asset) => self.signed_url(&asset, resolved).await,
            None => Ok(url.to_owned()),
        }
    }

    /// A URL to fetch an asset from, noted as ours when we signed it.
    async fn signed_url(&self, asset: &Asset, resolved: &mut ResolvedInputs) -> Result<String> {
        let url = self.fetchable_url(asset).await?;
        if asset.blob_key.is_some() {
            resolved.signed.insert(url.clone());
        }
        Ok(url)
    }

    /// One pass of a queue-pulling worker (the dev server's; on Lambda, SQS pushes batches to
    /// `run_dispatch`): receive up to `max` messages, priority lane first, run them
    /// (`CONCURRENT_CALLS` at a time), acknowledge those that are done. Unacknowledged messages
    /// come back after `visibility`. Returns how many were received.
    pub async fn work_dispatch_queue(&self, max: usize, visibility: Duration) -> Result<usize> {
        let received = self.receive_dispatches(max, visibility).await?;
        let count = received.len();
        futures_util::stream::iter(received)
            .for_each_concurrent(CONCURRENT_CALLS, |dispatch| async move { self.work_dispatch(&dispatch).await })
            .await;
        Ok(count)
    }

    /// Receives up to `max` dispatch messages, priority lane first, hidden for `visibility`.
    pub async fn receive_dispatches(&self, max: usize, visibility: Duration) -> Result<Vec<ReceivedDispatch>> {
        let mut received = Vec::new();
        for lane in [DispatchLane::Priority, DispatchLane::Standard] {
            if received.len() == max {
                break;
            }
            let deliveries = self.deps.queues.for_lane(lane).receive(max - received.len(), visibility).await?;
            received.extend(deliveries.into_iter().map(|delivery| ReceivedDispatch { lane, delivery }));
        }
        Ok(received)
    }

    /// Runs one received message and acknowledges it when it is done; otherwise it comes back.
    pub async fn work_dispatch(&self, dispatch: &ReceivedDispatch) {
        let queue = self.deps.queues.for_lane(dispatch.lane);
        let acked = match self.run_dispatch(&dispatch.delivery.message).await {
            Ok(()) => queue.ack(&dispatch.delivery.receipt).await,
            Err(error) => Err(error),
        };
        if let Err(error) = acked {
            let job_id = &dispatch.delivery.message.job_id;
            tracing::warn!(job_id = %job_id, error = %error.chain(), "dispatch not done; the message will come back");
        }
    }
}

/// A dispatch message received from a lane's queue.
pub struct ReceivedDispatch {
    lane: DispatchLane,
    delivery: genrelay_core::ports::Delivery,
}
