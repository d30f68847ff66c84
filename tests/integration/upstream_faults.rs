//! An upstream's worst day: each call a channel makes broken each way a network, a gateway or a
//! busy server breaks it, by a proxy in front of the upstream's fake. ComfyUI (queueing a
//! prompt, polling it, reading its history, fetching its files): whatever broke, the job ends
//! by its deadline plus one poller period; the server ran one prompt for it; no prompt is left
//! queued or running unknown; the channel's slot is free; and no file is stored without its
//! record. RunningHub, which names its tasks itself: a task creation whose answer was lost
//! fails the job as of unknown outcome and is never sent again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use genrelay_core::Capability;
use genrelay_core::ports::Clock;
use genrelay_core::ports::Provider;
use genrelay_egress::Egress;
use genrelay_engine::{Channel, Settings};
use genrelay_providers::{ComfyConfig, ComfyUi, RunningHub, RunningHubConfig};
use genrelay_tests::app::{KEY_A, TestApp, png_size, read_signed_url};
use genrelay_tests::fake_comfyui::FakeComfyUi;
use genrelay_tests::fake_runninghub::{self, FakeRunningHub};
use genrelay_tests::faulty_proxy::{Fault, FaultyProxy, OVERSIZE_BYTES};
use serde_json::{Value, json};

use crate::comfyui::text_to_image;

/// How often the poller runs (the template's schedule).
const POLLER_PERIOD: Duration = Duration::from_secs(60);

/// Every way a call breaks here but silence (see [`a_server_that_never_answers_costs_a_timeout_not_the_job`]).
const FAULTS: [Fault; 7] = [
    Fault::Status(503),
    Fault::Status(502),
    Fault::Status(429),
    Fault::Reset,
    Fault::Garbled,
    Fault::Oversize,
    Fault::CutOff,
];

/// A channel of one upstream's fake, capped at 2 jobs at once, reached through a faulty proxy.
struct Bench<F> {
    app: TestApp,
    fake: F,
    proxy: FaultyProxy,
}

impl<F> Bench<F> {
    /// `fake` (serving at `fake_url`) behind a proxy, as the channel `provider` makes for the
    /// proxy's address.
    async fn on(fake: F, fake_url: &str, provider: impl FnOnce(&str) -> Arc<dyn Provider>) -> Self {
        let proxy = FaultyProxy::start(fake_url).await;
        let provider = provider(&proxy.base_url);
        let channel = Channel { max_concurrent: Some(2), ..Channel::new(vec![Capability::ImageGenerate], provider) };
        Self { app: TestApp::without_mock(vec![channel]), fake, proxy }
    }

    /// Creates an image job and runs the worker and the poller, the clock moving on by a poll
    /// retry at a time, until the job ends or its deadline and a poller period have passed.
    async fn run_job(&self) -> Value {
        let id = self.app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a kite"})).await;
        let give_up = self.app.stored_job(&id).await.deadline_at + POLLER_PERIOD;
        loop {
            self.app.drain().await;
            let job = self.app.stored_job(&id).await;
            if job.status.is_terminal() || self.app.clock.now() > give_up {
                return self.app.job(KEY_A, &id).await;
            }
            self.app.clock.advance(self.app.engine.settings().poll_retry);
        }
    }

    /// What holds here whatever broke: the job ended in time with `status`, its channel's slot
    /// is free, and no file is stored without its record.
    async fn assert_ended(&self, job: &Value, status: &str, what: &str) {
        let id = job["id"].as_str().unwrap();
        let stored = self.app.stored_job(id).await;
        assert_eq!(job["status"], status, "{what}");
        assert!(stored.finished_at.unwrap() <= stored.deadline_at + POLLER_PERIOD, "{what}: ended in time");
        let slots: u32 = self.app.engine.channel_states().await.unwrap().iter().map(|state| state.slots_in_use).sum();
        assert_eq!(slots, 0, "{what}: the channel's slot is free");
        let (_, assets) = self.app.get("/api/v1/assets", KEY_A).await;
        let recorded = assets["assets"].as_array().unwrap().len();
        assert_eq!(self.app.stored_files(), recorded, "{what}: no file without its record");
        assert_eq!(recorded, job["outputAssetIds"].as_array().unwrap().len(), "{what}: outputs recorded once");
    }
}

