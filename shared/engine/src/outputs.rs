//! Finishing a job: its files become the client's assets, then the job ends. Every terminal
//! transition is conditional: the first writer wins and a later one changes nothing. A writer
//! that loses removes the outputs it stored, so a cancelled job never leaves assets behind.

use genrelay_core::ports::GeneratedFile;
use genrelay_core::{Asset, AssetKind, AssetSource, AssetStatus, BlobKey, Job, Result};
use sha2::{Digest, Sha256};

use crate::Engine;

/// How an attempt to end a job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Applied,
    /// Another writer moved the job first (a cancel, a duplicate delivery, another poller).
    Lost,
}

impl Engine {
    pub(crate) async fn succeed(&self, job: &Job, files: Vec<GeneratedFile>) -> Result<Ending> {
        let now = self.deps.clock.now();
        let staged = files
            .into_iter()
            .map(|file| {
                let id = self.deps.ids.asset_id();
                let asset = Asset {
                    blob_key: Some(BlobKey::for_asset(AssetSource::Output, &job.client_id, &id, &file.name)),
                    id,
                    client_id: job.client_id.clone(),
                    kind: AssetKind::of_content_type(&file.content_type),
                    source: AssetSource::Output,
                    name: file.name,
                    content_type: file.content_type,
                    size: Some(file.bytes.len() as u64),
                    sha256: Some(hex::encode(Sha256::digest(&file.bytes))),
                    url: None,
                    job_id: Some(job.id.clone()),
                    status: AssetStatus::Ready,
                    created_at: now,
                };
                (asset, file.bytes)
            })
            .collect();
        let assets = self.store_files(staged).await?;
        let mut done = job.revise();
        done.succeed(assets.iter().map(|a| a.id.clone()).collect(), now)?;
        let ending = self.end(job, done).await;
        if !matches!(ending, Ok(Ending::Applied)) {
            self.remove_assets(&assets).await;
        }
        ending
    }

    pub(crate) async fn fail(&self, job: &Job, reason: String) -> Result<Ending> {
        let mut done = job.revise();
        done.fail(reason, self.deps.clock.now())?;
        self.end(job, done).await
    }

    pub(crate) async fn expire(&self, job: &Job) -> Result<Ending> {
        let mut done = job.revise();
        done.expire(self.deps.clock.now())?;
        self.end(job, done).await
    }

    async fn end(&self, before: &Job, after: Job) -> Result<Ending> {
        if self.deps.jobs.replace(before, &after).await? {
            tracing::info!(job_id = %after.id, client_id = %after.client_id, status = after.status.as_str(), "job ended");
            self.deps.metrics.job_finished(after.capability(), after.status);
            Ok(Ending::Applied)
        } else {
            Ok(Ending::Lost)
        }
    }
}
