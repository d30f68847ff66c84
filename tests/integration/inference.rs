//! The inference-server adapter (seed 003's API as an upstream) against its fake, and jobs run
//! through it end to end on the embedded adapters.

use std::collections::HashMap;
use std::sync::Arc;

use genrelay_core::ports::{PollOutcome, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Error};
use genrelay_providers::{InferenceConfig, InferenceServer};
use genrelay_tests::fake_inference::{FAILING_INDEX, FakeInferenceServer, POLLS_TO_COMPLETE};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, read_signed_url};

fn adapter(base_url: &str, index: u32) -> InferenceServer {
    let config = InferenceConfig {
        base_url: base_url.parse().unwrap(),
        indexes: HashMap::from([(Capability::ImageGenerate, index)]),
        first_poll_ms: Some(0),
        poll_interval_ms: Some(0),
    };
    InferenceServer::new("gpu-box", config)
}

async fn run_jobs(app: &TestApp, rounds: usize) {
    for _ in 0..rounds {
        app.drain().await;
    }
}

#[tokio::test]
async fn a_job_runs_on_the_inference_server_and_its_output_is_rehosted() {
    let fake = FakeInferenceServer::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(adapter(&base, 1)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    run_jobs(&app, POLLS_TO_COMPLETE as usize + 1).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let output = job["outputAssetIds"][0].as_str().unwrap();
    let (_, asset) = app.get(&format!("/api/v1/assets/{output}"), KEY_A).await;
    assert_eq!(asset["asset"]["name"], "result_001.png");
    assert_eq!(asset["asset"]["size"], fake.image.len());
    let (_, location) = app.download_redirect(KEY_A, output).await;
    assert!(!location.contains(&fake.base_url), "clients only see genrelay's own URLs");
    assert_eq!(read_signed_url(&app, &location).unwrap().0, *fake.image);
}

#[tokio::test]
async fn a_failed_inference_is_submitted_again_when_it_may_pass_then_fails_with_the_servers_reason() {
    let fake = FakeInferenceServer::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(adapter(&base, FAILING_INDEX)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let submissions = app.engine.settings().max_submit_attempts as usize;
    run_jobs(&app, (POLLS_TO_COMPLETE as usize + 1) * submissions).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    // Out of memory may pass on another try: three submissions, then the reason.
    assert_eq!(job["error"], "the inference server: interrupted: CUDA out of memory");
    assert_eq!(job["attempts"].as_array().unwrap().len(), 2 * submissions, "{job}");
}

#[tokio::test]
async fn the_adapter_reports_progress_then_streams_the_files() {
    let fake = FakeInferenceServer::start().await;
    let provider = adapter(&fake.base_url, 1);
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let mut job = app.stored_job(&id).await;
    let Submission::Accepted { task_id, .. } = provider.submit(&job, &ResolvedInputs::default()).await.unwrap() else {
        panic!("the server answers a task")
    };
    job.upstream_task_id = Some(task_id);
    let mut seen = Vec::new();
    for _ in 0..POLLS_TO_COMPLETE {
        match provider.poll(&job).await.unwrap() {
            PollOutcome::Running { progress, .. } => seen.push(progress),
            PollOutcome::Succeeded(files) => {
                assert_eq!(files.len(), 1);
                assert_eq!(files[0].content_type.as_deref(), Some("image/png"));
                seen.push(100);
            }
        }
    }
    assert_eq!(seen, [0, 50, 100], "pending, processing, completed");
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_failure_and_a_missing_index_a_permanent_one() {
    let provider = adapter("http://127.0.0.1:9", 1);
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    let job = app.stored_job(&id).await;
    let error = provider.submit(&job, &ResolvedInputs::default()).await.unwrap_err();
    assert!(matches!(&error, Error::Upstream(e) if e.cause == genrelay_core::Cause::Unreachable), "{error:?}");
    assert!(!error.to_string().contains("127.0.0.1"), "no address in errors: {error}");
    let fake = FakeInferenceServer::start().await;
    let upscale_only = InferenceServer::new(
        "upscaler",
        InferenceConfig {
            base_url: fake.base_url.parse().unwrap(),
            indexes: HashMap::from([(Capability::ImageUpscale, 3)]),
            first_poll_ms: None,
            poll_interval_ms: None,
        },
    );
    // Routing sends a channel only what it serves: anything else is a bug, not the upstream's.
    let error = upscale_only.submit(&job, &ResolvedInputs::default()).await.unwrap_err();
    assert!(matches!(error, Error::Internal(_)), "{error:?}");
}

#[tokio::test]
async fn a_task_lost_in_a_restart_of_the_server_is_submitted_again() {
    let fake = FakeInferenceServer::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(adapter(&base, 1)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    fake.restart();
    run_jobs(&app, POLLS_TO_COMPLETE as usize + 2).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"][1]["outcome"], "the inference server: lost the task: the server does not know the task");
}
