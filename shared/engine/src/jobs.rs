//! Jobs as clients see them: submit (with idempotency), read, list, cancel.

use genrelay_core::ports::{Created, DispatchMessage, JobQuery};
use genrelay_core::{
    Asset, AssetId, AssetKind, Capability, ClientId, Error, IdempotencyKey, IdempotencyRecord, Job, JobId, JobSpec,
    JobStatus, NewJob, Page, RequestFingerprint, Result,
};

use crate::{Engine, span};

/// The client's Idempotency-Key and the fingerprint of the request it came with.
pub type IdempotentRequest = (IdempotencyKey, RequestFingerprint);

#[derive(Debug, Clone)]
pub struct Submitted {
    pub job: Job,
    /// True when an earlier request with the same Idempotency-Key and body created the job.
    pub reused: bool,
}

const CANCEL_ATTEMPTS: usize = 10;

impl Engine {
    /// Persists a new job (with its idempotency record, atomically) and asks a worker to start
    /// it. If the enqueue fails the job is still accepted: the reconciler dispatches jobs left
    /// queued.
    pub async fn submit(
        &self,
        client: &ClientId,
        new: NewJob,
        idempotency: Option<IdempotentRequest>,
    ) -> Result<Submitted> {
        // At most once a minute per instance: the channels and the deadline follow what
        // operators set.
        self.refresh().await;
        self.channels().check(&new.spec)?;
        self.check_input_assets(client, &new.spec).await?;
        if let Some(url) = &new.webhook_url {
            self.check_webhook_url(url)?;
        }
        let key = idempotency.as_ref().map(|(key, _)| key.as_str().to_owned());
        match self.check_capacity(client).await {
            // A retry of a create that was accepted (its job counts toward the limit) is still
            // answered with its job, below.
            Err(Error::OverCapacity(_)) if self.has_job_with_key(client, key.as_deref()).await? => {}
            checked => checked?,
        }
        let timeout = self.settings().timeout_for(new.spec.capability);
        let now = self.deps.clock.now();
        let job = Job::new(self.deps.ids.job_id(), client.clone(), new, key, now, now + span(timeout));
        let record = idempotency.map(|(key, fingerprint)| IdempotencyRecord {
            client_id: client.clone(),
            key,
            fingerprint,
            job_id: job.id.clone(),
            expires_at: now + span(self.settings().idempotency_ttl),
        });
        match self.deps.jobs.create(&job, record.as_ref()).await? {
            Created::Inserted => {
                self.dispatch(&job).await;
                self.deps.metrics.job_created(job.capability());
                tracing::info!(job_id = %job.id, client_id = %client, capability = %job.capability(), "job accepted");
                Ok(Submitted { job, reused: false })
            }
            Created::KeyTaken(existing) => {
                let submitted = record.expect("a key was taken only if one was given");
                if existing.fingerprint != submitted.fingerprint {
                    return Err(Error::Conflict(format!(
                        "Idempotency-Key {:?} was already used with a different request body.",
                        existing.key.as_str()
                    )));
                }
                let job = self.deps.jobs.get(client, &existing.job_id).await?.ok_or_else(|| {
                    Error::internal(format!("idempotency record points at missing job {}", existing.job_id))
                })?;
                Ok(Submitted { job, reused: true })
            }
        }
    }

    /// Whether one of the client's newest jobs was made with Idempotency-Key `key`.
    async fn has_job_with_key(&self, client: &ClientId, key: Option<&str>) -> Result<bool> {
        let Some(key) = key else { return Ok(false) };
        let newest = self.deps.jobs.list(client, &JobQuery { limit: 200, ..JobQuery::default() }).await?;
        Ok(newest.items.iter().any(|job| job.idempotency_key.as_deref() == Some(key)))
    }

    /// A client may have at most `max_unfinished_per_client` jobs queued or running (counted
    /// only when set: two counts, read concurrently). The limit is soft: the counts are read
    /// before the create is written (from an eventually consistent index on DynamoDB), so
    /// creates arriving together may pass it by a few.
    pub async fn check_capacity(&self, client: &ClientId) -> Result<()> {
        let Some(limit) = self.settings().max_unfinished_per_client else { return Ok(()) };
        let jobs = &self.deps.jobs;
        let (queued, running) = futures_util::future::try_join(
            jobs.count_with_status(client, JobStatus::Queued, limit),
            jobs.count_with_status(client, JobStatus::Running, limit),
        )
        .await?;
        if queued + running >= limit {
            return Err(Error::OverCapacity(format!(
                "The client has {limit} unfinished jobs (queued or running), the most it may have at once; try again when some have ended."
            )));
        }
        Ok(())
    }

