//! What operators change at run time, read again by every instance at most [`REFRESH`] after it
//! changed, so a change takes effect everywhere without a restart or redeploy: the AI config
//! (see `ai_config`) and, when the engine has a channel source, the channels.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use genrelay_core::Result;
use genrelay_core::ports::{ChannelSet, ChannelSource};

use crate::{ChannelRegistry, Engine};

/// How long an instance uses what it read before reading it again.
pub const REFRESH: Duration = Duration::from_secs(60);

/// The channels in force, and the revision of their source they were built from.
pub(crate) struct LiveChannels {
    registry: Arc<ChannelRegistry>,
    revision: Option<String>,
    read_at: Option<DateTime<Utc>>,
}

impl LiveChannels {
    /// Channels that never change (no source).
    pub(crate) fn fixed(registry: ChannelRegistry) -> Self {
        Self { registry: Arc::new(registry), revision: None, read_at: None }
    }
}

impl Engine {
    /// The same engine reading its channels from `source` (the stored providers document),
    /// again within [`REFRESH`] of a change. Call [`Engine::reload_channels`] once before
    /// serving, to fail fast on channels that cannot be built.
    pub fn with_channel_source(mut self, source: Arc<dyn ChannelSource>) -> Self {
        self.channel_source = Some(source);
        self
    }

    /// The channels in force.
    pub(crate) fn channels(&self) -> Arc<ChannelRegistry> {
        self.channels.read().unwrap_or_else(|poisoned| poisoned.into_inner()).registry.clone()
    }

    /// Reads the AI config and the channels again if this instance's copy is older than
    /// [`REFRESH`]. What cannot be read is kept as it was (logged) and tried again later.
    pub async fn refresh(&self) {
        let now = self.deps.clock.now();
        let stale = |read_at: Option<DateTime<Utc>>| read_at.is_none_or(|at| now - at >= crate::span(REFRESH));
        if stale(self.live_settings().read_at) {
            match self.ai_config().await {
                Ok(config) => self.apply(&config),
                Err(error) => {
                    tracing::warn!(error = %error.chain(), "the AI config could not be read; keeping the settings in force");
                    self.live.write().unwrap_or_else(|poisoned| poisoned.into_inner()).read_at = Some(now);
                }
            }
        }
        let read_at = self.channels.read().unwrap_or_else(|poisoned| poisoned.into_inner()).read_at;
        if self.channel_source.is_some()
            && stale(read_at)
            && let Err(error) = self.reload_channels().await
        {
            tracing::warn!(error = %error.chain(), "the channels could not be read; keeping the channels in force");
            self.channels.write().unwrap_or_else(|poisoned| poisoned.into_inner()).read_at = Some(now);
        }
    }

    /// Reads the channels from their source now (at init, and after this instance changed
    /// them), building them again only if they changed.
    pub async fn reload_channels(&self) -> Result<()> {
        let Some(source) = &self.channel_source else {
            return Ok(());
        };
        let known = self.channels.read().unwrap_or_else(|poisoned| poisoned.into_inner()).revision.clone();
        let loaded = source.load(known.as_deref()).await?;
        self.install_channels(loaded);
        Ok(())
    }

    /// Puts channels read from the source in force (`None`: unchanged since the revision in
    /// force). Init reads them while it reads its other configuration, then installs them.
    pub fn install_channels(&self, loaded: Option<ChannelSet>) {
        let mut live = self.channels.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        live.read_at = Some(self.deps.clock.now());
        if let Some(set) = loaded {
            tracing::info!(revision = %set.revision, channels = set.channels.len(), "channels loaded");
            live.registry = Arc::new(live.registry.with_channels(set.channels));
            live.revision = Some(set.revision);
        }
    }
}
