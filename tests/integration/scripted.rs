//! The engine with scripted providers: races and failures the mock cannot stage on cue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use genrelay_core::ports::{Clock, GeneratedFile, JobStore, PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::{Error, Job, Result};
use genrelay_embedded::SqliteStore;
use serde_json::json;

use crate::support::{BLOB_BASE, KEY_A, ManualClock, TestApp, tiny_png};

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
async fn submissions_that_keep_failing_fail_the_job_in_the_end() {
    let (app, inputs) = flaky(100);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    drain_with_retries(&app, 10).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("temporarily unavailable"), "{job}");
    assert_eq!(inputs.lock().unwrap().len() as u32, app.engine.settings().max_submit_attempts);
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
    Err(Error::Unavailable("503".into()))
}

fn bad_credentials() -> Result<()> {
    Err(Error::ChannelFault("401".into()))
}

fn rejected() -> Result<()> {
    Err(Error::Upstream("prompt violates the content policy".into()))
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
    assert!(attempts[0].1.contains("temporarily unavailable"), "{attempts:?}");
    assert_eq!(attempts[1], ("backup".to_owned(), "accepted".to_owned()));
}

#[tokio::test]
async fn a_channel_refusing_its_credentials_cools_down() {
    let (first, second) = (Scripted::new("primary", bad_credentials), Scripted::new("backup", ok));
    let app = TestApp::with_channels(vec![first.clone(), second.clone()]);
    for _ in 0..3 {
        app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    }
    app.drain().await;
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
