//! Finishing a job: its files become the client's assets, then the job ends. Every terminal
//! transition is conditional: the first writer wins and a later one changes nothing. A writer
//! that loses removes the outputs it stored, so a cancelled job never leaves assets behind.

use chrono::{DateTime, Utc};
use genrelay_core::ports::GeneratedFile;
use genrelay_core::{Asset, AssetKind, AssetSource, AssetStatus, BlobKey, Job, Result};

use crate::Engine;
use crate::assets::guess_type;

/// How an attempt to end a job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Applied,
    /// Another writer moved the job first (a cancel, a duplicate delivery, another poller).
    Lost,
}

impl Engine {
    /// Ingests the files (streamed into blob storage, one at a time, in constant memory), then
    /// ends the job `succeeded`. If a file cannot be ingested, what was stored is removed and the
    /// error returned (the poller tries again later).
    pub(crate) async fn succeed(&self, job: &Job, files: Vec<GeneratedFile>) -> Result<Ending> {
        let now = self.deps.clock.now();
        let mut assets = Vec::with_capacity(files.len());
        let mut ingested = Ok(());
        for file in files {
            match self.ingest(job, file, now).await {
                Ok(asset) => assets.push(asset),
                Err(error) => {
                    ingested = Err(error);
                    break;
                }
            }
        }
        if ingested.is_ok() {
            ingested = self.deps.assets.insert(&assets).await;
        }
        if let Err(error) = ingested {
            let keys: Vec<BlobKey> = assets.iter().filter_map(|a| a.blob_key.clone()).collect();
            self.remove_blobs(&keys).await;
            return Err(error);
        }
        let mut done = job.revise();
        done.succeed(assets.iter().map(|a| a.id.clone()).collect(), now)?;
        let ending = self.end(job, done).await;
        if !matches!(ending, Ok(Ending::Applied)) {
            self.remove_assets(&assets).await;
        }
        ending
    }

    /// Streams one output into blob storage and describes it as an asset (not yet recorded).
    pub(crate) async fn ingest(&self, job: &Job, file: GeneratedFile, now: DateTime<Utc>) -> Result<Asset> {
        let id = self.deps.ids.asset_id();
        let key = BlobKey::for_asset(AssetSource::Output, &job.client_id, &id, &file.name);
        let declared = file.content_type.or_else(|| guess_type(&file.name));
        let storage_type = declared.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
        let stored =
            self.deps.blobs.put_stream(&key, file.body, &storage_type, self.settings().max_output_bytes).await?;
        // The bytes decide when they are recognisable; otherwise what the provider said.
        let content_type = infer::get(&stored.head).map(|t| t.mime_type().to_owned()).unwrap_or(storage_type);
        Ok(Asset {
            blob_key: Some(key),
            id,
            client_id: job.client_id.clone(),
            kind: AssetKind::of_content_type(&content_type),
            source: AssetSource::Output,
            name: file.name,
            content_type,
            size: Some(stored.size),
            sha256: Some(stored.sha256),
            url: None,
            job_id: Some(job.id.clone()),
            status: AssetStatus::Ready,
            created_at: now,
        })
    }

    pub(crate) async fn fail(&self, job: &Job, reason: String) -> Result<Ending> {
        let mut done = job.revise();
        done.fail(reason, self.deps.clock.now())?;
        self.end(job, done).await
    }

    pub(crate) async fn expire(&self, job: &Job) -> Result<Ending> {
        let mut done = job.revise();
        done.expire(self.deps.clock.now())?;
        let ending = self.end(job, done).await?;
        if ending == Ending::Applied {
            self.cancel_upstream(job).await;
        }
        Ok(ending)
    }

    /// Asks the upstream to stop a job's task, if it has one: best effort (the job has ended
    /// here either way), so a failure is logged, not returned.
    pub(crate) async fn cancel_upstream(&self, job: &Job) {
        if job.upstream_task_id.is_none() {
            return;
        }
        let Some(provider) = job.channel.as_deref().and_then(|name| self.channels().by_name(name).cloned()) else {
            return;
        };
        if let Err(error) = provider.cancel(job).await {
            tracing::warn!(job_id = %job.id, channel = provider.name(), error = %error.chain(), "upstream cancel failed");
        }
    }

    pub(crate) async fn end(&self, before: &Job, after: Job) -> Result<Ending> {
        if self.deps.jobs.replace(before, &after).await? {
            tracing::info!(job_id = %after.id, client_id = %after.client_id, status = after.status.as_str(), "job ended");
            if let Some(channel) = &after.channel {
                self.release_slot(channel, &after).await;
            }
            self.deps.metrics.job_finished(after.capability(), after.status);
            Ok(Ending::Applied)
        } else {
            Ok(Ending::Lost)
        }
    }
}