impl Bench<FakeComfyUi> {
    async fn comfyui() -> Self {
        let fake = FakeComfyUi::start().await;
        let url = fake.base_url.clone();
        Self::on(fake, &url, |proxy| {
            let config = ComfyConfig {
                base_url: proxy.parse().unwrap(),
                workflows: HashMap::from([(Capability::ImageGenerate, text_to_image("KSampler"))]),
                first_poll_ms: Some(0),
                // A second: each round of `run_job` polls a running prompt once.
                poll_interval_ms: Some(1000),
            };
            Arc::new(ComfyUi::new("comfy", config, Egress::public_only()))
        })
        .await
    }

    /// [`Bench::assert_ended`], and no prompt is left queued or running without being stopped.
    async fn assert_settled(&self, job: &Value, status: &str, what: &str) {
        let what = format!("{what} ({job}, stopped upstream: {:?})", self.fake.stopped());
        self.assert_ended(job, status, &what).await;
        assert_eq!(self.fake.unfinished(), Vec::<String>::new(), "{what}: no prompt left running unknown");
    }
}

async fn assert_one_broken_call_costs_nothing(path: &str) {
    for fault in FAULTS {
        let bench = Bench::comfyui().await;
        bench.proxy.break_next(path, fault, 1);
        let job = bench.run_job().await;
        let what = format!("{path} {fault:?}");
        assert_eq!(bench.proxy.broken().len(), 1, "{what}: the call was made and broken");
        bench.assert_settled(&job, "succeeded", &what).await;
        assert_eq!(bench.fake.prompts_queued(), 1, "{what}: the server ran one prompt: {job}");
        let (_, location) = bench.app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
        let (bytes, content_type) = read_signed_url(&bench.app, &location).unwrap();
        assert_eq!((content_type.as_str(), png_size(&bytes)), ("image/png", (1024, 1024)), "{what}: the image");
    }
}

#[tokio::test]
async fn a_prompt_whose_queueing_broke_runs_once() {
    assert_one_broken_call_costs_nothing("/prompt").await;
}

#[tokio::test]
async fn a_broken_poll_is_asked_again() {
    assert_one_broken_call_costs_nothing("/api/jobs/").await;
}

#[tokio::test]
async fn a_broken_history_read_is_asked_again() {
    assert_one_broken_call_costs_nothing("/history/").await;
}

#[tokio::test]
async fn a_broken_download_is_fetched_again_never_run_again() {
    assert_one_broken_call_costs_nothing("/view").await;
}

#[tokio::test]
async fn an_answer_too_large_is_not_read_on() {
    let bench = Bench::comfyui().await;
    bench.proxy.break_next("/api/jobs/", Fault::Oversize, 1);
    let job = bench.run_job().await;
    bench.assert_settled(&job, "succeeded", "oversize poll").await;
    let read = bench.proxy.oversize_sent();
    assert!(read < OVERSIZE_BYTES / 16, "the caller hung up after {read} bytes");
}

/// Broken every time, the job ends by its deadline: a refused queueing queues nothing and
/// fails the job when its wait for a channel is over; a run whose server stops answering polls
/// is given up on (and stopped) after a while and queued again, up to the job's submissions;
/// a run whose files cannot be fetched is never run again, and the job expires saying why.
#[tokio::test]
async fn a_server_that_keeps_failing_ends_the_job_by_its_deadline() {
    let submissions = Settings::default().max_submit_attempts as u64;
    for (path, fault, ending, runs, why) in [
        ("/prompt", Fault::Status(503), "failed", 0, "busy"),
        ("/api/jobs/", Fault::Reset, "failed", submissions, "unreachable"),
        (
            "/view",
            Fault::Status(502),
            "expired",
            1,
            "last: ComfyUI: results unreachable: the result URL answered HTTP 502",
        ),
        ("/view", Fault::Garbled, "expired", 1, "last: ComfyUI: results unreachable: the result URL answered a page"),
    ] {
        let bench = Bench::comfyui().await;
        bench.proxy.break_next(path, fault, u32::MAX);
        let job = bench.run_job().await;
        bench.assert_settled(&job, ending, &format!("{path} {fault:?} every time")).await;
        assert_eq!(bench.fake.prompts_queued(), runs, "{path} {fault:?}: {job}");
        assert!(job["error"].as_str().unwrap().contains(why), "{path} {fault:?}: says why: {job}");
    }
}