    /// Every asset a job names must be one of the client's.
    async fn check_input_assets(&self, client: &ClientId, spec: &JobSpec) -> Result<()> {
        let images_only = spec.capability != Capability::VideoGenerate;
        for (i, id) in spec.inputs.input_asset_ids.iter().enumerate() {
            let field = format!("inputAssetIds[{i}]");
            let asset = self.input_asset(client, id, &field).await?;
            if images_only && asset.kind != AssetKind::Image {
                return Err(Error::invalid(format!("{field}: asset {id} is {}, not an image", asset.kind)));
            }
        }
        for (i, material) in spec.inputs.materials.iter().enumerate() {
            if let Some(id) = &material.asset_id {
                let field = format!("materials[{i}].assetId");
                let asset = self.input_asset(client, id, &field).await?;
                if asset.kind.as_str() != material.kind.as_str() {
                    return Err(Error::invalid(format!(
                        "{field}: asset {id} is {}, but the material is {}",
                        asset.kind, material.kind
                    )));
                }
            }
        }
        Ok(())
    }

    /// An asset a job names as input: it must be one of the client's.
    async fn input_asset(&self, client: &ClientId, id: &AssetId, field: &str) -> Result<Asset> {
        let asset = self
            .deps
            .assets
            .get(client, id)
            .await?
            .ok_or_else(|| Error::invalid(format!("{field}: asset {id} not found")))?;
        if !asset.is_ready() {
            return Err(Error::invalid(format!("{field}: asset {id} has no file yet (complete its upload first)")));
        }
        Ok(asset)
    }

    /// Sends the dispatch message of a queued job. A failure is logged, not returned: the job is
    /// safely stored and the reconciler will dispatch it again.
    pub(crate) async fn dispatch(&self, job: &Job) {
        let message = DispatchMessage { job_id: job.id.clone(), client_id: job.client_id.clone() };
        if let Err(error) = self.deps.queues.for_lane(job.lane()).send(&message).await {
            tracing::warn!(job_id = %job.id, error = %error.chain(), "dispatch failed; the reconciler will retry");
        }
    }

    pub async fn job(&self, client: &ClientId, id: &JobId) -> Result<Job> {
        self.deps.jobs.get(client, id).await?.ok_or_else(|| not_found(id))
    }

    pub async fn jobs(&self, client: &ClientId, query: &JobQuery) -> Result<Page<Job>> {
        self.deps.jobs.list(client, query).await
    }

    /// queued or running → cancelled. A job that already ended is a conflict.
    pub async fn cancel(&self, client: &ClientId, id: &JobId) -> Result<Job> {
        self.cancel_because(client, id, "Cancelled by the client.").await
    }

    /// [`Engine::cancel`], with the reason the job records.
    pub(crate) async fn cancel_because(&self, client: &ClientId, id: &JobId, reason: &str) -> Result<Job> {
        // Each lost race means the job moved (started, progressed); try again until it is
        // cancelled or has ended.
        for _ in 0..CANCEL_ATTEMPTS {
            let current = self.job(client, id).await?;
            if current.status.is_terminal() {
                return Err(Error::Conflict(format!(
                    "Job {id} is already {}; only queued or running jobs can be cancelled.",
                    current.status
                )));
            }
            let mut cancelled = current.revise();
            cancelled.cancel_because(reason, self.deps.clock.now())?;
            if self.deps.jobs.replace(&current, &cancelled).await? {
                tracing::info!(job_id = %id, client_id = %client, "job cancelled");
                self.deps.metrics.job_finished(cancelled.capability(), cancelled.status);
                if let Some(channel) = &cancelled.channel {
                    self.release_slot(channel, &cancelled).await;
                }
                self.cancel_upstream(&current).await;
                return Ok(cancelled);
            }
        }
        Err(Error::Unavailable(format!("job {id} kept changing while being cancelled")))
    }
}

fn not_found(id: &JobId) -> Error {
    Error::NotFound(format!("Job {id} not found."))
}
