//! What the channels share across workers and pollers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::JobId;

/// What the channels share across every worker and poller: the concurrency slots jobs hold on a
/// channel, and when a channel that refused its credentials or quota may be tried again.
#[async_trait]
pub trait ChannelLedger: Send + Sync {
    /// Takes one of `limit` slots of `channel` for `job`, held until `lease_until` (so a crash
    /// cannot leak it). Slots whose lease ended at or before `now` are free again. Taking a slot
    /// the job already holds renews it. Returns whether the job holds a slot.
    async fn take_slot(
        &self,
        channel: &str,
        job: &JobId,
        limit: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// The slots of `channel` held at `now` (leases not ended).
    async fn slots_in_use(&self, channel: &str, now: DateTime<Utc>) -> Result<u32>;

    /// Gives back the job's slot on the channel, if it holds one.
    async fn release_slot(&self, channel: &str, job: &JobId) -> Result<()>;

    /// Skips `channel` until `until`, for `reason` (what the upstream refused, for clients).
    async fn cool_down(&self, channel: &str, until: DateTime<Utc>, reason: &str) -> Result<()>;

    /// Of `channels`, those cooling down at `now`, with the reason each cools down.
    async fn cooling(&self, channels: &[&str], now: DateTime<Utc>)
    -> Result<std::collections::HashMap<String, String>>;
}

/// Where the channels come from when operators change them at run time (the stored providers
/// document and its credentials): every instance reads them again within a minute.
#[async_trait]
pub trait ChannelSource: Send + Sync {
    /// The channels in force now, unless their revision is still `known` (then `None`: nothing
    /// changed, nothing is built).
    async fn load(&self, known: Option<&str>) -> Result<Option<ChannelSet>>;
}

/// The channels of one revision of their source.
pub struct ChannelSet {
    /// Changes whenever a channel or one of its credentials changes.
    pub revision: String,
    pub channels: Vec<super::Channel>,
}
