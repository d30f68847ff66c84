//! The Yunxiu adapter (Meitu's retouching, seed 000's Meitu config) against its fake: the key and
//! secret in the body, the preset as `media_code`, the input as a URL Meitu fetches, `msg_id`
//! polled until the result's URL arrives; the gateway's error codes classified.

use std::sync::Arc;

use genrelay_core::ports::Provider;
use genrelay_providers::{Yunxiu, YunxiuConfig};
use genrelay_tests::fake_yunxiu::{API_KEY, API_SECRET, FakeYunxiu};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, png_size, read_signed_url};

fn yunxiu(base_url: &str, secret: &str, preset: &str) -> Yunxiu {
    let config: YunxiuConfig = serde_json::from_value(json!({
        "baseUrl": base_url, "apiKey": API_KEY, "apiSecret": secret, "firstPollMs": 0, "pollIntervalMs": 0,
        "presets": {"image.upscale": preset}
    }))
    .unwrap();
    Yunxiu::new("meitu-yunxiu", config)
}

fn app_on(fake: &FakeYunxiu, secret: &'static str, preset: &'static str) -> TestApp {
    let base = fake.base_url.clone();
    TestApp::with_provider(move |_, _| Arc::new(yunxiu(&base, secret, preset)))
}

async fn run(app: &TestApp) {
    for _ in 0..5 {
        app.drain().await;
        app.clock.advance(app.engine.settings().poll_retry);
    }
}

fn retouch_job() -> serde_json::Value {
    json!({"capability": "image.upscale", "imageUrls": ["https://example.com/portrait.jpg"], "orderNumber": "ORD-7"})
}

#[tokio::test]
async fn a_retouch_runs_with_its_preset_and_its_result_is_kept() {
    let fake = FakeYunxiu::start().await;
    let app = app_on(&fake, API_SECRET, "MT-PRESET-1");
    let id = app.create_job(KEY_A, retouch_job()).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    let (png, _) = read_signed_url(&app, &location).unwrap();
    assert_eq!(png_size(&png), (40, 56), "fetched once from its URL and kept");
    let msg_id = app.stored_job(&id).await.upstream_task_id.unwrap();
    let retouch = fake.retouch(&msg_id).unwrap();
    assert_eq!(retouch.media_code, "MT-PRESET-1");
    assert_eq!(retouch.media_data, "https://example.com/portrait.jpg", "the input goes as a URL Meitu fetches");
}

#[tokio::test]
async fn wrong_credentials_are_the_channels_fault_and_qps_limits_are_retried() {
    let fake = FakeYunxiu::start().await;
    let wrong = app_on(&fake, "not-the-secret", "MT-PRESET-1");
    let id = wrong.create_job(KEY_A, retouch_job()).await;
    wrong.drain().await;
    let job = wrong.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"], "Meitu Yunxiu: session or credentials refused", "{job}");
    assert!(!job.to_string().contains("not-the-secret"), "the secret never shows");

    let app = app_on(&fake, API_SECRET, "[busy] MT-PRESET-2");
    let id = app.create_job(KEY_A, retouch_job()).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "running", "a QPS limit is not a failure");
    run(&app).await;
    assert_eq!(app.job(KEY_A, &id).await["status"], "succeeded");
}

#[tokio::test]
async fn a_failed_retouch_fails_with_meitus_reason_and_a_lost_one_is_sent_again() {
    let fake = FakeYunxiu::start().await;
    let app = app_on(&fake, API_SECRET, "[fail] MT-PRESET-3");
    let id = app.create_job(KEY_A, retouch_job()).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("20008 UNSUITABLE_IMAGE"), "{job}");

    let app = app_on(&fake, API_SECRET, "[lost] MT-PRESET-4");
    let id = app.create_job(KEY_A, retouch_job()).await;
    run(&app).await;
    run(&app).await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let accepted = job["attempts"].as_array().unwrap().iter().filter(|a| a["outcome"] == "accepted").count();
    assert_eq!(accepted, 2, "sent again after Meitu lost it: {job}");
}

#[tokio::test]
async fn a_connection_test_tells_taken_keys_from_refused_ones() {
    let fake = FakeYunxiu::start().await;
    let taken = yunxiu(&fake.base_url, API_SECRET, "p").probe().await.unwrap();
    assert!(taken.accepted && taken.answer.contains("TASK_NOEXIST"), "{taken:?}");
    let refused = yunxiu(&fake.base_url, "not-the-secret", "p").probe().await.unwrap();
    assert!(!refused.accepted && refused.answer.contains("GATEWAY_AUTHORIZED_ERROR"), "{refused:?}");
}
