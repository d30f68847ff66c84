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

use genrelay_core::ports::{Provider, Route};
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
#[serde(rename_all = "camelCase")]
pub struct ChannelConfig {
    /// Unique; stored on the jobs the channel takes.
    pub name: String,
    /// Higher is tried first (default 0); equal priorities keep the file's order.
    #[serde(default)]
    pub priority: i64,
    /// When channels of one priority have weights, each job draws their order, a channel
    /// coming first in proportion to its weight (a missing weight counts 1, 0 is last).
    #[serde(default)]
    pub weight: Option<u32>,
    /// Jobs the channel runs at once (slots held in the store); unlimited by default.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
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
    pub fn channels(&self, egress: &Egress) -> Vec<Route> {
        self.channels
            .iter()
            .map(|channel| {
                let (capabilities, provider) = channel.build(egress);
                Route {
                    priority: channel.priority,
                    weight: channel.weight,
                    max_concurrent: channel.max_concurrent,
                    ..Route::new(capabilities, provider)
                }
            })
            .collect()
    }
}

impl ChannelConfig {
    /// The channel's provider and the capabilities it serves.
    fn build(&self, egress: &Egress) -> (Vec<Capability>, Arc<dyn Provider>) {
        let channel = self;
        match &channel.upstream {
            UpstreamConfig::Inference(config) => (
                config.indexes.keys().copied().collect(),
                Arc::new(InferenceServer::new(&channel.name, config.clone())),
            ),
            UpstreamConfig::Jimeng(config) => {
                (config.models.keys().copied().collect(), Arc::new(Jimeng::new(&channel.name, config.clone())))
            }
            UpstreamConfig::Meitu(config) => {
                (config.presets.keys().copied().collect(), Arc::new(Meitu::new(&channel.name, config.clone())))
            }
            UpstreamConfig::Runninghub(config) => (
                config.workflows.keys().copied().collect(),
                Arc::new(RunningHub::new(&channel.name, config.clone(), egress.clone())),
            ),
            UpstreamConfig::Seedance(config) => {
                (vec![Seedance::CAPABILITY], Arc::new(Seedance::new(&channel.name, config.clone())))
            }
            UpstreamConfig::Evolink(config) => {
                (config.models.keys().copied().collect(), Arc::new(EvoLink::new(&channel.name, config.clone())))
            }
            UpstreamConfig::Comfyui(config) => (
                config.workflows.keys().copied().collect(),
                Arc::new(ComfyUi::new(&channel.name, config.clone(), egress.clone())),
            ),
        }
    }
}
