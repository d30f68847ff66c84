//! Which channels serve which capability, and in which order a job tries them:
//! higher `priority` first; within one priority, file order, unless weights are given, in which
//! case each job draws the order, a channel coming first with a probability proportional to its
//! weight. Cooldowns and concurrency slots live in the store (`ChannelLedger`), shared by every
//! worker.

use std::collections::HashMap;
use std::sync::Arc;

use genrelay_core::ports::{Channel, Provider};
use genrelay_core::{Capability, Error, Job, JobId, JobSpec, Result};
use sha2::{Digest, Sha256};

#[derive(Clone, Default)]
pub struct ChannelRegistry {
    /// The enabled channels (and the mock) that take new jobs, by capability.
    by_capability: HashMap<Capability, Vec<Channel>>,
    /// Every channel, disabled ones too (they still poll and cancel the jobs they have).
    all: Vec<Channel>,
    mock: Option<Arc<dyn Provider>>,
}

impl ChannelRegistry {
    /// A registry that sends every capability to `provider`.
    pub fn all_to(provider: Arc<dyn Provider>) -> Self {
        Self::new([], Some(provider))
    }

    /// The channels for the capabilities they serve, in the given order; `mock` (when switched
    /// on) for the capabilities no enabled channel serves. Without it, those capabilities are
    /// not served.
    pub fn new(channels: impl IntoIterator<Item = Channel>, mock: Option<Arc<dyn Provider>>) -> Self {
        let mut all: Vec<Channel> = channels.into_iter().collect();
        let mut by_capability: HashMap<Capability, Vec<Channel>> = HashMap::new();
        for channel in all.iter().filter(|channel| channel.enabled) {
            for capability in &channel.capabilities {
                by_capability.entry(*capability).or_default().push(channel.clone());
            }
        }
        if let Some(mock) = &mock {
            for capability in Capability::ALL {
                if !by_capability.contains_key(capability) {
                    let channel = Channel::new(vec![*capability], mock.clone());
                    by_capability.insert(*capability, vec![channel.clone()]);
                    all.push(channel);
                }
            }
        }
        Self { by_capability, all, mock }
    }

    /// The same mock with other channels.
    pub fn with_channels(&self, channels: Vec<Channel>) -> Self {
        Self::new(channels, self.mock.clone())
    }

    /// The capabilities some channel serves.
    pub fn serves(&self, capability: Capability) -> bool {
        self.by_capability.contains_key(&capability)
    }

    /// Refuses a job no channel can run: its capability is not served here, or no channel takes
    /// its values (a video duration the models do not offer). The message names the field.
    pub fn check(&self, spec: &JobSpec) -> Result<()> {
        let Some(channels) = self.by_capability.get(&spec.capability) else {
            return Err(Error::invalid(format!(
                "capability: {} is not served by this deployment (no channel is configured for it)",
                spec.capability
            )));
        };
        if channels.iter().any(|channel| channel.accepts(spec)) {
            return Ok(());
        }
        let mut durations: Vec<u32> =
            channels.iter().flat_map(|r| r.video_durations.iter().flatten().copied()).collect();
        durations.sort_unstable();
        durations.dedup();
        let durations: Vec<String> = durations.iter().map(u32::to_string).collect();
        Err(Error::invalid(format!(
            "settings.duration: the channels for {} take {} seconds",
            spec.capability,
            durations.join(", ")
        )))
    }

