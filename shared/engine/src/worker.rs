//! The worker step: start one dispatched job. Safe under at-least-once delivery: only the
//! delivery that wins the conditional `queued → running` write does anything.

use std::time::Duration;

use genrelay_core::asset::asset_of_download_url;
use genrelay_core::ports::{DispatchMessage, ResolvedInputs, Submission};
use genrelay_core::spec::MaterialType;
use genrelay_core::{Asset, AssetKind, Attempt, DispatchLane, Error, Job, JobStatus, Result};

use crate::{Engine, Route, span};

impl Engine {
    /// Handles one dispatch message. `Ok` means the message is done with (acknowledge it);
    /// `Err` means a transient failure, and the message should be delivered again.
    pub async fn run_dispatch(&self, message: &DispatchMessage) -> Result<()> {
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
        let Some(first) = self.available_routes(&job).await?.into_iter().next() else {
            return Err(Error::Unavailable(format!("no channel for {} is available now", job.capability())));
        };
        let mut running = job.revise();
        running.start(first.name(), now)?;
        // Until the submission is recorded, the poller treats the job as a watchdog entry.
        running.next_poll_at = Some(now + span(self.settings.submit_timeout));
        if !self.deps.jobs.replace(&job, &running).await? {
            return Ok(());
        }
        tracing::info!(job_id = %job.id, "job started");
        self.submit_upstream(&running).await
    }

    /// Hands a running job to the channels that serve its capability, best first, and records
    /// the answer: the outputs of a provider that finished at once, or the upstream task and when
    /// to poll it. A channel at its concurrency cap is skipped; one that fails transiently hands
    /// over to the next; one that refuses its credentials or quota also cools down. When every
    /// channel failed transiently, the poller tries again later (up to `max_submit_attempts`);
    /// when every channel was at its cap, it tries again later without counting an attempt. A
    /// rejection fails the job.
    pub(crate) async fn submit_upstream(&self, job: &Job) -> Result<()> {
        let inputs = match self.resolve_inputs(job).await {
            Ok(inputs) => inputs,
            Err(error) => {
                self.fail(job, format!("An input could not be resolved: {error}")).await?;
                return Ok(());
            }
        };
        let now = self.deps.clock.now();
        let mut next = job.revise();
        let mut last_error = None;
        for route in self.available_routes(job).await? {
            let provider = &route.provider;
            if !self.take_slot(&route, job).await? {
                tracing::info!(job_id = %job.id, channel = route.name(), "channel at its concurrency cap; skipped");
                continue;
            }
            let started = std::time::Instant::now();
            let submitted = provider.submit(job, &inputs).await;
            self.deps.metrics.upstream_call(provider.name(), "submit", started.elapsed(), submitted.is_ok());
            let outcome = match &submitted {
                Ok(_) => "accepted".to_owned(),
                Err(error) => client_reason(error),
            };
            next.attempts.push(Attempt { channel: provider.name().to_owned(), at: now, outcome });
            let error = match submitted {
                Ok(submission) => {
                    next.provider = Some(provider.name().to_owned());
                    return self.accepted(job, next, submission).await;
                }
                Err(error) => error,
            };
            self.release_slot(route.name(), job).await;
            match error {
                Error::ChannelFault(_) => {
                    tracing::warn!(job_id = %job.id, channel = provider.name(), error = %error.chain(), "channel refused; cooling down");
                    let until = now + span(self.settings.channel_cooldown);
                    self.deps.channels.cool_down(provider.name(), until).await?;
                }
                _ if is_transient(&error) => {
                    tracing::warn!(job_id = %job.id, channel = provider.name(), error = %error.chain(), "channel failed; trying the next");
                }
                _ => {
                    tracing::warn!(job_id = %job.id, channel = provider.name(), error = %error.chain(), "upstream rejected the job");
                    self.deps.jobs.replace(job, &next).await?;
                    self.fail(&next, client_reason(&error)).await?;
                    return Ok(());
                }
            }
            last_error = Some(error);
        }
        next.next_poll_at = Some(now + span(self.settings.poll_retry));
        next.updated_at = now;
        let Some(last_error) = last_error else {
            // Every channel was at its cap (or cooling down): wait for a slot.
            self.deps.jobs.replace(job, &next).await?;
            return Ok(());
        };
        if next.submit_attempts + 1 < self.settings.max_submit_attempts {
            next.submit_attempts += 1;
            self.deps.jobs.replace(job, &next).await?;
        } else if self.deps.jobs.replace(job, &next).await? {
            self.fail(&next, client_reason(&last_error)).await?;
        }
        Ok(())
    }

