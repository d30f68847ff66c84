//! The built-in mock provider: real media made locally, so the whole product runs with no
//! network. A PNG of the requested size for image capabilities, a short H.264 MP4 for video;
//! the content derives from the prompt. It simulates an upstream that takes `latency` to finish
//! (reporting progress meanwhile) and fails a share `failure_rate` of jobs, chosen by a hash of
//! the job id so the choice survives restarts. A prompt containing `[mock:fail]` always fails.
//! `image.edit` with `keepSize` reads the input image's size (its own stored files through their
//! signed URLs, client URLs through the SSRF guard) and answers at that size.

mod media;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{Clock, GeneratedFile, PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::spec::{Params, UpscaleResolution};
use genrelay_core::{Cause, Job, Result, UpstreamError};
use genrelay_egress::Egress;
use sha2::{Digest, Sha256};

pub use media::{render_mp4, render_png};

/// The long side of mock videos. Frames are stored uncompressed, so previews stay small while
/// keeping the requested aspect ratio and duration.
pub const MOCK_VIDEO_LONG_SIDE: u32 = 320;
pub const FORCED_FAILURE_MARKER: &str = "[mock:fail]";
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub latency: Duration,
    /// Share of jobs that fail, 0.0-1.0.
    pub failure_rate: f64,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self { latency: Duration::from_millis(1500), failure_rate: 0.0 }
    }
}

pub struct MockProvider {
    config: MockConfig,
    clock: Arc<dyn Clock>,
    http: crate::http::SharedClient,
    egress: Egress,
}

impl MockProvider {
    pub const NAME: &'static str = "mock";

    pub fn new(config: MockConfig, clock: Arc<dyn Clock>) -> Self {
        Self { config, clock, http: crate::http::client(), egress: Egress::public_only() }
    }

    /// The same provider fetching client URLs through `egress` (the dev flag's policy).
    pub fn with_egress(self, egress: Egress) -> Self {
        Self { egress, ..self }
    }

    /// The size an output must keep: the input image's, for `image.edit` with `keepSize`.
    async fn kept_size(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Option<(u32, u32)>> {
        if job.spec.params != (Params::ImageEdit { keep_size: true }) {
            return Ok(None);
        }
        let url = inputs.images.first().ok_or_else(|| genrelay_core::Error::invalid("image.edit: no input image"))?;
        let file = crate::http::fetch_input(&self.http, &self.egress, inputs, url).await?;
        let size = imagesize::blob_size(&file.bytes).map_err(|_| {
            genrelay_core::Error::invalid("image.edit: the input is not an image whose size can be read")
        })?;
        Ok(Some((size.width as u32, size.height as u32)))
    }

    fn poll_interval(&self) -> Duration {
        (self.config.latency / 5).clamp(Duration::from_millis(10), MAX_POLL_INTERVAL)
    }

    fn should_fail(&self, job: &Job) -> bool {
        let forced = job.spec.prompt.as_deref().is_some_and(|p| p.contains(FORCED_FAILURE_MARKER));
        let digest = Sha256::digest(job.id.as_str().as_bytes());
        let draw = u16::from_be_bytes([digest[0], digest[1]]) as f64 / u16::MAX as f64;
        forced || draw < self.config.failure_rate
    }

    /// Renders the outputs (or the simulated failure) off the async threads: a large PNG or a
    /// video takes long enough to stall other requests.
    /// The end of a task: its files, or the reason of the simulated failure.
    async fn finish(&self, job: &Job, size: Option<(u32, u32)>) -> Result<Vec<GeneratedFile>> {
        if self.should_fail(job) {
            let failure = UpstreamError::new("mock", Cause::Failed).detail("a simulated generation failure");
            return Err(failure.into());
        }
        let job = job.clone();
        let file =
            tokio::task::spawn_blocking(move || render(&job, size)).await.map_err(genrelay_core::Error::internal)?;
        Ok(vec![file])
    }
}

#[async_trait]
impl Provider for MockProvider {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// The mock is in this process: it always answers.
    async fn probe(&self) -> Result<ProbeAnswer> {
        Ok(ProbeAnswer { accepted: true, status: None, answer: "the built-in mock generator answers".into() })
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let size = self.kept_size(job, inputs).await?;
        if self.config.latency.is_zero() {
            return Ok(Submission::Finished(self.finish(job, size).await?));
        }
        // The task id carries what the poll needs later: the size to keep.
        let task_id = match size {
            Some((width, height)) => format!("mock-{}-{width}x{height}", job.id),
            None => format!("mock-{}", job.id),
        };
        Ok(Submission::Accepted { task_id, poll_after: self.poll_interval() })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let started = job.started_at.unwrap_or(job.created_at);
        let elapsed = (self.clock.now() - started).to_std().unwrap_or_default();
        if elapsed < self.config.latency {
            let progress = (elapsed.as_millis() * 100 / self.config.latency.as_millis()) as u8;
            return Ok(PollOutcome::Running { progress, poll_after: self.poll_interval() });
        }
        let size = job
            .upstream_task_id
            .as_deref()
            .and_then(|task| task.rsplit_once('-'))
            .and_then(|(_, size)| size.split_once('x'))
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
        Ok(PollOutcome::Succeeded(self.finish(job, size).await?))
    }
}

/// The file a job asks for, drawn from its prompt (or its first input when it has no prompt);
/// `size` is the input's, for an edit that keeps it.
fn render(job: &Job, size: Option<(u32, u32)>) -> GeneratedFile {
    let seed = job
        .spec
        .prompt
        .clone()
        .or_else(|| job.spec.inputs.image_urls.first().cloned())
        .unwrap_or_else(|| job.id.to_string());
    let png = |width, height| {
        GeneratedFile::from_bytes(format!("{}.png", job.id), "image/png", render_png(&seed, width, height))
    };
    match &job.spec.params {
        Params::ImageGenerate(params) => png(params.width, params.height),
        Params::ImageEdit { .. } => {
            let (width, height) = size.unwrap_or((1024, 1024));
            png(width, height)
        }
        Params::ImageInpaint => png(1024, 1024),
        Params::ImageUpscale { resolution: UpscaleResolution::K2 } => png(2048, 2048),
        Params::ImageUpscale { resolution: UpscaleResolution::K4 } => png(4096, 4096),
        Params::VideoGenerate(settings) => {
            let (width, height) = preview_size(settings.dimensions());
            GeneratedFile::from_bytes(
                format!("{}.mp4", job.id),
                "video/mp4",
                render_mp4(&seed, width, height, settings.duration),
            )
        }
    }
}

/// Scales a video size down to `MOCK_VIDEO_LONG_SIDE`, keeping the ratio, with even sides.
fn preview_size((width, height): (u32, u32)) -> (u32, u32) {
    let long = width.max(height);
    let scale = |side: u32| (side * MOCK_VIDEO_LONG_SIDE / long).max(16) & !1;
    (scale(width), scale(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_keep_the_ratio_within_the_long_side() {
        assert_eq!(preview_size((1280, 720)), (320, 180));
        assert_eq!(preview_size((720, 1280)), (180, 320));
        assert_eq!(preview_size((1080, 1080)), (320, 320));
    }
}
