//! The RunningHub adapter against its fake.

use std::sync::Arc;

use genrelay_core::ports::{Provider, ResolvedInputs};
use genrelay_core::{Cause, Error};
use genrelay_egress::Egress;
use genrelay_providers::{RunningHub, RunningHubConfig};
use genrelay_tests::fake_runninghub::{API_KEY, FakeRunningHub, WEBAPP_ID};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, cause_of, png_size, read_signed_url};

fn runninghub(base_url: &str, key: &str) -> RunningHub {
    let config: RunningHubConfig = serde_json::from_value(json!({
        "baseUrl": base_url, "apiKey": key, "pollIntervalMs": 0,
        "workflows": {"image.generate": {"workflowId": "1904136902449209346",
                                         "slots": {"prompt": ["6", "text"], "seed": ["3", "seed"]}}}
    }))
    .unwrap();
    RunningHub::new("runninghub", config, Egress::public_only())
}

async fn run(app: &TestApp) {
    for _ in 0..4 {
        app.drain().await;
    }
}

#[tokio::test]
async fn a_workflow_runs_with_its_node_info_and_the_output_is_rehosted() {
    let fake = FakeRunningHub::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(runninghub(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a paper crane"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    assert_eq!(png_size(&read_signed_url(&app, &location).unwrap().0), (72, 40));
    let sent = &fake.node_infos()[0];
    assert!(
        sent.as_array().unwrap().contains(&json!({"nodeId": "6", "fieldName": "text", "fieldValue": "a paper crane"})),
        "{sent}"
    );
}

#[tokio::test]
async fn an_audit_failure_fails_the_job() {
    let fake = FakeRunningHub::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(runninghub(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[audit]"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(
        (job["status"].as_str(), job["error"].as_str()),
        (Some("failed"), Some("RunningHub: content filtered: the content was refused"))
    );
}

#[tokio::test]
async fn a_full_queue_is_retryable_and_a_bad_key_is_the_channels_fault() {
    let fake = FakeRunningHub::start().await;
    let app = TestApp::new();
    let busy = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[busy]"})).await;
    let busy = app.stored_job(&busy).await;
    let error = runninghub(&fake.base_url, API_KEY).submit(&busy, &ResolvedInputs::default()).await.unwrap_err();
    assert!(matches!(&error, Error::Upstream(e) if e.cause == Cause::Busy), "421 means later, not failed: {error:?}");
    let refused = runninghub(&fake.base_url, "wrong").submit(&busy, &ResolvedInputs::default()).await;
    assert_eq!(cause_of(&refused), Some(Cause::CredentialsRefused), "{refused:?}");
    assert!(!format!("{refused:?}").contains("wrong"), "the key never shows");
}

#[tokio::test]
async fn a_job_past_its_deadline_expires_and_its_task_is_cancelled() {
    let fake = FakeRunningHub::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(runninghub(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    let task_id = app.stored_job(&id).await.upstream_task_id.unwrap();
    app.clock.advance(app.engine.settings().image_timeout);
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "expired");
    assert!(fake.is_gone(&task_id), "the upstream task was cancelled");
}

fn ai_app(base_url: &str, webapp_id: serde_json::Value) -> RunningHub {
    let config: RunningHubConfig = serde_json::from_value(json!({
        "baseUrl": base_url, "apiKey": API_KEY, "pollIntervalMs": 0,
        "workflows": {"image.upscale": {"webappId": webapp_id,
                                        "slots": {"image": ["39", "image"], "prompt": ["52", "prompt"]}}}
    }))
    .unwrap();
    RunningHub::new("runninghub-app", config, Egress::public_only())
}

/// A loopback server holding one PNG; its URL, marked as one genrelay signed.
async fn signed_input(png: Vec<u8>) -> ResolvedInputs {
    let app = axum::Router::new().route(
        "/blobs/in.png",
        axum::routing::get(move || async move { ([(axum::http::header::CONTENT_TYPE, "image/png")], png) }),
    );
    let url = format!("{}/blobs/in.png", genrelay_tests::serve(app).await);
    ResolvedInputs { images: vec![url.clone()], signed: [url].into(), ..Default::default() }
}

#[tokio::test]
async fn an_ai_app_runs_with_its_input_image_uploaded_first() {
    let fake = FakeRunningHub::start().await;
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.upscale", "imageUrls": ["https://e.com/a.png"]})).await;
    let job = app.stored_job(&id).await;
    let png = genrelay_providers::mock::render_png("to upscale", 16, 16);
    let inputs = signed_input(png.clone()).await;

    let provider = ai_app(&fake.base_url, json!(WEBAPP_ID));
    let submitted = provider.submit(&job, &inputs).await.unwrap();
    assert!(matches!(submitted, genrelay_core::ports::Submission::Accepted { .. }));
    let run = &fake.runs()[0];
    assert_eq!(run["webappId"], WEBAPP_ID, "sent to /task/openapi/ai-app/run: {run}");
    let image = run["nodeInfoList"].as_array().unwrap().iter().find(|n| n["nodeId"] == "39").unwrap();
    let name = image["fieldValue"].as_str().unwrap();
    assert!(name.starts_with("api/") && name.ends_with(".png"), "{name}");
    assert_eq!(fake.upload(name), Some(png), "the file reached RunningHub");

    // The id may be written as a string of digits; an unknown app is refused as invalid (another
    // channel may have it), without cooling the channel down.
    assert!(ai_app(&fake.base_url, json!(WEBAPP_ID.to_string())).submit(&job, &inputs).await.is_ok());
    let unknown = ai_app(&fake.base_url, json!(42)).submit(&job, &inputs).await;
    assert_eq!(cause_of(&unknown), Some(Cause::RefusedAsInvalid), "{unknown:?}");
    assert!(unknown.unwrap_err().to_string().contains("901"));
}

#[tokio::test]
async fn an_ai_app_refuses_an_input_url_on_an_internal_address() {
    let fake = FakeRunningHub::start().await;
    let app = TestApp::new();
    let id = app.create_job(KEY_A, json!({"capability": "image.upscale", "imageUrls": ["https://e.com/a.png"]})).await;
    let job = app.stored_job(&id).await;
    let inputs = ResolvedInputs { images: vec!["http://10.0.0.8/in.png".into()], ..Default::default() };
    let refused = ai_app(&fake.base_url, json!(WEBAPP_ID)).submit(&job, &inputs).await;
    assert!(matches!(&refused, Err(Error::Invalid(m)) if m.contains("private")), "{refused:?}");
    assert!(fake.runs().is_empty(), "nothing was started");
}

#[tokio::test]
async fn a_task_runninghub_forgot_is_submitted_again_and_failures_read_without_server_paths() {
    let fake = FakeRunningHub::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(runninghub(&base, API_KEY)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    fake.forget_tasks();
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"][1]["outcome"], "RunningHub: lost the task: 807 APIKEY_TASK_NOT_FOUND", "{job}");
    assert_eq!(fake.tasks_created(), 2);

    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[fail]"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(
        job["error"], "RunningHub: generation failed: node SONIC_PreData: expected str, got NoneType in [path]",
        "{job}"
    );

    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "[invalid-graph]"})).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["error"], "RunningHub: refused as invalid: the workflow failed validation", "{job}");
    let ledger: &dyn genrelay_core::ports::ChannelLedger = &app.embedded.store;
    let now = genrelay_core::ports::Clock::now(&app.clock);
    assert!(ledger.cooling(&["runninghub"], now).await.unwrap().is_empty(), "not the channel's fault");
}