#[tokio::test]
async fn a_run_that_never_ends_expires_and_is_stopped_upstream() {
    let bench = Bench::comfyui().await;
    bench.fake.hang_runs();
    let job = bench.run_job().await;
    bench.assert_settled(&job, "expired", "a hung run").await;
    let prompt = bench.app.stored_job(job["id"].as_str().unwrap()).await.upstream_task_id.unwrap();
    assert!(bench.fake.stopped().contains(&format!("interrupt {prompt}")), "{:?}", bench.fake.stopped());
}

#[tokio::test]
async fn an_expired_result_url_fails_the_job_with_the_reason() {
    let bench = Bench::comfyui().await;
    bench.proxy.break_next("/view", Fault::Status(404), u32::MAX);
    let job = bench.run_job().await;
    bench.assert_settled(&job, "failed", "a result URL answering 404").await;
    assert!(job["error"].as_str().unwrap().contains("HTTP 404"), "{job}");
    assert_eq!(bench.fake.prompts_queued(), 1, "a finished run is not run again");
}

/// A server that takes the call and never answers costs the client's read timeout (tokio's
/// clock, paused here, moves on while everything waits), then is a broken call like any other.
#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_costs_a_timeout_not_the_job() {
    for path in ["/prompt", "/api/jobs/", "/view"] {
        let bench = Bench::comfyui().await;
        bench.proxy.break_next(path, Fault::Stall, 1);
        let job = bench.run_job().await;
        let what = format!("{path} stalled");
        assert_eq!(bench.proxy.broken().len(), 1, "{what}: the call was made and never answered");
        bench.assert_settled(&job, "succeeded", &what).await;
        assert_eq!(bench.fake.prompts_queued(), 1, "{what}: the server ran one prompt: {job}");
    }
}

impl Bench<FakeRunningHub> {
    async fn runninghub() -> Self {
        let fake = FakeRunningHub::start().await;
        let url = fake.base_url.clone();
        Self::on(fake, &url, |proxy| {
            let config: RunningHubConfig = serde_json::from_value(json!({
                "baseUrl": proxy, "apiKey": fake_runninghub::API_KEY, "pollIntervalMs": 0,
                "workflows": {"image.generate": {"workflowId": "1904136902449209346", "slots": {"prompt": ["6", "text"]}}}
            }))
            .unwrap();
            Arc::new(RunningHub::new("runninghub", config, Egress::public_only()))
        })
        .await
    }
}

/// RunningHub names its tasks: a creation refused before it reached the server (busy, 429) is
/// sent again and the job succeeds; one whose answer was lost (a gateway's 502, a reset, a page
/// or a flood instead of the envelope, an answer cut off after the task was made) fails the job
/// as of unknown outcome, never sent twice. A task made that way runs on upstream with no id
/// genrelay could stop it by: a limit of upstreams that name their tasks themselves.
#[tokio::test]
async fn a_runninghub_task_creation_that_broke_is_sent_again_only_if_it_was_refused() {
    for (fault, ending, created) in [
        (Fault::Status(503), "succeeded", 1),
        (Fault::Status(429), "succeeded", 1),
        (Fault::Status(502), "failed", 0),
        (Fault::Reset, "failed", 0),
        (Fault::Garbled, "failed", 0),
        (Fault::Oversize, "failed", 0),
        (Fault::CutOff, "failed", 1),
    ] {
        let bench = Bench::runninghub().await;
        bench.proxy.break_next("/task/openapi/create", fault, 1);
        let job = bench.run_job().await;
        let what = format!("create {fault:?} ({job})");
        bench.assert_ended(&job, ending, &what).await;
        assert_eq!(bench.fake.tasks_created(), created, "{what}: tasks made upstream");
        if ending == "failed" {
            assert!(job["error"].as_str().unwrap().contains("outcome unknown"), "{what}");
        }
    }
}

#[tokio::test]
async fn a_broken_runninghub_poll_is_asked_again() {
    for fault in FAULTS {
        let bench = Bench::runninghub().await;
        bench.proxy.break_next("/task/openapi/outputs", fault, 1);
        let job = bench.run_job().await;
        let what = format!("outputs {fault:?} ({job})");
        bench.assert_ended(&job, "succeeded", &what).await;
        assert_eq!(bench.fake.tasks_created(), 1, "{what}");
    }
}
