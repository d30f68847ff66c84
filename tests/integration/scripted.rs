//! The engine with scripted providers: races and failures the mock cannot stage on cue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use genrelay_core::ports::{Clock, GeneratedFile, JobStore, PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use genrelay_embedded::SqliteStore;
use genrelay_engine::Channel;
use serde_json::json;

use genrelay_tests::app::{BLOB_BASE, KEY_A, ManualClock, TestApp, tiny_png};

fn png_file(job: &Job) -> GeneratedFile {
    GeneratedFile::from_bytes(format!("{}.png", job.id), "image/png", tiny_png())
}

/// Accepts every job; when polled, a client cancels the job just before the outputs arrive.
struct CancelledWhileFinishing {
    store: SqliteStore,
    clock: ManualClock,
}

#[async_trait]
impl Provider for CancelledWhileFinishing {
    fn name(&self) -> &str {
        "cancelled-while-finishing"
    }

    async fn submit(&self, _job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        Ok(Submission::Accepted { task_id: "t".into(), poll_after: Duration::ZERO })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let mut cancelled = job.revise();
        cancelled.cancel(self.clock.now())?;
        assert!(self.store.replace(job, &cancelled).await?);
        Ok(PollOutcome::Succeeded(vec![png_file(job)]))
    }
}

#[tokio::test]
async fn a_cancel_that_wins_the_race_leaves_no_outputs_behind() {
    let app = TestApp::with_provider(|clock, embedded| {
        Arc::new(CancelledWhileFinishing { store: embedded.store.clone(), clock: clock.clone() })
    });
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["outputAssetIds"], json!([]));
    let (_, assets) = app.get("/api/v1/assets", KEY_A).await;
    assert_eq!(assets["assets"], json!([]), "the loser removed its asset records");
    assert_eq!(app.stored_files(), 0, "and its blobs");
}

/// Fails `failures` submissions as temporarily unavailable, then finishes at once; records the
/// inputs it was given.
struct Flaky {
    failures: Mutex<u32>,
    inputs: Arc<Mutex<Vec<ResolvedInputs>>>,
}

#[async_trait]
impl Provider for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        self.inputs.lock().unwrap().push(inputs.clone());
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(Error::Unavailable("upstream overloaded".into()));
        }
        Ok(Submission::Finished(vec![png_file(job)]))
    }

    async fn poll(&self, _job: &Job) -> Result<PollOutcome> {
        unreachable!("finishes at submission")
    }
}

fn flaky(failures: u32) -> (TestApp, Arc<Mutex<Vec<ResolvedInputs>>>) {
    let inputs = Arc::new(Mutex::new(Vec::new()));
    let recorded = inputs.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(Flaky { failures: Mutex::new(failures), inputs }));
    (app, recorded)
}

/// Runs the worker and the poller, moving the clock past each retry delay.
async fn drain_with_retries(app: &TestApp, rounds: usize) {
    for _ in 0..rounds {
        app.drain().await;
        app.clock.advance(app.engine.settings().poll_retry);
    }
}

#[tokio::test]
async fn a_transient_submission_failure_is_retried_by_the_poller() {
    let (app, _) = flaky(2);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "running", "waiting for a retry");
    drain_with_retries(&app, 3).await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "succeeded");
}

#[tokio::test]
async fn submissions_that_keep_failing_fail_the_job_when_the_wait_is_over() {
    let (app, inputs) = flaky(1000);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let settings = app.engine.settings().clone();
    let rounds = (settings.channel_wait.as_secs() / settings.poll_retry.as_secs()) as usize;
    drain_with_retries(&app, rounds).await;
    let waiting = app.job(KEY_A, &id).await;
    assert_eq!(waiting["status"], "running", "{waiting}");
    assert!(waiting["waiting"]["reason"].as_str().unwrap().contains("temporarily unavailable"), "{waiting}");
    drain_with_retries(&app, 2).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"].as_str().unwrap().starts_with("No channel took the job in 300 s: temporarily unavailable"),
        "{job}"
    );
    assert_eq!(inputs.lock().unwrap().len(), rounds + 1, "one try per retry delay, none after the end");
}