    /// The channels for the job's capability, best first, without those cooling down.
    async fn available_routes(&self, job: &Job) -> Result<Vec<Route>> {
        let routes = self.deps.providers.routes(job.capability(), &job.id);
        let names: Vec<&str> = routes.iter().map(Route::name).collect();
        let cooling = self.deps.channels.cooling(&names, self.deps.clock.now()).await?;
        Ok(routes.into_iter().filter(|route| !cooling.contains(route.name())).collect())
    }

    /// Takes a slot on a capped channel for the job, leased until shortly after the job's
    /// deadline (the poller ends the job by then, and releases it). Uncapped channels need none.
    async fn take_slot(&self, route: &Route, job: &Job) -> Result<bool> {
        let Some(limit) = route.max_concurrent else { return Ok(true) };
        let lease_until = job.deadline_at + span(self.settings.poll_retry) * 2;
        self.deps.channels.take_slot(route.name(), &job.id, limit, lease_until, self.deps.clock.now()).await
    }

    /// Gives back the job's slot on a capped channel. Best effort: an unreleased slot frees
    /// itself when its lease ends.
    pub(crate) async fn release_slot(&self, channel: &str, job: &Job) {
        if self.deps.providers.route(channel).is_none_or(|route| route.max_concurrent.is_none()) {
            return;
        }
        if let Err(error) = self.deps.channels.release_slot(channel, &job.id).await {
            tracing::warn!(job_id = %job.id, channel, error = %error.chain(), "could not release a slot; its lease will end");
        }
    }

    /// Records the channel that took the job, and what it answered.
    /// If the job moved on meanwhile (cancelled, or submitted again by the poller's watchdog),
    /// this submission is abandoned: its slot is released and its task stopped upstream.
    async fn accepted(&self, current: &Job, mut next: Job, submission: Submission) -> Result<()> {
        let now = self.deps.clock.now();
        let recorded = match submission {
            Submission::Accepted { task_id, poll_after } => {
                next.await_upstream(task_id, now + span(poll_after), now);
                self.deps.jobs.replace(current, &next).await
            }
            Submission::Finished(files) => {
                let recorded = self.deps.jobs.replace(current, &next).await;
                if matches!(recorded, Ok(true)) {
                    self.succeed(&next, files).await?;
                }
                recorded
            }
        };
        if !matches!(recorded, Ok(true)) {
            tracing::info!(job_id = %next.id, "the job moved on during its submission; abandoning it");
            if let Some(channel) = &next.provider {
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
    /// `run_dispatch`): receive up to `max` messages, priority lane first, run each, acknowledge
    /// those that are done. Unacknowledged messages come back after `visibility`. Returns how many
    /// were received.
    pub async fn work_dispatch_queue(&self, max: usize, visibility: Duration) -> Result<usize> {
        let mut received = 0;
        for lane in [DispatchLane::Priority, DispatchLane::Standard] {
            if received == max {
                break;
            }
            let queue = self.deps.queues.for_lane(lane);
            let deliveries = queue.receive(max - received, visibility).await?;
            received += deliveries.len();
            for delivery in &deliveries {
                let acked = match self.run_dispatch(&delivery.message).await {
                    Ok(()) => queue.ack(&delivery.receipt).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = acked {
                    let job_id = &delivery.message.job_id;
                    tracing::warn!(job_id = %job_id, error = %error.chain(), "dispatch not done; the message will come back");
                }
            }
        }
        Ok(received)
    }
}

fn is_transient(error: &Error) -> bool {
    matches!(error, Error::Unavailable(_) | Error::ChannelFault(_) | Error::Internal(_))
}

/// What a client may read about a provider error: the upstream's own message, or a generic
/// sentence for internal failures (their detail goes to the log only).
pub(crate) fn client_reason(error: &Error) -> String {
    match error {
        Error::Upstream(message) | Error::Invalid(message) => format!("The generator rejected the job: {message}"),
        Error::Unavailable(_) | Error::ChannelFault(_) => "The generator is temporarily unavailable.".to_owned(),
        _ => "The generator failed unexpectedly.".to_owned(),
    }
}
