//! A step stopped at its worst moment: the store fails right after the upstream accepted a
//! submission (before it is recorded), or right after the upstream answered with the outputs
//! (before they are recorded and the job ends). Afterwards no job stays unended past its
//! deadline, nothing is submitted twice, no channel slot stays taken and no file is left
//! without its record.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{GeneratedFile, PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Job, Result};
use genrelay_engine::{Channel, ChannelRegistry};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, tiny_png};
use genrelay_tests::outage::{Outage, Part};

/// Where the store goes down.
#[derive(Clone, Copy, PartialEq)]
enum FailAfter {
    Submit,
    Poll,
}

/// An upstream that accepts every job and finishes it at the first poll; the store goes down
/// right after the step it names, once.
struct StoreFailsAfter {
    step: FailAfter,
    /// What it says its longest call may take.
    longest_call: Option<Duration>,
    outage: Outage,
    submits: AtomicUsize,
    polls: AtomicUsize,
}

impl StoreFailsAfter {
    fn new(step: FailAfter, outage: &Outage, longest_call: Option<Duration>) -> Arc<Self> {
        let (submits, polls) = (AtomicUsize::new(0), AtomicUsize::new(0));
        Arc::new(Self { step, longest_call, outage: outage.clone(), submits, polls })
    }
}

#[async_trait]
impl Provider for StoreFailsAfter {
    fn name(&self) -> &str {
        "fails-after"
    }

    fn longest_call(&self) -> Option<Duration> {
        self.longest_call
    }

    async fn submit(&self, _job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        if self.submits.fetch_add(1, Ordering::SeqCst) == 0 && self.step == FailAfter::Submit {
            self.outage.take_down(Part::Store);
        }
        Ok(Submission::Accepted { task_id: "task-1".into(), poll_after: Duration::ZERO })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        if self.polls.fetch_add(1, Ordering::SeqCst) == 0 && self.step == FailAfter::Poll {
            self.outage.take_down(Part::Store);
        }
        Ok(PollOutcome::Succeeded(vec![GeneratedFile::from_bytes(format!("{}.png", job.id), "image/png", tiny_png())]))
    }
}

fn app_on(provider: Arc<StoreFailsAfter>, outage: &Outage) -> TestApp {
    let app = TestApp::new();
    let embedded = app.embedded.clone();
    app.rewired(|deps| {
        outage.wrap_embedded(deps, &embedded);
        let capped = Channel { max_concurrent: Some(2), ..Channel::new(Capability::ALL.to_vec(), provider) };
        deps.channels = ChannelRegistry::new(vec![capped], None);
    })
}

/// Slots the (capped) channel has taken now.
async fn slots_in_use(app: &TestApp) -> u32 {
    app.engine.channel_states().await.unwrap().iter().map(|state| state.slots_in_use).sum()
}

/// A video job (its deadline, 20 minutes, outlasts a step's claim, 16).
async fn video(app: &TestApp) -> String {
    app.create_job(KEY_A, json!({"capability": "video.generate", "prompt": "x", "settings": {"duration": 5}})).await
}

#[tokio::test]
async fn a_submission_the_store_could_not_record_fails_the_job_once_its_claim_lapses_never_sent_again() {
    let outage = Outage::default();
    let provider = StoreFailsAfter::new(FailAfter::Submit, &outage, None);
    let app = app_on(provider.clone(), &outage);
    let id = video(&app).await;
    let stopped = app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await;
    outage.restore(Part::Store);
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1, "submitted: {stopped:?}");
    assert_eq!(app.job(KEY_A, &id).await["status"], "running", "its submission is not recorded");

    // The message comes back, the poller runs: nothing is sent again before the claim lapses.
    app.clock.advance(Duration::from_secs(61));
    app.drain().await;
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1);
    app.clock.advance(app.engine.settings().step_lease);
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "ended before its deadline: {job}");
    assert!(job["error"].as_str().unwrap().contains("outcome unknown"), "{job}");
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1, "never paid twice");
    assert_eq!(app.stored_files(), 0);
    assert_eq!(slots_in_use(&app).await, 0, "the channel's slot is free again");
}

#[tokio::test]
async fn outputs_the_store_could_not_record_are_fetched_again_and_leave_no_file_behind() {
    let outage = Outage::default();
    let provider = StoreFailsAfter::new(FailAfter::Poll, &outage, None);
    let app = app_on(provider.clone(), &outage);
    let id = video(&app).await;
    app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await.unwrap();
    let stopped = app.engine.poll_due(10).await;
    outage.restore(Part::Store);
    assert_eq!(provider.polls.load(Ordering::SeqCst), 1, "polled: {stopped:?}");
    assert_eq!(app.job(KEY_A, &id).await["status"], "running", "its outputs are not recorded");
    assert_eq!(slots_in_use(&app).await, 1, "its channel slot is held meanwhile");
    assert_eq!(app.get("/api/v1/assets", KEY_A).await.1["assets"], json!([]));

    // The claim lapses; the next poll fetches the outputs again and ends the job.
    app.clock.advance(app.engine.settings().step_lease);
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "ended before its deadline: {job}");
    assert_eq!(job["outputAssetIds"].as_array().unwrap().len(), 1);
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1, "never submitted again");
    let (_, assets) = app.get("/api/v1/assets", KEY_A).await;
    assert_eq!(assets["assets"].as_array().unwrap().len(), 1, "one output recorded");
    assert_eq!(app.stored_files(), 1, "and no file without its record");
    assert_eq!(slots_in_use(&app).await, 0, "the channel's slot is free again");
}

/// A channel whose calls may take longer than a step's lease (jimeng-api's sync mode: up to
/// 900 s): a step holds its job a minute past that, so a call still running is not taken for a
/// stopped step. Then, as above, the job fails as of unknown outcome, never sent again.
#[tokio::test]
async fn a_step_holds_its_job_past_its_channels_longest_call() {
    let outage = Outage::default();
    let provider = StoreFailsAfter::new(FailAfter::Submit, &outage, Some(Duration::from_secs(18 * 60)));
    let app = app_on(provider.clone(), &outage);
    let id = video(&app).await;
    let _ = app.engine.work_dispatch_queue(10, Duration::from_secs(60)).await;
    outage.restore(Part::Store);

    app.clock.advance(app.engine.settings().step_lease + Duration::from_secs(1));
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "running", "its call may still be running");
    app.clock.advance(Duration::from_secs(3 * 60));
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("outcome unknown"), "{job}");
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1, "never sent twice");
}
