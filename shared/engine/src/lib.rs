//! The engine: genrelay's use cases, written once against the ports of `genrelay-core`. The
//! HTTP surfaces call its job and asset use cases; Lambda event handlers and the dev server's
//! background loops call its worker step, poller step and reconciler.

mod ai_config;
mod assets;
mod channels;
mod jobs;
mod live;
mod operators;
mod outputs;
mod poller;
mod reconciler;
mod retouch;
mod styles;
mod surfaces;
mod uploads;
mod webhooks;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use genrelay_core::DispatchLane;
use genrelay_core::ports::{
    AssetStore, BlobStore, ChannelLedger, Clock, ConfigDocuments, DeliveryScheduler, DispatchQueue, IdGenerator,
    JobStore, Metrics, WebhookSender, WebhookStore,
};

pub use assets::{NewFile, UrlAsset};
pub use channels::ChannelRegistry;
pub use genrelay_core::ports::Channel;
pub use jobs::{IdempotentRequest, Submitted};
pub use live::REFRESH;
pub use operators::{ChannelState, JobRecord, Retried};
pub use poller::PollReport;
pub use reconciler::ReconcileReport;
pub use uploads::{NewUpload, UploadTicket};
pub use webhooks::OVERDUE;
pub use worker::ReceivedDispatch;

/// The adapters the engine works through.
#[derive(Clone)]
pub struct Deps {
    pub jobs: Arc<dyn JobStore>,
    pub assets: Arc<dyn AssetStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queues: DispatchQueues,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub metrics: Arc<dyn Metrics>,
    /// The channels and the capabilities each serves.
    pub channels: ChannelRegistry,
    /// Concurrency slots and cooldowns of the channels, shared by every worker.
    pub ledger: Arc<dyn ChannelLedger>,
    pub webhooks: Webhooks,
    /// The configuration operators change at run time (the AI config).
    pub documents: Arc<dyn ConfigDocuments>,
}

/// What webhook delivery works through.
#[derive(Clone)]
pub struct Webhooks {
    pub store: Arc<dyn WebhookStore>,
    pub sender: Arc<dyn WebhookSender>,
    pub scheduler: Arc<dyn DeliveryScheduler>,
}

/// The dispatch queue of each lane.
#[derive(Clone)]
pub struct DispatchQueues {
    pub priority: Arc<dyn DispatchQueue>,
    pub standard: Arc<dyn DispatchQueue>,
}

impl DispatchQueues {
    pub fn for_lane(&self, lane: DispatchLane) -> &Arc<dyn DispatchQueue> {
        match lane {
            DispatchLane::Priority => &self.priority,
            DispatchLane::Standard => &self.standard,
        }
    }
}

/// How many jobs one worker or poller step hands to upstreams at once.
pub const CONCURRENT_CALLS: usize = 16;

