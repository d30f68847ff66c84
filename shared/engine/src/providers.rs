//! Which channels (providers) serve which capability, and in which order a job tries them:
//! higher `priority` first; within one priority, file order, unless weights are given, in which
//! case each job draws the order, a channel coming first with a probability proportional to its
//! weight. Cooldowns and concurrency slots live in the store (`ChannelLedger`), shared by every
//! worker.

use std::collections::HashMap;
use std::sync::Arc;

use genrelay_core::ports::{Provider, Route};
use genrelay_core::{Capability, JobId};
use sha2::{Digest, Sha256};

#[derive(Clone, Default)]
pub struct ProviderRegistry {
    by_capability: HashMap<Capability, Vec<Route>>,
}

impl ProviderRegistry {
    /// A registry that sends every capability to `provider`.
    pub fn all_to(provider: Arc<dyn Provider>) -> Self {
        Self::with_channels(provider, [])
    }

    /// The channels for the capabilities they serve, in the given order; `fallback` for the
    /// capabilities none serves.
    pub fn with_channels(fallback: Arc<dyn Provider>, routes: impl IntoIterator<Item = Route>) -> Self {
        let mut by_capability: HashMap<Capability, Vec<Route>> = HashMap::new();
        for route in routes {
            for capability in &route.capabilities {
                by_capability.entry(*capability).or_default().push(route.clone());
            }
        }
        for capability in Capability::ALL {
            by_capability.entry(*capability).or_insert_with(|| vec![Route::new(vec![*capability], fallback.clone())]);
        }
        Self { by_capability }
    }

    /// The channels `job` tries for `capability`, best first. The draw among weighted channels
    /// is a function of the job id: the same job always sees the same order.
    pub fn routes(&self, capability: Capability, job: &JobId) -> Vec<Route> {
        let mut routes = self.by_capability.get(&capability).cloned().unwrap_or_default();
        // Stable: equal priorities keep the given order.
        routes.sort_by_key(|route| std::cmp::Reverse(route.priority));
        let mut ordered = Vec::with_capacity(routes.len());
        for group in routes.chunk_by(|a, b| a.priority == b.priority) {
            let mut group = group.to_vec();
            if group.iter().any(|route| route.weight.is_some()) {
                // Weighted random order (Efraimidis–Spirakis): sort by u^(1/w), largest first.
                let key = |route: &Route| match route.weight.unwrap_or(1) {
                    0 => -1.0,
                    weight => draw(job, route.name()).powf(1.0 / f64::from(weight)),
                };
                group.sort_by(|a, b| key(b).total_cmp(&key(a)));
            }
            ordered.extend(group);
        }
        ordered
    }

    /// The channels that serve `capability`, in no particular order.
    pub fn channel_names(&self, capability: Capability) -> Vec<&str> {
        self.by_capability.get(&capability).into_iter().flatten().map(Route::name).collect()
    }

    /// The route of the channel a job was handed to, by the name stored on the job.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.by_capability.values().flatten().find(|route| route.name() == name)
    }

    /// The provider a job was handed to, by the channel name stored on the job.
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.route(name).map(|route| &route.provider)
    }
}

/// A number in (0, 1) drawn from the job and the channel.
fn draw(job: &JobId, channel: &str) -> f64 {
    let digest = Sha256::new().chain_update(job.as_str()).chain_update([0]).chain_update(channel).finalize();
    let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (bits as f64 + 1.0) / (u64::MAX as f64 + 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use genrelay_core::ports::{PollOutcome, ResolvedInputs, Submission};
    use genrelay_core::{Job, Result};

    struct Named(&'static str);

    #[async_trait]
    impl Provider for Named {
        fn name(&self) -> &str {
            self.0
        }
        async fn submit(&self, _: &Job, _: &ResolvedInputs) -> Result<Submission> {
            unreachable!()
        }
        async fn poll(&self, _: &Job) -> Result<PollOutcome> {
            unreachable!()
        }
    }

    fn route(name: &'static str, priority: i64, weight: Option<u32>) -> Route {
        Route { priority, weight, ..Route::new(vec![Capability::ImageGenerate], Arc::new(Named(name))) }
    }

    fn first_choices(registry: &ProviderRegistry, jobs: usize) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for n in 0..jobs {
            let job = JobId::parse(&format!("job_{:026}", n)).unwrap();
            let first = registry.routes(Capability::ImageGenerate, &job)[0].name().to_owned();
            *counts.entry(first).or_default() += 1;
        }
        counts
    }

    #[test]
    fn priority_comes_first_and_ties_keep_their_order() {
        let registry = ProviderRegistry::with_channels(
            Arc::new(Named("mock")),
            [route("a", 0, None), route("b", 5, None), route("c", 0, None)],
        );
        let job = JobId::parse("job_00000000000000000000000001").unwrap();
        let names: Vec<_> =
            registry.routes(Capability::ImageGenerate, &job).iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(registry.routes(Capability::VideoGenerate, &job)[0].name(), "mock", "the fallback");
    }

    #[test]
    fn weights_share_the_jobs_of_a_priority() {
        let registry = ProviderRegistry::with_channels(
            Arc::new(Named("mock")),
            [
                route("heavy", 0, Some(3)),
                route("light", 0, Some(1)),
                route("off", 0, Some(0)),
                route("spare", -1, None),
            ],
        );
        let counts = first_choices(&registry, 4000);
        let heavy = counts.get("heavy").copied().unwrap_or(0) as f64 / 4000.0;
        assert!((0.70..0.80).contains(&heavy), "about 3 in 4: {counts:?}");
        assert!(!counts.contains_key("off") && !counts.contains_key("spare"), "{counts:?}");
        let job = JobId::parse("job_00000000000000000000000007").unwrap();
        let order = |r: &ProviderRegistry| {
            r.routes(Capability::ImageGenerate, &job).iter().map(|r| r.name().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(order(&registry), order(&registry), "the same job, the same order");
        assert_eq!(order(&registry).last().unwrap(), "spare");
    }
}
