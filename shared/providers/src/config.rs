//! The providers file: which channels (an upstream, its address and settings) serve which
//! capabilities, in order of preference. Capabilities no channel serves use the mock provider.
//!
//! ```json
//! {"channels": [
//!   {"name": "gpu-box", "type": "inference", "baseUrl": "http://gpu-box:8001",
//!    "indexes": {"image.generate": 1, "video.generate": 2}}
//! ]}
//! ```

use std::sync::Arc;

use genrelay_core::ports::Provider;
use genrelay_core::{Capability, Error, Result};
use genrelay_egress::Egress;
use serde::Deserialize;

use crate::comfyui::{ComfyConfig, ComfyUi};
use crate::evolink::{EvoLink, EvoLinkConfig};
use crate::inference::{InferenceConfig, InferenceServer};
use crate::jimeng::{Jimeng, JimengConfig};
use crate::meitu::{Meitu, MeituConfig};
use crate::runninghub::{RunningHub, RunningHubConfig};
use crate::seedance::{Seedance, SeedanceConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    pub channels: Vec<ChannelConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChannelConfig {
    /// Unique; stored on the jobs the channel takes.
    pub name: String,
    #[serde(flatten)]
    pub upstream: UpstreamConfig,
}

/// The upstream of a channel, by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum UpstreamConfig {
    /// A self-hosted server speaking seed 003's API.
    Inference(InferenceConfig),
    /// A ComfyUI server running workflow templates.
    Comfyui(ComfyConfig),
    /// EvoLink's hosted image and video models.
    Evolink(EvoLinkConfig),
    /// Seedance video generation on Volcengine Ark.
    Seedance(SeedanceConfig),
    /// RunningHub's hosted ComfyUI workflows.
    Runninghub(RunningHubConfig),
    /// Jimeng through a jimeng-api server.
    Jimeng(JimengConfig),
    /// Meitu's AIGC gateway (signed requests, presets).
    Meitu(MeituConfig),
}

/// A channel ready to take jobs: its provider and the capabilities it serves.
pub struct Channel {
    pub provider: Arc<dyn Provider>,
    pub capabilities: Vec<Capability>,
}

impl ProvidersConfig {
    /// Reads and checks a providers file. Errors name the file and the problem, never a
    /// credential.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("{}: cannot be read: {e}", path.display())))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(format!("{}: not a providers file: {e}", path.display())))?;
        let mut names = std::collections::HashSet::new();
        for channel in &config.channels {
            if !names.insert(channel.name.as_str()) {
                return Err(Error::invalid(format!("{}: channel {:?} is named twice", path.display(), channel.name)));
            }
        }
        Ok(config)
    }

    /// The channels, in the file's order (the order of preference). `egress` fetches the input
    /// files clients name by URL, for upstreams that take files.
    pub fn channels(&self, egress: &Egress) -> Vec<Channel> {
        self.channels
            .iter()
            .map(|channel| match &channel.upstream {
                UpstreamConfig::Inference(config) => Channel {
                    capabilities: config.indexes.keys().copied().collect(),
                    provider: Arc::new(InferenceServer::new(&channel.name, config.clone())),
                },
                UpstreamConfig::Jimeng(config) => Channel {
                    capabilities: config.models.keys().copied().collect(),
                    provider: Arc::new(Jimeng::new(&channel.name, config.clone())),
                },
                UpstreamConfig::Meitu(config) => Channel {
                    capabilities: config.presets.keys().copied().collect(),
                    provider: Arc::new(Meitu::new(&channel.name, config.clone())),
                },
                UpstreamConfig::Runninghub(config) => Channel {
                    capabilities: config.workflows.keys().copied().collect(),
                    provider: Arc::new(RunningHub::new(&channel.name, config.clone(), egress.clone())),
                },
                UpstreamConfig::Seedance(config) => Channel {
                    capabilities: vec![Seedance::CAPABILITY],
                    provider: Arc::new(Seedance::new(&channel.name, config.clone())),
                },
                UpstreamConfig::Evolink(config) => Channel {
                    capabilities: config.models.keys().copied().collect(),
                    provider: Arc::new(EvoLink::new(&channel.name, config.clone())),
                },
                UpstreamConfig::Comfyui(config) => Channel {
                    capabilities: config.workflows.keys().copied().collect(),
                    provider: Arc::new(ComfyUi::new(&channel.name, config.clone(), egress.clone())),
                },
            })
            .collect()
    }
}
