//! The Meitu adapter against its fake gateway: signed requests, presets, status polling, error
//! codes in the envelope.

use std::sync::Arc;

use genrelay_core::ports::Provider;
use genrelay_providers::{Meitu, MeituConfig};
use genrelay_tests::fake_meitu::{ACCESS_KEY, FakeMeitu, SECRET_KEY};
use serde_json::{Value, json};

use genrelay_tests::app::{KEY_A, TestApp, png_size, read_signed_url};

fn meitu(base_url: &str, secret: &str) -> Meitu {
    let config: MeituConfig = serde_json::from_value(json!({
        "baseUrl": base_url, "accessKey": ACCESS_KEY, "secretKey": secret,
        "firstPollMs": 0, "pollIntervalMs": 0,
        "presets": {
            "image.upscale": {"task": "/v1/openclaw/default/488260", "parameters": {"beatify_type": "0"}},
            "image.generate": {"task": "/v1/openclaw/default/488187", "promptParameter": "prompt"}
        }
    }))
    .unwrap();
    Meitu::new("meitu", config)
}

async fn run(app: &TestApp) {
    for _ in 0..5 {
        app.drain().await;
        app.clock.advance(app.engine.settings().poll_retry);
    }
}

fn app_on(fake: &FakeMeitu, secret: &'static str) -> TestApp {
    let base = fake.base_url.clone();
    TestApp::with_provider(move |_, _| Arc::new(meitu(&base, secret)))
}

#[tokio::test]
async fn a_preset_runs_with_signed_requests_and_its_result_is_rehosted() {
    let fake = FakeMeitu::start().await;
    let app = app_on(&fake, SECRET_KEY);
    let body = json!({"capability": "image.upscale", "imageUrls": ["https://example.com/in.png"]});
    let id = app.create_job(KEY_A, body).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    let (png, _) = read_signed_url(&app, &location).unwrap();
    assert_eq!(png_size(&png), (48, 32), "fetched once from the expiring URL and kept");

    let task_id = app.stored_job(&id).await.upstream_task_id.unwrap();
    let (params, images) = fake.task(&task_id).unwrap();
    let params: Value = serde_json::from_str(&params).expect("params travel as a JSON string");
    assert_eq!(params, json!({"parameter": {"beatify_type": "0"}}));
    assert_eq!(images, ["https://example.com/in.png"]);
}

#[tokio::test]
async fn the_prompt_goes_in_the_presets_prompt_parameter() {
    let fake = FakeMeitu::start().await;
    let app = app_on(&fake, SECRET_KEY);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a paper crane"})).await;
    app.drain().await;
    let task_id = app.stored_job(&id).await.upstream_task_id.unwrap();
    let params: Value = serde_json::from_str(&fake.task(&task_id).unwrap().0).unwrap();
    assert_eq!(params["parameter"]["prompt"], "a paper crane");
}

#[tokio::test]
async fn a_failed_status_fails_the_job_and_a_lost_task_is_submitted_again() {
    let fake = FakeMeitu::start().await;
    let app = app_on(&fake, SECRET_KEY);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[fail]"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("status 2"), "{job}");

    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[lost]"})).await;
    run(&app).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let accepted = job["attempts"].as_array().unwrap().iter().filter(|a| a["outcome"] == "accepted").count();
    assert_eq!(accepted, 2, "pushed again after the gateway lost the task: {job}");
}

#[tokio::test]
async fn a_bad_signature_is_the_channels_fault_and_over_concurrency_is_retried() {
    let fake = FakeMeitu::start().await;
    let wrong = app_on(&fake, "SK-not-the-secret");
    let id = wrong.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    wrong.drain().await;
    let job = wrong.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "the only channel refuses its signature: no silent wait: {job}");
    assert_eq!(job["error"], "Meitu: session or credentials refused", "{job}");
    assert!(!job.to_string().contains("SK-"), "the secret never shows");
    let stored = wrong.stored_job(&id).await;
    let refused = meitu(&fake.base_url, "SK-not-the-secret").submit(&stored, &Default::default()).await;
    assert_eq!(genrelay_tests::app::cause_of(&refused), Some(genrelay_core::Cause::CredentialsRefused), "{refused:?}");

    let app = app_on(&fake, SECRET_KEY);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[busy]"})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "running", "over concurrency is not a failure: {job}");
}

#[tokio::test]
async fn a_task_the_gateway_reports_as_not_found_is_pushed_again() {
    let fake = FakeMeitu::start().await;
    let app = app_on(&fake, SECRET_KEY);
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[gone]"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"][1]["outcome"], "Meitu: lost the task: the gateway does not know the task", "{job}");
}
