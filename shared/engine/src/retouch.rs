//! Meitu's retouch before a job's own capability (seed 000's `enable_in_workflow`): an original
//! whose style has a Meitu preset is sent to the channel that retouches originals first (see
//! `submit_upstream`); its result, once polled, is kept as the client's asset and the job goes
//! on to its own channels with it, as one job whose attempts show both steps. A retouch that
//! fails fails the job with Meitu's reason: the job asked for its style's look, and running it
//! on the unretouched original would answer something else.

use genrelay_core::ports::GeneratedFile;
use genrelay_core::{Cause, Job, Result, UpstreamError};

use crate::Engine;

impl Engine {
    /// Keeps Meitu's retouched image as the client's asset, makes it the job's input (a
    /// `retouched` one now), and hands the job to the channels of its capability.
    pub(crate) async fn retouched(&self, job: &Job, files: Vec<GeneratedFile>) -> Result<()> {
        let now = self.deps.clock.now();
        let Some(file) = files.into_iter().next() else {
            let error = UpstreamError::new("Meitu", Cause::Failed).detail("the retouch gave no image");
            return Err(error.into());
        };
        let asset = self.ingest(job, file, now).await?;
        if let Err(error) = self.deps.assets.insert(std::slice::from_ref(&asset)).await {
            self.remove_blobs(asset.blob_key.as_slice()).await;
            return Err(error);
        }
        let mut next = job.revise();
        next.take_retouched(asset.id.clone(), now);
        // As a worker starting a job: the poller watches it while it is handed over.
        next.next_poll_at = Some(now + crate::span(self.settings().step_lease));
        if !self.deps.jobs.replace(job, &next).await? {
            self.remove_assets(&[asset]).await;
            return Ok(());
        }
        tracing::info!(job_id = %job.id, asset_id = %asset.id, "retouched by Meitu; handing the job to its channels");
        if let Some(channel) = &job.channel {
            self.release_slot(channel, job).await;
        }
        self.submit_upstream(&next, Some(now)).await
    }
}
