//! The Jimeng (jimeng-api) adapter against its fake, asynchronous and synchronous.

use std::sync::Arc;

use genrelay_providers::{Jimeng, JimengConfig};
use genrelay_tests::fake_jimeng::{FakeJimeng, SESSION_ID};
use serde_json::json;

use crate::support::{KEY_A, TestApp, png_size, read_signed_url};

fn jimeng(base_url: &str, session: &str, asynchronous: bool) -> Jimeng {
    let config: JimengConfig = serde_json::from_value(json!({
        "baseUrl": base_url, "sessionId": session, "async": asynchronous, "pollIntervalMs": 0,
        "models": {"image.generate": "jimeng-4.5", "video.generate": "jimeng-video-3.5-pro"}
    }))
    .unwrap();
    Jimeng::new("jimeng", config)
}

async fn finished(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    let id = app.create_job(KEY_A, body).await;
    for _ in 0..4 {
        app.drain().await;
    }
    app.job(KEY_A, &id).await
}

#[tokio::test]
async fn an_async_image_task_completes_with_ratio_and_strength_from_the_request() {
    let fake = FakeJimeng::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, true)));
    let job = finished(
        &app,
        json!({"capability": "image.generate", "prompt": "旅游海报", "width": 1440, "height": 2560, "scale": 50}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    assert_eq!(png_size(&read_signed_url(&app, &location).unwrap().0), (60, 60));
    let sent = &fake.bodies()[0];
    assert_eq!((sent["ratio"].as_str(), sent["sample_strength"].as_f64()), (Some("9:16"), Some(0.5)));
    assert!(sent["width"].is_null(), "jimeng-api refuses width and height");
}

#[tokio::test]
async fn the_synchronous_interface_finishes_at_submission() {
    let fake = FakeJimeng::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, false)));
    let id = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    assert_eq!(app.job(KEY_A, &id).await["status"], "succeeded", "no polling needed");
}

#[tokio::test]
async fn errors_in_200_bodies_are_classified() {
    let fake = FakeJimeng::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, SESSION_ID, true)));
    let job = finished(&app, json!({"capability": "image.generate", "prompt": "[filtered]"})).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("filtered"), "{job}");

    let base = fake.base_url.clone();
    let expired = TestApp::with_provider(move |_, _| Arc::new(jimeng(&base, "expired-session", true)));
    let id = expired.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "x"})).await;
    expired.drain().await;
    let job = expired.job(KEY_A, &id).await;
    assert_eq!(job["status"], "running", "an expired session is the channel's fault, retried: {job}");
    assert!(!job.to_string().contains("expired-session"), "the session id never shows");
}
