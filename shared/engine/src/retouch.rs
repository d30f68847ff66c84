//! Meitu's retouch before a job's own capability (seed 000's `enable_in_workflow`): an original
//! whose style has a Meitu preset is sent to the channel that retouches originals first (see
//! `submit_upstream`); its result, once polled, is kept as the client's asset and the job goes
//! on to its own channels with it, as one job whose attempts show both steps. A retouch that
//! fails fails the job with Meitu's reason: the job asked for its style's look, and running it
//! on the unretouched original would answer something else.

use genrelay_core::ports::GeneratedFile;
use genrelay_core::{Job, Result, Waiting};

use crate::{Engine, span};

impl Engine {
    /// Keeps Meitu's retouched image as the client's asset, makes it the job's input (a
    /// `retouched` one now), and hands the job to the channels of its capability. The hand-over
    /// is first written as a wait for a channel, so a step that stops midway leaves a job the
    /// poller submits, never one whose submission looks interrupted.
    pub(crate) async fn retouched(&self, job: &Job, files: Vec<GeneratedFile>) -> Result<()> {
        let now = self.deps.clock.now();
        let Some(file) = files.into_iter().next() else {
            self.fail(job, "Meitu: the retouch gave no image".into()).await?;
            return Ok(());
        };
        let asset = self.ingest(job, file, now).await?;
        if let Err(error) = self.deps.assets.insert(std::slice::from_ref(&asset)).await {
            self.remove_blobs(asset.blob_key.as_slice()).await;
            return Err(error);
        }
        let mut handed_over = job.revise();
        handed_over.take_retouched(asset.id.clone(), now);
        let until = now + span(self.settings().channel_wait);
        let reason = "retouched by Meitu; to be handed to its channels".to_owned();
        handed_over.waiting = Some(Waiting { reason, since: now, until });
        handed_over.next_poll_at = Some(now);
        // An error leaves the asset: the write may have landed, and the job would then name it.
        if !self.deps.jobs.replace(job, &handed_over).await? {
            self.remove_assets(&[asset]).await;
            return Ok(());
        }
        tracing::info!(job_id = %job.id, asset_id = %asset.id, "retouched by Meitu; handing the job to its channels");
        if let Some(channel) = &job.channel {
            self.release_slot(channel, job).await;
        }
        // Claimed as the poller claims a submission, then submitted at once.
        let mut claimed = handed_over.revise();
        claimed.waiting = None;
        claimed.next_poll_at = Some(now + span(self.step_hold()));
        if !self.deps.jobs.replace(&handed_over, &claimed).await? {
            return Ok(()); // a poller took it (or it was cancelled) meanwhile
        }
        self.submit_upstream(&claimed, Some(now)).await
    }
}
