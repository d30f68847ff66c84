//! The dispatch queue: at-least-once messages that start jobs.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{ClientId, JobId};

/// The message that asks a worker to start a job. It carries ids, never the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchMessage {
    pub job_id: JobId,
    pub client_id: ClientId,
}

/// One received message; `receipt` acknowledges it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: DispatchMessage,
    pub receipt: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
}

/// An at-least-once queue: a received message that is not acknowledged within its visibility
/// timeout is delivered again; after too many receives it moves to a dead-letter queue.
#[async_trait]
pub trait DispatchQueue: Send + Sync {
    async fn send(&self, message: &DispatchMessage) -> Result<()>;

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>>;

    async fn ack(&self, receipt: &str) -> Result<()>;
}