#[tokio::test]
async fn an_assets_url_works_as_a_job_input_and_reaches_the_provider_signed() {
    let (app, inputs) = flaky(0);
    let (_, uploaded) = app.upload(KEY_A, "reference.png", "image/png", &tiny_png()).await;
    let url = uploaded["asset"]["url"].as_str().unwrap();
    assert!(url.ends_with("/download"), "{url}");
    let body = json!({"capability": "image.upscale", "imageUrls": [url, "https://example.com/other.png"]});
    let (status, answer) = app.post("/api/v1/jobs", KEY_A, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    app.drain().await;
    let seen = inputs.lock().unwrap().pop().unwrap();
    assert!(seen.images[0].starts_with(&format!("{BLOB_BASE}/blobs/")), "{:?}", seen.images);
    assert!(seen.images[0].contains("signature="));
    assert_eq!(seen.images[1], "https://example.com/other.png");
}

/// A channel that answers every submission the same way, and counts them.
struct Scripted {
    name: &'static str,
    answer: fn() -> Result<()>,
    submissions: Mutex<u32>,
}

impl Scripted {
    fn new(name: &'static str, answer: fn() -> Result<()>) -> Arc<Self> {
        Arc::new(Self { name, answer, submissions: Mutex::new(0) })
    }

    fn submissions(&self) -> u32 {
        *self.submissions.lock().unwrap()
    }
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    async fn submit(&self, job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        *self.submissions.lock().unwrap() += 1;
        (self.answer)()?;
        Ok(Submission::Finished(vec![png_file(job)]))
    }

    async fn poll(&self, _job: &Job) -> Result<PollOutcome> {
        unreachable!("finishes at submission")
    }
}

fn ok() -> Result<()> {
    Ok(())
}

fn overloaded() -> Result<()> {
    Err(UpstreamError::new("Scripted", Cause::Busy).detail("HTTP 503").into())
}

fn bad_credentials() -> Result<()> {
    Err(UpstreamError::new("Scripted", Cause::CredentialsRefused).said("HTTP 401").into())
}

fn rejected() -> Result<()> {
    Err(UpstreamError::new("Scripted", Cause::Filtered).detail("prompt violates the content policy").into())
}

async fn attempts_of(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let job = app.job(KEY_A, id).await;
    job["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["channel"].as_str().unwrap().to_owned(), a["outcome"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_failing_channel_hands_the_job_to_the_next_and_every_attempt_is_shown() {
    let (first, second) = (Scripted::new("primary", overloaded), Scripted::new("backup", ok));
    let app = TestApp::with_channels(vec![first.clone(), second.clone()]);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "succeeded");
    let attempts = attempts_of(&app, &id).await;
    assert_eq!(attempts[0].0, "primary");
    assert_eq!(attempts[0].1, "Scripted: busy: HTTP 503", "{attempts:?}");
    assert_eq!(attempts[1], ("backup".to_owned(), "accepted".to_owned()));
}

#[tokio::test]
async fn a_channel_refusing_its_credentials_cools_down() {
    let (first, second) = (Scripted::new("primary", bad_credentials), Scripted::new("backup", ok));
    let app = TestApp::with_channels(vec![first.clone(), second.clone()]);
    for _ in 0..3 {
        app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
        app.drain().await;
    }
    assert_eq!(first.submissions(), 1, "tried once, then skipped while cooling down");
    assert_eq!(second.submissions(), 3);
    app.clock.advance(app.engine.settings().channel_cooldown);
    app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    assert_eq!(first.submissions(), 2, "tried again after the cooldown");
}

#[tokio::test]
async fn a_rejection_fails_the_job_without_trying_other_channels() {
    let (first, second) = (Scripted::new("primary", rejected), Scripted::new("backup", ok));
    let app = TestApp::with_channels(vec![first.clone(), second.clone()]);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("content policy"), "{job}");
    assert_eq!(second.submissions(), 0);
    assert_eq!(attempts_of(&app, &id).await.len(), 1);
}

/// A channel whose tasks run until the test finishes them.
struct Held {
    name: &'static str,
    finished: Mutex<Vec<String>>,
    submissions: Mutex<u32>,
}

impl Held {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, finished: Mutex::default(), submissions: Mutex::new(0) })
    }

    fn finish(&self, task: &str) {
        self.finished.lock().unwrap().push(task.to_owned());
    }
}

#[async_trait]
impl Provider for Held {
    fn name(&self) -> &str {
        self.name
    }

    async fn submit(&self, job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        *self.submissions.lock().unwrap() += 1;
        Ok(Submission::Accepted { task_id: job.id.to_string(), poll_after: Duration::from_secs(1) })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let task = job.upstream_task_id.clone().unwrap_or_default();
        if self.finished.lock().unwrap().contains(&task) {
            return Ok(PollOutcome::Succeeded(vec![png_file(job)]));
        }
        Ok(PollOutcome::Running { progress: 10, poll_after: Duration::from_secs(1) })
    }
}

fn capped(provider: Arc<dyn Provider>, max_concurrent: u32) -> Channel {
    Channel { max_concurrent: Some(max_concurrent), ..Channel::new(Capability::ALL.to_vec(), provider) }
}

