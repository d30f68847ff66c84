//! The providers file: which channels (an upstream, its address and settings) serve which
//! capabilities, in order of preference. Capabilities no channel serves use the mock provider.
//!
//! ```json
//! {"channels": [
//!   {"name": "gpu-box", "type": "inference", "baseUrl": "http://gpu-box:8001",
//!    "indexes": {"image.generate": 1, "video.generate": 2}}
//! ]}
//! ```
//!
//! On Lambda the same document lives in the table, and its credentials in SSM: wherever a
//! credential goes, the stored document holds `{"ssmParameter": "<name>"}`, resolved at init
//! (see [`ssm_references`] and [`with_secrets`]).

use std::sync::Arc;

use genrelay_core::ports::{Channel, Provider};
use genrelay_core::{Capability, Error, Result};
use genrelay_egress::Egress;
use serde::Deserialize;
use serde_json::Value;

use crate::comfyui::{ComfyConfig, ComfyUi};
use crate::evolink::{EvoLink, EvoLinkConfig};
use crate::inference::{InferenceConfig, InferenceServer};
use crate::jimeng::{Jimeng, JimengConfig};
use crate::meitu::{Meitu, MeituConfig};
use crate::runninghub::{RunningHub, RunningHubConfig};
use crate::seedance::{Seedance, SeedanceConfig};
use crate::yunxiu::{Yunxiu, YunxiuConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    pub channels: Vec<ChannelConfig>,
    /// Counts the back office's changes (credentials included), so every instance sees that
    /// the channels changed.
    #[serde(default)]
    pub revision: u64,
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
    /// The video durations (seconds) the channel's model takes, e.g. `[5, 10, 12]`; a job
    /// asking for another goes to a channel that takes it, or is refused at creation.
    #[serde(default)]
    pub video_durations: Option<Vec<u32>>,
    /// A disabled channel takes no new jobs but finishes those it has (default: enabled).
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(flatten)]
    pub upstream: UpstreamConfig,
}

fn enabled() -> bool {
    true
}

/// The `type`s of upstream a channel may have.
pub const UPSTREAM_TYPES: [&str; 8] =
    ["comfyui", "runninghub", "jimeng", "meitu", "yunxiu", "evolink", "seedance", "inference"];

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
    /// Meitu's Yunxiu retouching (seed 000's Meitu config).
    Yunxiu(YunxiuConfig),
}

impl ProvidersConfig {
    /// A providers file's JSON, unchecked (see [`Self::from_document`]). Errors name the file
    /// and the problem, never a credential.
    pub fn read(path: &std::path::Path) -> Result<Value> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("{}: cannot be read: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| Error::invalid(format!("{}: not JSON: {e}", path.display())))
    }

    /// Reads and checks a providers document; `origin` names it in errors.
    pub fn from_document(document: Value, origin: &str) -> Result<Self> {
        if let Some(name) = ssm_references(&document).into_iter().next() {
            return Err(Error::invalid(format!(
                "{origin}: the SSM parameter {name:?} is referenced, but a providers file holds the credentials themselves (references are for the stored document)"
            )));
        }
        let config: Self = serde_path_to_error::deserialize(document).map_err(|e| {
            Error::invalid(format!("{origin}: not a providers document: at {}: {}", e.path(), e.inner()))
        })?;
        let mut names = std::collections::HashSet::new();
        for channel in &config.channels {
            if !names.insert(channel.name.as_str()) {
                return Err(Error::invalid(format!("{origin}: channel {:?} is named twice", channel.name)));
            }
        }
        Ok(config)
    }

    /// The channels, in the file's order (the order of preference). `egress` fetches the input
    /// files clients name by URL, for upstreams that take files. A channel configured with what
    /// its capabilities lack (a workflow slot no parameter fills) is refused, naming it.
    pub fn channels(&self, egress: &Egress) -> Result<Vec<Channel>> {
        self.channels.iter().map(|channel| channel.channel(egress)).collect()
    }
}

