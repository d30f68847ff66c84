//! Which channels (providers) serve which capability, in order of preference, and which are
//! cooling down after refusing their credentials or quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use genrelay_core::Capability;
use genrelay_core::ports::Provider;

#[derive(Clone, Default)]
pub struct ProviderRegistry {
    by_capability: HashMap<Capability, Vec<Arc<dyn Provider>>>,
    /// Channel name → until when it is skipped. Kept per process: a fresh instance tries the
    /// channel again, and is refused again, at the cost of one call.
    cooldowns: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

impl ProviderRegistry {
    /// A registry that sends every capability to `provider`.
    pub fn all_to(provider: Arc<dyn Provider>) -> Self {
        let by_capability = Capability::ALL.iter().copied().map(|c| (c, vec![provider.clone()])).collect();
        Self { by_capability, cooldowns: Arc::default() }
    }

    /// The channels, in order of preference, for the capabilities they serve; `fallback` for the
    /// capabilities none serves.
    pub fn with_channels(
        fallback: Arc<dyn Provider>,
        channels: impl IntoIterator<Item = (Vec<Capability>, Arc<dyn Provider>)>,
    ) -> Self {
        let mut by_capability: HashMap<Capability, Vec<Arc<dyn Provider>>> = HashMap::new();
        for (capabilities, provider) in channels {
            for capability in capabilities {
                by_capability.entry(capability).or_default().push(provider.clone());
            }
        }
        for capability in Capability::ALL {
            by_capability.entry(*capability).or_insert_with(|| vec![fallback.clone()]);
        }
        Self { by_capability, cooldowns: Arc::default() }
    }

    /// The channels to try for `capability` at `now`, best first, skipping those cooling down.
    pub fn candidates(&self, capability: Capability, now: DateTime<Utc>) -> Vec<Arc<dyn Provider>> {
        let cooldowns = self.cooldowns.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.by_capability
            .get(&capability)
            .into_iter()
            .flatten()
            .filter(|p| cooldowns.get(p.name()).is_none_or(|until| *until <= now))
            .cloned()
            .collect()
    }

    /// Skips a channel until `until` (it refused its credentials or quota).
    pub fn cool_down(&self, name: &str, until: DateTime<Utc>) {
        self.cooldowns.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(name.to_owned(), until);
    }

    /// The provider a job was handed to, by the channel name stored on the job.
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.by_capability.values().flatten().find(|p| p.name() == name)
    }
}