#[tokio::test]
async fn a_channel_at_its_cap_is_skipped_until_a_job_ends_and_frees_its_slot() {
    let (primary, backup) = (Held::new("primary"), Held::new("backup"));
    let app = TestApp::with_channel_settings(vec![
        capped(primary.clone(), 1),
        Channel::new(Capability::ALL.to_vec(), backup.clone()),
    ]);
    let first = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "one"})).await;
    app.drain().await;
    let second = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "two"})).await;
    app.drain().await;
    assert_eq!(attempts_of(&app, &first).await[0].0, "primary");
    assert_eq!(attempts_of(&app, &second).await, [("backup".to_owned(), "accepted".to_owned())], "primary was full");

    primary.finish(&first);
    app.clock.advance(Duration::from_secs(1));
    app.drain().await;
    assert_eq!(app.job(KEY_A, &first).await["status"], "succeeded");
    let third = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "three"})).await;
    app.drain().await;
    assert_eq!(attempts_of(&app, &third).await[0].0, "primary", "the slot was released when the job ended");
}

#[tokio::test]
async fn with_every_channel_full_a_job_waits_for_a_slot_without_using_up_its_attempts() {
    let only = Held::new("only");
    let app = TestApp::with_channel_settings(vec![capped(only.clone(), 1)]);
    let first = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "one"})).await;
    app.drain().await;
    let second = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "two"})).await;
    for _ in 0..app.engine.settings().max_submit_attempts + 2 {
        app.drain().await;
        app.clock.advance(app.engine.settings().poll_retry);
    }
    let waiting = app.job(KEY_A, &second).await;
    assert_eq!(waiting["status"], "running", "{waiting}");
    assert_eq!(waiting["attempts"], json!([]), "waiting for a slot is not an attempt");
    assert_eq!(*only.submissions.lock().unwrap(), 1);

    // Cancelling the first job frees its slot: the second goes next.
    let (status, _) = app.post(&format!("/api/v1/jobs/{first}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, axum::http::StatusCode::OK);
    app.clock.advance(app.engine.settings().poll_retry);
    app.drain().await;
    assert_eq!(attempts_of(&app, &second).await, [("only".to_owned(), "accepted".to_owned())]);
}

/// A channel whose submission waits until the test lets it answer, and records cancels.
struct Slow {
    go: tokio::sync::Notify,
    cancelled: Mutex<Vec<String>>,
}

#[async_trait]
impl Provider for Slow {
    fn name(&self) -> &str {
        "slow"
    }

    async fn submit(&self, job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        self.go.notified().await;
        Ok(Submission::Accepted { task_id: format!("task-{}", job.id), poll_after: Duration::from_secs(1) })
    }

    async fn poll(&self, _job: &Job) -> Result<PollOutcome> {
        Ok(PollOutcome::Running { progress: 1, poll_after: Duration::from_secs(1) })
    }

    async fn cancel(&self, job: &Job) -> Result<()> {
        self.cancelled.lock().unwrap().push(job.upstream_task_id.clone().unwrap_or_default());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_during_its_submission_frees_its_slot_and_stops_the_task_upstream() {
    let slow = Arc::new(Slow { go: tokio::sync::Notify::new(), cancelled: Mutex::default() });
    let app = TestApp::with_channel_settings(vec![capped(slow.clone(), 1)]);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let engine = app.engine.clone();
    let worker = tokio::spawn(async move { engine.work_dispatch_queue(10, Duration::from_secs(60)).await });
    tokio::time::sleep(Duration::from_millis(200)).await; // the submission is under way
    let (status, _) = app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    slow.go.notify_one();
    worker.await.unwrap().unwrap();

    assert_eq!(*slow.cancelled.lock().unwrap(), [format!("task-{id}")], "the orphaned task is stopped");
    assert_eq!(app.job(KEY_A, &id).await["status"], "cancelled");
    let ledger: &dyn genrelay_core::ports::ChannelLedger = &app.embedded.store;
    let lease = chrono::Utc::now() + chrono::Duration::hours(1);
    let other = genrelay_core::JobId::parse("job_01jother000000000000000000").unwrap();
    assert!(ledger.take_slot("slow", &other, 1, lease, chrono::Utc::now()).await.unwrap(), "the slot is free");
}

/// Takes every task, then never answers a poll again (the server went away mid-run).
struct GoneAway {
    submissions: Mutex<u32>,
}

#[async_trait]
impl Provider for GoneAway {
    fn name(&self) -> &str {
        "gone"
    }

    async fn submit(&self, _job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        *self.submissions.lock().unwrap() += 1;
        Ok(Submission::Accepted { task_id: "t".into(), poll_after: Duration::ZERO })
    }

    async fn poll(&self, _job: &Job) -> Result<PollOutcome> {
        Err(Error::upstream("Gone", Cause::Unreachable))
    }
}

#[tokio::test]
async fn an_upstream_unreachable_while_its_task_runs_is_given_up_on_in_bounded_time() {
    let gone = Arc::new(GoneAway { submissions: Mutex::new(0) });
    let provider = gone.clone();
    let app = TestApp::with_provider(move |_, _| provider);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let settings = app.engine.settings().clone();
    let rounds = settings.upstream_outage.as_secs() / settings.poll_retry.as_secs() + 1;
    let per_task = rounds as usize + 1;
    drain_with_retries(&app, per_task).await;
    assert_eq!(*gone.submissions.lock().unwrap(), 2, "submitted again after two minutes without an answer");
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "running", "{job}");
    assert!(
        job["attempts"][1]["outcome"].as_str().unwrap().starts_with("Gone: unreachable (no answer since "),
        "{job}"
    );

    drain_with_retries(&app, per_task * 2).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().starts_with("Gone: unreachable (no answer since "), "{job}");
    assert_eq!(*gone.submissions.lock().unwrap(), settings.max_submit_attempts, "within the submission limit");
}

/// Finishes its task, but the first download of the output breaks off midway.
struct BrokenOnce {
    polls: Mutex<u32>,
}

#[async_trait]
impl Provider for BrokenOnce {
    fn name(&self) -> &str {
        "broken-once"
    }

    async fn submit(&self, _job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        Ok(Submission::Accepted { task_id: "t".into(), poll_after: Duration::ZERO })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let mut polls = self.polls.lock().unwrap();
        *polls += 1;
        if *polls == 1 {
            let broken = futures_util::stream::iter([Err(std::io::Error::other("connection reset"))]);
            let file = GeneratedFile { name: "out.png".into(), content_type: None, body: Box::pin(broken) };
            return Ok(PollOutcome::Succeeded(vec![file]));
        }
        Ok(PollOutcome::Succeeded(vec![png_file(job)]))
    }
}

#[tokio::test]
async fn an_output_whose_download_breaks_is_fetched_again_at_the_next_poll() {
    let app = TestApp::with_provider(|_, _| Arc::new(BrokenOnce { polls: Mutex::new(0) }));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "running");
    app.clock.advance(app.engine.settings().poll_retry);
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "polled again after the retry delay, not after the step's claim: {job}");
}