    /// The channels `job` tries, best first: those that serve its capability and take its
    /// values. The draw among weighted channels is a function of the job id: the same job always
    /// sees the same order.
    pub fn for_job(&self, job: &Job) -> Vec<Channel> {
        let mut channels: Vec<Channel> = self
            .by_capability
            .get(&job.capability())
            .into_iter()
            .flatten()
            .filter(|channel| channel.accepts(&job.spec))
            .cloned()
            .collect();
        // Stable: equal priorities keep the given order.
        channels.sort_by_key(|channel| std::cmp::Reverse(channel.priority));
        let mut ordered = Vec::with_capacity(channels.len());
        for group in channels.chunk_by(|a, b| a.priority == b.priority) {
            let mut group = group.to_vec();
            if group.iter().any(|channel| channel.weight.is_some()) {
                // Weighted random order (Efraimidis–Spirakis): sort by u^(1/w), largest first.
                let key = |channel: &Channel| match channel.weight.unwrap_or(1) {
                    0 => -1.0,
                    weight => draw(&job.id, channel.name()).powf(1.0 / f64::from(weight)),
                };
                group.sort_by(|a, b| key(b).total_cmp(&key(a)));
            }
            ordered.extend(group);
        }
        ordered
    }

    /// The channels that serve `capability`, in no particular order.
    pub fn channel_names(&self, capability: Capability) -> Vec<&str> {
        self.by_capability.get(&capability).into_iter().flatten().map(Channel::name).collect()
    }