impl ChannelConfig {
    /// The channel, as routing sees it; refused, naming it, when it cannot serve what it is
    /// configured for.
    pub fn channel(&self, egress: &Egress) -> Result<Channel> {
        self.check().map_err(|e| Error::invalid(format!("channel {:?}: {e}", self.name)))?;
        let (capabilities, provider) = self.build(egress);
        Ok(Channel {
            priority: self.priority,
            weight: self.weight,
            max_concurrent: self.max_concurrent,
            video_durations: self.video_durations(),
            enabled: self.enabled,
            ..Channel::new(capabilities, provider)
        })
    }

    /// What a channel's settings must satisfy beyond their types.
    fn check(&self) -> Result<()> {
        match &self.upstream {
            UpstreamConfig::Comfyui(config) => config.check(),
            _ => Ok(()),
        }
    }

    /// The video durations the channel takes: as configured, else what its upstream documents
    /// for its model (jimeng-api), else any.
    fn video_durations(&self) -> Option<Vec<u32>> {
        self.video_durations.clone().or_else(|| match &self.upstream {
            UpstreamConfig::Jimeng(config) => {
                config.models.get(&Capability::VideoGenerate).map(|model| crate::jimeng::video_durations(model))
            }
            _ => None,
        })
    }

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
            UpstreamConfig::Yunxiu(config) => {
                (config.presets.keys().copied().collect(), Arc::new(Yunxiu::new(&channel.name, config.clone())))
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

/// The fields that hold credentials. In a stored document each must be an SSM reference.
pub const CREDENTIAL_FIELDS: [&str; 5] = ["apiKey", "apiSecret", "sessionId", "accessKey", "secretKey"];
const REFERENCE: &str = "ssmParameter";

/// The SSM parameter names a document references (`{"ssmParameter": "<name>"}` objects).
pub fn ssm_references(document: &Value) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    visit(document, &mut |value| {
        if let Some(name) = reference(value) {
            names.insert(name.to_owned());
        }
    });
    names
}

/// The document with every reference replaced by its secret. A reference without a secret is
/// an error naming the parameter (never a value).
pub fn with_secrets(mut document: Value, secrets: &std::collections::HashMap<String, String>) -> Result<Value> {
    fn resolve(value: &mut Value, secrets: &std::collections::HashMap<String, String>) -> Result<()> {
        if let Some(name) = reference(value) {
            let secret =
                secrets.get(name).ok_or_else(|| Error::invalid(format!("the SSM parameter {name:?} has no value")))?;
            *value = Value::from(secret.clone());
            return Ok(());
        }
        match value {
            Value::Object(map) => map.values_mut().try_for_each(|v| resolve(v, secrets)),
            Value::Array(items) => items.iter_mut().try_for_each(|v| resolve(v, secrets)),
            _ => Ok(()),
        }
    }
    resolve(&mut document, secrets)?;
    Ok(document)
}

/// The credential fields of a document written as plain text rather than SSM references, as
/// `channel.field` (for refusing to store them).
pub fn plain_credentials(document: &Value) -> Vec<String> {
    let channels = document["channels"].as_array().into_iter().flatten();
    channels
        .flat_map(|channel| {
            let name = channel["name"].as_str().unwrap_or("?").to_owned();
            CREDENTIAL_FIELDS
                .iter()
                .filter(move |field| channel[**field].is_string())
                .map(move |field| format!("{name}.{field}"))
        })
        .collect()
}

fn reference(value: &Value) -> Option<&str> {
    let map = value.as_object().filter(|map| map.len() == 1)?;
    map.get(REFERENCE)?.as_str()
}

fn visit(value: &Value, f: &mut impl FnMut(&Value)) {
    f(value);
    match value {
        Value::Object(map) => map.values().for_each(|v| visit(v, f)),
        Value::Array(items) => items.iter().for_each(|v| visit(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!({"channels": [
            {"name": "rh", "type": "runninghub", "baseUrl": "https://www.runninghub.cn",
             "apiKey": {"ssmParameter": "/genrelay/rh-key"}, "maxConcurrent": 3,
             "workflows": {"image.generate": {"workflowId": "1"}}},
            {"name": "meitu", "type": "meitu", "baseUrl": "https://openapi-global.meitu.com",
             "accessKey": {"ssmParameter": "/genrelay/mt-ak"}, "secretKey": {"ssmParameter": "/genrelay/mt-sk"},
             "presets": {"image.upscale": {"task": "/v1/openclaw/default/488260"}}}
        ]})
    }

    #[test]
    fn references_are_found_and_resolved() {
        let names: Vec<_> = ssm_references(&stored()).into_iter().collect();
        assert_eq!(names, ["/genrelay/mt-ak", "/genrelay/mt-sk", "/genrelay/rh-key"]);
        let secrets = names.iter().map(|n| (n.clone(), format!("secret-of-{n}"))).collect();
        let resolved = with_secrets(stored(), &secrets).unwrap();
        assert_eq!(resolved["channels"][0]["apiKey"], "secret-of-/genrelay/rh-key");
        let config = ProvidersConfig::from_document(resolved, "the table").unwrap();
        assert_eq!(config.channels[0].max_concurrent, Some(3));
        assert!(!format!("{config:?}").contains("secret-of"), "credentials never print");
    }

    #[test]
    fn unresolved_references_and_plain_credentials_are_named() {
        let error = with_secrets(stored(), &Default::default()).unwrap_err();
        assert!(error.to_string().contains("/genrelay/"), "{error}");
        let error = ProvidersConfig::from_document(stored(), "providers.json").unwrap_err();
        assert!(error.to_string().contains("holds the credentials themselves"), "{error}");
        let mut plain = stored();
        plain["channels"][0]["apiKey"] = json!("0123456789abcdef");
        assert_eq!(plain_credentials(&plain), ["rh.apiKey"]);
        assert!(plain_credentials(&stored()).is_empty());
    }

    #[test]
    fn the_readme_example_is_a_valid_providers_file_with_every_upstream() {
        let readme = include_str!("../../../README.md");
        let example = readme.split("One example per upstream").nth(1).unwrap();
        let json = example.split("```json\n").nth(1).unwrap().split("```").next().unwrap();
        let config = ProvidersConfig::from_document(serde_json::from_str(json).unwrap(), "README").unwrap();
        let types: std::collections::BTreeSet<String> =
            config.channels.iter().map(|c| format!("{:?}", c.upstream).split('(').next().unwrap().to_owned()).collect();
        assert_eq!(types.len(), UPSTREAM_TYPES.len(), "one example per upstream: {types:?}");
        let routes = config.channels(&Egress::public_only()).unwrap();
        assert_eq!(
            routes.iter().map(|r| r.name()).collect::<Vec<_>>(),
            config.channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_jimeng_channel_takes_the_durations_of_its_video_model() {
        let document = |models: Value| {
            json!({"channels": [{"name": "j", "type": "jimeng", "baseUrl": "http://j:5100", "sessionId": "s",
                                 "models": models}]})
        };
        let durations = |models| {
            let config = ProvidersConfig::from_document(document(models), "f.json").unwrap();
            config.channels(&Egress::public_only()).unwrap()[0].video_durations.clone()
        };
        assert_eq!(durations(json!({"video.generate": "jimeng-video-3.5-pro"})), Some(vec![5, 10, 12]));
        assert_eq!(durations(json!({"video.generate": "jimeng-video-veo3"})), Some(vec![8]));
        assert_eq!(durations(json!({"image.generate": "jimeng-4.5"})), None);
    }

    #[test]
    fn every_upstream_type_offered_is_one_a_document_takes() {
        for upstream in UPSTREAM_TYPES {
            let error = serde_json::from_value::<UpstreamConfig>(json!({"type": upstream})).unwrap_err().to_string();
            assert!(error.contains("missing field"), "{upstream}: {error}");
        }
    }

    #[test]
    fn a_bad_document_names_the_place() {
        let error = ProvidersConfig::from_document(json!({"channels": [{"name": "x", "type": "nope"}]}), "f.json");
        assert!(error.unwrap_err().to_string().starts_with("f.json: not a providers document"));
    }
}
