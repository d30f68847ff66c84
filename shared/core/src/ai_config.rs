//! What operators tune at run time from the back office (seed 000's AI config): polling,
//! deadlines, retries and seed 003's inference presets. A field left out keeps the deployment's
//! default.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};

/// The name of the AI config's document in the store.
pub const AI_CONFIG_DOCUMENT: &str = "ai-config";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AiConfig {
    /// Seconds before an upstream is asked again after a failed poll or submission (1-300).
    #[schema(minimum = 1, maximum = 300, example = 5)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_retry_seconds: Option<u32>,
    /// Minutes an image job may take before it expires (1-1440).
    #[schema(minimum = 1, maximum = 1440, example = 15)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_deadline_minutes: Option<u32>,
    /// Minutes a video job may take before it expires (1-1440).
    #[schema(minimum = 1, maximum = 1440, example = 20)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_deadline_minutes: Option<u32>,
    /// Submissions of one job: the first, and those after an upstream lost its task (1-10).
    #[schema(minimum = 1, maximum = 10, example = 3)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_submit_attempts: Option<u32>,
    /// Seconds a job may wait while every channel is busy or unreachable (10-3600).
    #[schema(minimum = 10, maximum = 3600, example = 300)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_wait_seconds: Option<u32>,
    /// Seconds an upstream may leave polls unanswered before its task is given up and the job
    /// submitted again (10-3600).
    #[schema(minimum = 10, maximum = 3600, example = 120)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_outage_seconds: Option<u32>,
    /// Seed 003's presets: index → the body of `POST /api/v1/jobs` that index starts. Replaces
    /// the deployment's presets; each body is checked before the config is saved.
    #[schema(value_type = Option<Object>, example = json!({"1": {"capability": "image.generate", "prompt": "A product photo", "width": 1024, "height": 1024}}))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_presets: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    /// Seed 003: pending jobs of a client above which `POST /api/inference` answers 503 (1-10000).
    #[schema(minimum = 1, maximum = 10000, example = 50)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_queue_limit: Option<u32>,
}

impl AiConfig {
    /// Every value in its range; the error names the field.
    pub fn check(&self) -> Result<()> {
        let ranges = [
            ("pollRetrySeconds", self.poll_retry_seconds, 1, 300),
            ("imageDeadlineMinutes", self.image_deadline_minutes, 1, 1440),
            ("videoDeadlineMinutes", self.video_deadline_minutes, 1, 1440),
            ("maxSubmitAttempts", self.max_submit_attempts, 1, 10),
            ("channelWaitSeconds", self.channel_wait_seconds, 10, 3600),
            ("upstreamOutageSeconds", self.upstream_outage_seconds, 10, 3600),
            ("inferenceQueueLimit", self.inference_queue_limit, 1, 10000),
        ];
        for (field, value, min, max) in ranges {
            if let Some(value) = value
                && !(min..=max).contains(&value)
            {
                return Err(Error::invalid(format!("{field}: must be between {min} and {max}, got {value}")));
            }
        }
        Ok(())
    }

    /// The document stored for it.
    pub fn to_document(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the AI config serializes")
    }

    /// The AI config a stored document holds (empty when none was set).
    pub fn from_stored(stored: Option<serde_json::Value>) -> Result<Self> {
        stored.map_or_else(|| Ok(Self::default()), Self::from_document)
    }

    /// Reads a stored or submitted document; the error names what is wrong.
    pub fn from_document(document: serde_json::Value) -> Result<Self> {
        let config: Self = serde_path_to_error::deserialize(document)
            .map_err(|e| Error::invalid(format!("{}: {}", e.path(), e.inner())))?;
        config.check()?;
        Ok(config)
    }
}