/// Timings of the job lifecycle.
#[derive(Debug, Clone)]
pub struct Settings {
    /// An image job not finished this long after it was created expires.
    pub image_timeout: Duration,
    /// A video job not finished this long after it was created expires.
    pub video_timeout: Duration,
    /// A job still queued this long after it was created is dispatched again.
    pub queued_grace: Duration,
    /// How long one worker or poller step may hold a job (a submission, a poll and its ingest):
    /// longer than the longest synchronous upstream call. A job whose submission was never
    /// recorded by then (its worker stopped) fails as of unknown outcome, never sent twice.
    pub step_lease: Duration,
    /// Lifetime of signed download URLs handed to clients and upstreams.
    pub presign_ttl: Duration,
    /// How long an Idempotency-Key is remembered.
    pub idempotency_ttl: Duration,
    /// Delay before asking a provider again after a failed poll or submission.
    pub poll_retry: Duration,
    /// Submissions of one job: the first, and those after an upstream lost or dropped its task.
    pub max_submit_attempts: u32,
    /// How long a job may wait for a channel while every channel is busy or unreachable (its
    /// `waiting` says why and until when); then it fails with the reason.
    pub channel_wait: Duration,
    /// How long the upstream running a job's task may go without answering a poll; then the
    /// task is given up on and the job submitted again (within `max_submit_attempts`).
    pub upstream_outage: Duration,
    /// The largest output file ingested; a larger one fails the ingest.
    pub max_output_bytes: u64,
    /// How long a channel that refused its credentials or quota is skipped.
    pub channel_cooldown: Duration,
    /// The most unfinished jobs (queued or running) a client may have; a create past it is
    /// refused as over capacity. `None`: no limit, and nothing counted (a create then reads
    /// nothing); counting reads at most this many index entries per status.
    pub max_unfinished_per_client: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            image_timeout: Duration::from_secs(15 * 60),
            video_timeout: Duration::from_secs(20 * 60),
            queued_grace: Duration::from_secs(60),
            step_lease: Duration::from_secs(16 * 60),
            presign_ttl: Duration::from_secs(15 * 60),
            idempotency_ttl: Duration::from_secs(genrelay_core::idempotency::IDEMPOTENCY_TTL_HOURS as u64 * 60 * 60),
            poll_retry: Duration::from_secs(5),
            max_submit_attempts: 3,
            channel_wait: Duration::from_secs(5 * 60),
            upstream_outage: Duration::from_secs(2 * 60),
            max_output_bytes: 4 * 1024 * 1024 * 1024,
            channel_cooldown: Duration::from_secs(5 * 60),
            max_unfinished_per_client: None,
        }
    }
}

pub struct Engine {
    deps: Deps,
    /// The deployment's settings; the AI config operators set applies over them.
    base: Settings,
    live: std::sync::RwLock<LiveSettings>,
    /// Where the channels are read again from, when operators may change them.
    channel_source: Option<Arc<dyn genrelay_core::ports::ChannelSource>>,
    channels: std::sync::RwLock<live::LiveChannels>,
}

/// The settings in force, and when the AI config was last read for them.
struct LiveSettings {
    settings: Settings,
    config: genrelay_core::AiConfig,
    read_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Settings {
    /// How long a job of `capability` may take before it expires.
    pub fn timeout_for(&self, capability: genrelay_core::Capability) -> Duration {
        match capability.output_kind() {
            genrelay_core::AssetKind::Video => self.video_timeout,
            _ => self.image_timeout,
        }
    }
}

impl Engine {
    pub fn new(deps: Deps, settings: Settings) -> Self {
        let live = LiveSettings { settings: settings.clone(), config: Default::default(), read_at: None };
        let channels = live::LiveChannels::fixed(deps.channels.clone());
        Self {
            deps,
            base: settings,
            live: std::sync::RwLock::new(live),
            channel_source: None,
            channels: std::sync::RwLock::new(channels),
        }
    }

    /// The same engine with other providers (benchmarks, tools).
    pub fn with_providers(mut self, providers: ChannelRegistry) -> Self {
        self.channels = std::sync::RwLock::new(live::LiveChannels::fixed(providers.clone()));
        self.deps.channels = providers;
        self
    }

    /// The capabilities some channel serves here (all of them while the mock provider is on).
    pub fn served_capabilities(&self) -> Vec<genrelay_core::Capability> {
        let channels = self.channels();
        genrelay_core::Capability::ALL.iter().copied().filter(|c| channels.serves(*c)).collect()
    }

    /// The settings in force: the deployment's, with the AI config applied.
    pub fn settings(&self) -> Settings {
        self.live_settings().settings.clone()
    }

    /// How long a step holds the job it claims: `step_lease`, or a minute past the longest call
    /// a channel may make when that is longer (jimeng-api's sync mode), so a step is never taken
    /// over while its call still runs.
    pub(crate) fn step_hold(&self) -> std::time::Duration {
        let longest = self.channels().longest_call().map(|call| call + std::time::Duration::from_secs(60));
        self.settings().step_lease.max(longest.unwrap_or_default())
    }
}

/// `std::time::Duration` as a `chrono` span, for date arithmetic.
fn span(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
