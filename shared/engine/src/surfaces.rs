//! What the other API surfaces (seeds 001 and 003) need beyond the open API's use cases: their
//! jobs listed with a total and page numbers, the client's pending queue, and a job's output by
//! file name. Their jobs are ordinary jobs, marked with the surface they came from.

use genrelay_core::ports::JobQuery;
use genrelay_core::{Asset, Capability, ClientId, Error, Job, JobId, JobStatus, Result};

use crate::Engine;

/// The most jobs of a client a surface list walks through.
const MAX_WALKED: usize = 10_000;

impl Engine {
    /// The client's jobs that `keep` selects, newest first: the total, and page `page` (from 1)
    /// of `page_size`. The walk reads the client's jobs page by page (up to 10 000), so its cost
    /// grows with the client's history: fine for these back-office lists, not for hot paths.
    pub async fn jobs_where(
        &self,
        client: &ClientId,
        keep: impl Fn(&Job) -> bool,
        page: usize,
        page_size: usize,
    ) -> Result<(usize, Vec<Job>)> {
        let mut query = JobQuery { limit: 200, ..JobQuery::default() };
        let (mut total, mut walked, mut selected) = (0, 0, Vec::new());
        let first = page.saturating_sub(1) * page_size;
        loop {
            let batch = self.deps.jobs.list(client, &query).await?;
            walked += batch.items.len();
            for job in batch.items.into_iter().filter(|job| keep(job)) {
                if total >= first && selected.len() < page_size {
                    selected.push(job);
                }
                total += 1;
            }
            match batch.next {
                Some(next) if walked < MAX_WALKED => query.cursor = Some(next),
                _ => break,
            }
        }
        Ok((total, selected))
    }

    /// How many of the client's jobs wait to start, counted up to `up_to`.
    pub async fn queued_count(&self, client: &ClientId, up_to: usize) -> Result<usize> {
        self.deps.jobs.count_with_status(client, JobStatus::Queued, up_to.clamp(1, 200)).await
    }

    /// The output of a job with the given file name.
    pub async fn output_named(&self, client: &ClientId, job: &JobId, name: &str) -> Result<Asset> {
        let job = self.job(client, job).await?;
        for id in &job.output_asset_ids {
            let asset = self.asset(client, id).await?;
            if asset.name == name {
                return Ok(asset);
            }
        }
        Err(Error::NotFound(format!("Task {} has no file {name:?}.", job.id)))
    }

    /// Whether some channel serving `capability` is not cooling down.
    pub async fn has_available_channel(&self, capability: Capability) -> Result<bool> {
        let channels = self.channels();
        let names = channels.channel_names(capability);
        let cooling = self.deps.ledger.cooling(&names, self.deps.clock.now()).await?;
        Ok(names.iter().any(|name| !cooling.contains_key(*name)))
    }
}
