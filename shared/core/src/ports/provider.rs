//! Upstream generators as the engine drives them, and routing's view of a channel.

use std::time::Duration;

use async_trait::async_trait;

use super::blobs::{ByteStream, stream_of};
use crate::capability::Capability;
use crate::error::Result;
use crate::job::Job;

/// A file a provider produced, read (streamed) when the engine ingests it.
pub struct GeneratedFile {
    pub name: String,
    /// The type the provider declared; the bytes decide when they are recognisable.
    pub content_type: Option<String>,
    pub body: ByteStream,
}

impl GeneratedFile {
    pub fn from_bytes(name: impl Into<String>, content_type: &str, bytes: Vec<u8>) -> Self {
        Self { name: name.into(), content_type: Some(content_type.to_owned()), body: stream_of(bytes) }
    }
}

impl std::fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedFile").field("name", &self.name).field("content_type", &self.content_type).finish()
    }
}

/// What happened when a job was handed to a provider.
#[derive(Debug)]
pub enum Submission {
    /// The provider answered at once.
    Finished(Vec<GeneratedFile>),
    /// The provider took the task; ask again after `poll_after`.
    Accepted { task_id: String, poll_after: Duration },
}

/// What a provider said about a task it took. A task that failed, or that the upstream lost, is
/// an `Error::Upstream` whose cause says which.
#[derive(Debug)]
pub enum PollOutcome {
    Running { progress: u8, poll_after: Duration },
    Succeeded(Vec<GeneratedFile>),
}

/// The input files of a job, as URLs the provider can fetch or hand on.
#[derive(Debug, Clone, Default)]
pub struct ResolvedInputs {
    pub images: Vec<String>,
    pub others: Vec<String>,
    /// The URLs genrelay signed for files it stores. Every other URL was named by the client, and
    /// a provider that fetches one itself goes through the egress (SSRF) guard.
    pub signed: std::collections::HashSet<String>,
}

impl ResolvedInputs {
    pub fn is_signed(&self, url: &str) -> bool {
        self.signed.contains(url)
    }
}

/// A channel as routing sees it.
#[derive(Clone)]
pub struct Channel {
    pub provider: std::sync::Arc<dyn Provider>,
    pub capabilities: Vec<Capability>,
    /// Higher is tried first (default 0).
    pub priority: i64,
    /// The channel's share of its priority's jobs, when any channel of that priority has one.
    pub weight: Option<u32>,
    /// Jobs the channel runs at once; `None` is unlimited.
    pub max_concurrent: Option<u32>,
    /// The video durations (seconds) the channel's model takes; `None` takes any.
    pub video_durations: Option<Vec<u32>>,
    /// A disabled channel takes no new jobs, but still polls and cancels the jobs it has.
    pub enabled: bool,
}

impl Channel {
    /// A channel with the default priority, no weight, no cap and no limits.
    pub fn new(capabilities: Vec<Capability>, provider: std::sync::Arc<dyn Provider>) -> Self {
        Self {
            provider,
            capabilities,
            priority: 0,
            weight: None,
            max_concurrent: None,
            video_durations: None,
            enabled: true,
        }
    }

    pub fn name(&self) -> &str {
        self.provider.name()
    }

    /// Whether the channel can run a job of `spec` (its capability, and the values it takes).
    pub fn accepts(&self, spec: &crate::JobSpec) -> bool {
        let duration_fits = match (&spec.params, &self.video_durations) {
            (crate::spec::Params::VideoGenerate(settings), Some(durations)) => durations.contains(&settings.duration),
            _ => true,
        };
        self.capabilities.contains(&spec.capability) && duration_fits
    }
}

/// An upstream generator (or the built-in mock).
#[async_trait]
pub trait Provider: Send + Sync {
    /// The channel name stored on jobs it takes.
    fn name(&self) -> &str;

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission>;

    async fn poll(&self, job: &Job) -> Result<PollOutcome>;

    /// Stops the job's upstream task, where the upstream can (the job was cancelled or expired).
    /// Upstreams without a cancel do nothing.
    async fn cancel(&self, _job: &Job) -> Result<()> {
        Ok(())
    }

    /// How long one call to the upstream may take at most, when that is longer than usual (a
    /// generation answered synchronously): a step holds its job at least that long, so it is
    /// never taken over while its call still runs.
    fn longest_call(&self) -> Option<std::time::Duration> {
        None
    }

    /// Whether the channel retouches a job's original before the job's own capability runs
    /// (Meitu's `enable_in_workflow`).
    fn retouches_originals(&self) -> bool {
        false
    }

    /// Sends a retouch of `image` with the preset `preset`: the task id, polled with `poll` like
    /// any task, and when to ask first. Upstreams that do not retouch refuse.
    async fn retouch(&self, _preset: &str, _image: &str) -> Result<(String, Duration)> {
        Err(crate::Error::invalid(format!("channel {:?} does not retouch images", self.name())))
    }

    /// Reaches the upstream with the channel's credentials, asking something cheap that needs
    /// them, for an operator testing the channel. An upstream that cannot be reached is an
    /// error; one that answers, whatever it says, is a [`ProbeAnswer`]. Providers with nothing
    /// to ask refuse.
    async fn probe(&self) -> Result<ProbeAnswer> {
        Err(crate::Error::invalid(format!("channel {:?} has no connection test", self.name())))
    }
}

/// What an upstream answered a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswer {
    /// Whether the upstream accepted the request and its credentials.
    pub accepted: bool,
    /// The HTTP status it answered with, if it speaks HTTP.
    pub status: Option<u16>,
    /// What it said, shortened, with the channel's credentials blanked out.
    pub answer: String,
}
