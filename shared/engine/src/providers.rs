//! Which provider serves which capability.

use std::collections::HashMap;
use std::sync::Arc;

use genrelay_core::Capability;
use genrelay_core::ports::Provider;

#[derive(Clone, Default)]
pub struct ProviderRegistry {
    by_capability: HashMap<Capability, Arc<dyn Provider>>,
}

impl ProviderRegistry {
    /// A registry that sends every capability to `provider`.
    pub fn all_to(provider: Arc<dyn Provider>) -> Self {
        let by_capability = Capability::ALL.iter().copied().map(|c| (c, provider.clone())).collect();
        Self { by_capability }
    }

    pub fn with(mut self, capability: Capability, provider: Arc<dyn Provider>) -> Self {
        self.by_capability.insert(capability, provider);
        self
    }

    /// `fallback` for every capability, except those `channels` serve: the first channel that
    /// serves a capability takes it.
    pub fn with_channels(
        fallback: Arc<dyn Provider>,
        channels: impl IntoIterator<Item = (Vec<Capability>, Arc<dyn Provider>)>,
    ) -> Self {
        let mut registry = Self::all_to(fallback);
        let mut taken = std::collections::HashSet::new();
        for (capabilities, provider) in channels {
            for capability in capabilities {
                if taken.insert(capability) {
                    registry.by_capability.insert(capability, provider.clone());
                }
            }
        }
        registry
    }

    pub fn for_capability(&self, capability: Capability) -> Option<&Arc<dyn Provider>> {
        self.by_capability.get(&capability)
    }

    /// The provider a job was handed to, by the channel name stored on the job.
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.by_capability.values().find(|p| p.name() == name)
    }
}
