//! The genrelay domain: what a job and an asset are, which capabilities exist and what they
//! accept, how a job moves through its states, and the ports (traits) through which the engine
//! reaches storage, queues, clocks and upstream providers. No I/O happens here.

#[macro_use]
mod names;

pub mod ai_config;
pub mod asset;
pub mod capability;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod job;
pub mod page;
pub mod ports;
pub mod shapes;
pub mod spec;
pub mod styles;
pub mod upstream;
pub mod webhook;

pub use ai_config::AiConfig;
pub use asset::{Asset, AssetKind, AssetSource, AssetStatus, BlobKey};
pub use capability::Capability;
pub use error::{Error, Result};
pub use idempotency::{IdempotencyKey, IdempotencyRecord, RequestFingerprint};
pub use ids::{AssetId, ClientId, JobId};
pub use job::{
    Attempt, AttemptOutcome, DispatchLane, InputImageType, Job, JobLabels, JobSource, JobStatus, NewJob,
    OperatorAction, OperatorActionKind, Retouch, Waiting,
};
pub use page::{Cursor, Page};
pub use spec::JobSpec;
pub use upstream::{Cause, UpstreamError};
pub use webhook::{DeliveryAttempt, DeliveryStatus, Wakeup, WebhookDelivery, WebhookEvent};