    /// Every channel once (the mock's capabilities together), disabled ones too, highest
    /// priority first, then by name.
    pub fn channels(&self) -> Vec<Channel> {
        let mut by_name: Vec<Channel> = Vec::new();
        for channel in &self.all {
            match by_name.iter_mut().find(|known| known.name() == channel.name()) {
                Some(known) => {
                    for capability in &channel.capabilities {
                        if !known.capabilities.contains(capability) {
                            known.capabilities.push(*capability);
                        }
                    }
                }
                None => by_name.push(channel.clone()),
            }
        }
        for channel in &mut by_name {
            channel.capabilities.sort_by_key(|capability| capability.as_str());
        }
        by_name.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name().cmp(b.name())));
        by_name
    }

    /// The channel a job was handed to, by the name stored on the job.
    pub fn named(&self, name: &str) -> Option<&Channel> {
        self.all.iter().find(|channel| channel.name() == name)
    }

    /// The enabled channel that retouches originals before their jobs run (Meitu's
    /// `enable_in_workflow`), if any.
    pub fn retoucher(&self) -> Option<&Channel> {
        self.all.iter().find(|channel| channel.enabled && channel.provider.retouches_originals())
    }

    /// The longest a call of any channel may take, of those that say (see
    /// [`Provider::longest_call`]).
    pub fn longest_call(&self) -> Option<std::time::Duration> {
        self.all.iter().filter_map(|channel| channel.provider.longest_call()).max()
    }

    /// The provider a job was handed to, by the channel name stored on the job.
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.named(name).map(|channel| &channel.provider)
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

    fn channel(name: &'static str, priority: i64, weight: Option<u32>) -> Channel {
        Channel { priority, weight, ..Channel::new(vec![Capability::ImageGenerate], Arc::new(Named(name))) }
    }

    fn job(n: usize, capability: Capability) -> Job {
        use genrelay_core::spec::{ImageGenerateParams, Inputs, Params, VideoSettings};
        let params = match capability {
            Capability::VideoGenerate => Params::VideoGenerate(VideoSettings::new(None, Some(8), None).unwrap()),
            _ => Params::ImageGenerate(ImageGenerateParams::new(None, None, None, None, None).unwrap()),
        };
        let spec = JobSpec::new(capability, Some("x".into()), Inputs::default(), params).unwrap();
        let now = chrono::Utc::now();
        let id = JobId::parse(&format!("job_{:026}", n)).unwrap();
        Job::new(id, genrelay_core::ClientId::parse("a").unwrap(), genrelay_core::NewJob::of(spec), None, now, now)
    }

    fn first_choices(registry: &ChannelRegistry, jobs: usize) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for n in 0..jobs {
            let first = registry.for_job(&job(n, Capability::ImageGenerate))[0].name().to_owned();
            *counts.entry(first).or_default() += 1;
        }
        counts
    }

    #[test]
    fn priority_comes_first_and_ties_keep_their_order() {
        let registry = ChannelRegistry::new(
            [channel("a", 0, None), channel("b", 5, None), channel("c", 0, None)],
            Some(Arc::new(Named("mock"))),
        );
        let names: Vec<_> =
            registry.for_job(&job(1, Capability::ImageGenerate)).iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(registry.for_job(&job(1, Capability::VideoGenerate))[0].name(), "mock", "the mock, switched on");
    }

    #[test]
    fn a_disabled_channel_takes_no_new_jobs_but_is_still_found_by_name() {
        let disabled = Channel { enabled: false, ..channel("old", 9, None) };
        let registry = ChannelRegistry::new([disabled, channel("new", 0, None)], Some(Arc::new(Named("mock"))));
        let names: Vec<_> =
            registry.for_job(&job(1, Capability::ImageGenerate)).iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(names, ["new"]);
        assert!(registry.by_name("old").is_some(), "its jobs are still polled");
        assert!(registry.channels().iter().any(|c| c.name() == "old" && !c.enabled), "and listed");
        let alone = ChannelRegistry::new(
            [Channel { enabled: false, ..channel("old", 0, None) }],
            Some(Arc::new(Named("mock"))),
        );
        assert_eq!(alone.for_job(&job(1, Capability::ImageGenerate))[0].name(), "mock", "the mock takes over");
    }

    #[test]
    fn without_the_mock_only_configured_capabilities_are_served() {
        let registry = ChannelRegistry::new([channel("a", 0, None)], None);
        assert!(registry.serves(Capability::ImageGenerate) && !registry.serves(Capability::VideoGenerate));
        let refused = registry.check(&job(1, Capability::VideoGenerate).spec).unwrap_err();
        assert!(refused.to_string().starts_with("capability: video.generate is not served"), "{refused}");
        assert!(registry.for_job(&job(1, Capability::VideoGenerate)).is_empty());
    }

    #[test]
    fn a_channel_that_lists_its_durations_takes_only_those() {
        let video = |name, durations: Vec<u32>| Channel {
            video_durations: Some(durations),
            ..Channel::new(vec![Capability::VideoGenerate], Arc::new(Named(name)))
        };
        let registry = ChannelRegistry::new([video("short", vec![5, 10, 12])], None);
        let eight = job(1, Capability::VideoGenerate);
        let refused = registry.check(&eight.spec).unwrap_err();
        assert_eq!(refused.to_string(), "settings.duration: the channels for video.generate take 5, 10, 12 seconds");
        let both = ChannelRegistry::new([video("short", vec![5, 10, 12]), video("long", vec![4, 8])], None);
        assert!(both.check(&eight.spec).is_ok());
        assert_eq!(
            both.for_job(&eight).iter().map(|r| r.name()).collect::<Vec<_>>(),
            ["long"],
            "routed to one that can"
        );
    }

    #[test]
    fn weights_share_the_jobs_of_a_priority() {
        let registry = ChannelRegistry::new(
            [
                channel("heavy", 0, Some(3)),
                channel("light", 0, Some(1)),
                channel("off", 0, Some(0)),
                channel("spare", -1, None),
            ],
            Some(Arc::new(Named("mock"))),
        );
        let counts = first_choices(&registry, 4000);
        let heavy = counts.get("heavy").copied().unwrap_or(0) as f64 / 4000.0;
        assert!((0.70..0.80).contains(&heavy), "about 3 in 4: {counts:?}");
        assert!(!counts.contains_key("off") && !counts.contains_key("spare"), "{counts:?}");
        let job = job(7, Capability::ImageGenerate);
        let order = |r: &ChannelRegistry| r.for_job(&job).iter().map(|r| r.name().to_owned()).collect::<Vec<_>>();
        assert_eq!(order(&registry), order(&registry), "the same job, the same order");
        assert_eq!(order(&registry).last().unwrap(), "spare");
    }
}