/// Fails its first submission transiently (the job waits), then takes submissions that never
/// answer: the step running one is stopped midway, as a Lambda past its timeout.
struct HangsAfterFirst {
    submissions: Mutex<u32>,
}

#[async_trait]
impl Provider for HangsAfterFirst {
    fn name(&self) -> &str {
        "hangs"
    }

    async fn submit(&self, _job: &Job, _inputs: &ResolvedInputs) -> Result<Submission> {
        let first = {
            let mut submissions = self.submissions.lock().unwrap();
            *submissions += 1;
            *submissions == 1
        };
        if first {
            return Err(UpstreamError::new("Hangs", Cause::Busy).detail("HTTP 503").into());
        }
        std::future::pending().await
    }

    async fn poll(&self, _job: &Job) -> Result<PollOutcome> {
        unreachable!("never accepts")
    }
}

#[tokio::test]
async fn a_poller_stopped_during_a_submission_never_sends_it_again() {
    let hangs = Arc::new(HangsAfterFirst { submissions: Mutex::new(0) });
    let provider = hangs.clone();
    let app = TestApp::with_provider(move |_, _| provider);
    // A video: its deadline (20 minutes) outlasts the step's claim (16).
    let body = json!({"capability": "video.generate", "prompt": "x", "settings": {"duration": 5}});
    let id = app.create_job(KEY_A, body).await;
    app.drain().await;
    assert!(app.job(KEY_A, &id).await["waiting"].is_object(), "waits after the 503");
    app.clock.advance(app.engine.settings().poll_retry);
    let stopped = tokio::time::timeout(Duration::from_millis(300), app.engine.poll_due(10)).await;
    assert!(stopped.is_err(), "the step was stopped during the submission");
    assert_eq!(*hangs.submissions.lock().unwrap(), 2);

    app.clock.advance(app.engine.settings().step_lease);
    let drained = tokio::time::timeout(Duration::from_secs(5), app.drain()).await;
    assert!(drained.is_ok(), "submitted again, and hung again");
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("outcome unknown"), "{job}");
    assert_eq!(*hangs.submissions.lock().unwrap(), 2, "not sent a third time");
}
