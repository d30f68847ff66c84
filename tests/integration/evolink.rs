//! The EvoLink adapter against its fake.

use std::sync::Arc;

use genrelay_core::ports::Provider;
use genrelay_providers::{EvoLink, EvoLinkConfig};
use genrelay_tests::fake_evolink::{API_KEY, FakeEvoLink};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, png_size, read_signed_url};

fn evolink(base_url: &str, key: &str) -> EvoLink {
    let config: EvoLinkConfig = serde_json::from_value(json!({
        "baseUrl": base_url, "apiKey": key, "pollIntervalMs": 0,
        "models": {"image.generate": "gpt-image-1", "video.generate": "seedance-1.0-pro"}
    }))
    .unwrap();
    EvoLink::new("evolink", config)
}

async fn run(app: &TestApp) {
    for _ in 0..4 {
        app.drain().await;
        app.clock.advance(app.engine.settings().poll_retry);
    }
}

#[tokio::test]
async fn an_image_task_completes_and_its_expiring_result_is_rehosted() {
    let fake = FakeEvoLink::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(evolink(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a red kite"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    let (png, _) = read_signed_url(&app, &location).unwrap();
    assert_eq!(png_size(&png), (80, 48), "downloaded once, before the URL expired, and kept");
}

#[tokio::test]
async fn a_content_policy_refusal_fails_the_job_and_a_bad_key_is_the_channels_fault() {
    let fake = FakeEvoLink::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(evolink(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[nsfw]"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("content policy"), "{job}");

    let base = fake.base_url.clone();
    let wrong_key = TestApp::with_provider(move |_, _| Arc::new(evolink(&base, "sk-evo-wrong")));
    let id = wrong_key.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    wrong_key.drain().await;
    let job = wrong_key.job(KEY_A, &id).await;
    let attempts = job["attempts"].clone();
    assert_eq!(attempts[0]["outcome"], "EvoLink: session or credentials refused", "{attempts}");
    assert_eq!(job["status"], "failed", "the only channel refuses its key: no silent wait");
    assert!(!attempts.to_string().contains("sk-evo"), "the key never shows");
}

#[tokio::test]
async fn a_retryable_task_failure_is_submitted_again() {
    let fake = FakeEvoLink::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(evolink(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[overload]"})).await;
    run(&app).await;
    for _ in 0..10 {
        run(&app).await;
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let attempts = job["attempts"].as_array().unwrap();
    let submissions = attempts.iter().filter(|a| a["outcome"] == "accepted").count();
    assert_eq!(
        submissions as u32,
        app.engine.settings().max_submit_attempts,
        "submitted again after each failure: {attempts:?}"
    );
    assert!(attempts.iter().any(|a| a["outcome"].as_str().unwrap().contains("service_unavailable")));
}

/// A task EvoLink no longer knows (404) is submitted again; a result link that expired (404 on
/// the file host) fails the job as done-but-lost, never as the channel's credentials.
#[tokio::test]
async fn a_forgotten_task_is_submitted_again_and_an_expired_link_is_no_credential_fault() {
    let fake = FakeEvoLink::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(evolink(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a kite"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    fake.forget_tasks();
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"][1]["outcome"], "EvoLink: lost the task: EvoLink does not know the task", "{job}");
    assert_eq!(fake.tasks_created(), 2);

    // The same completed task polled again: its one-time link is gone.
    let stored = app.stored_job(&id).await;
    let provider = evolink(&fake.base_url, API_KEY);
    let expired = provider.poll(&stored).await;
    assert_eq!(genrelay_tests::app::cause_of(&expired), Some(genrelay_core::Cause::Failed), "{expired:?}");
    assert!(expired.unwrap_err().to_string().contains("the result URL answered HTTP 404"));
}

/// A gateway in front of the upstream that gives up (502, 504) after the request went out
/// leaves the task's fate unknown: it is not sent to another channel.
#[tokio::test]
async fn a_gateway_error_on_submission_is_an_unknown_outcome() {
    let gateway = axum::Router::new().fallback(|| async { axum::http::StatusCode::GATEWAY_TIMEOUT });
    let base = genrelay_tests::serve(gateway).await;
    let app = TestApp::new();
    let job =
        app.stored_job(&app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await).await;
    let submitted = evolink(&base, API_KEY).submit(&job, &Default::default()).await;
    assert_eq!(genrelay_tests::app::cause_of(&submitted), Some(genrelay_core::Cause::OutcomeUnknown), "{submitted:?}");
}
