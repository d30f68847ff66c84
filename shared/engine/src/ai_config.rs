//! The AI config operators set from the back office: kept in the store, applied over the
//! deployment's settings, and read again by every instance at most a minute after it changed
//! (see `live`), so a change takes effect everywhere without a restart.

use std::time::Duration;

use genrelay_core::ai_config::AI_CONFIG_DOCUMENT;
use genrelay_core::{AiConfig, Result};

use crate::{Engine, LiveSettings, Settings};

impl Settings {
    /// These settings with what `config` sets.
    pub fn with_ai_config(&self, config: &AiConfig) -> Settings {
        let seconds = |value: Option<u32>, default: Duration| value.map_or(default, |s| Duration::from_secs(s.into()));
        let minutes =
            |value: Option<u32>, default: Duration| value.map_or(default, |m| Duration::from_secs(u64::from(m) * 60));
        Settings {
            poll_retry: seconds(config.poll_retry_seconds, self.poll_retry),
            image_timeout: minutes(config.image_deadline_minutes, self.image_timeout),
            video_timeout: minutes(config.video_deadline_minutes, self.video_timeout),
            max_submit_attempts: config.max_submit_attempts.unwrap_or(self.max_submit_attempts),
            channel_wait: seconds(config.channel_wait_seconds, self.channel_wait),
            upstream_outage: seconds(config.upstream_outage_seconds, self.upstream_outage),
            ..self.clone()
        }
    }
}

impl Engine {
    /// The AI config as stored (empty when none was set).
    pub async fn ai_config(&self) -> Result<AiConfig> {
        AiConfig::from_stored(self.deps.documents.document(AI_CONFIG_DOCUMENT).await?)
    }

    /// Puts the AI config read at init (beside the function's other configuration) in force.
    /// One that could not be read is logged, and read again when the engine next refreshes.
    pub fn install_ai_config(&self, read: Result<AiConfig>) {
        match read {
            Ok(config) => self.apply(&config),
            Err(error) => tracing::warn!(error = %error.chain(), "the AI config could not be read at init"),
        }
    }

    /// Checks and stores the AI config; this instance applies it at once, the others within
    /// [`crate::REFRESH`].
    pub async fn set_ai_config(&self, config: AiConfig, by: &str) -> Result<AiConfig> {
        config.check()?;
        let document = config.to_document();
        self.deps.documents.put_document(AI_CONFIG_DOCUMENT, &document).await?;
        tracing::info!(by, config = %document, "AI config changed");
        self.apply(&config);
        Ok(config)
    }

    /// The AI config this instance runs with (as last read).
    pub fn live_ai_config(&self) -> AiConfig {
        self.live_settings().config.clone()
    }

    pub(crate) fn apply(&self, config: &AiConfig) {
        let settings = self.base.with_ai_config(config);
        *self.live.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            LiveSettings { settings, config: config.clone(), read_at: Some(self.deps.clock.now()) };
    }

    pub(crate) fn live_settings(&self) -> std::sync::RwLockReadGuard<'_, LiveSettings> {
        self.live.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
