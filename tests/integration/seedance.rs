//! The Seedance (Volcengine Ark) adapter against its fake.

use std::sync::Arc;

use genrelay_providers::{Seedance, SeedanceConfig};
use genrelay_tests::fake_ark::{API_KEY, FakeArk};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, read_signed_url};

fn seedance(base_url: &str) -> Seedance {
    let config: SeedanceConfig = serde_json::from_value(json!({
        "baseUrl": format!("{base_url}/api/v3"), "apiKey": API_KEY, "model": "doubao-seedance-1-0-pro-250528",
        "firstPollMs": 0, "pollIntervalMs": 0
    }))
    .unwrap();
    Seedance::new("seedance", config)
}

#[tokio::test]
async fn a_video_task_runs_with_its_settings_and_the_mp4_is_rehosted() {
    let fake = FakeArk::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(seedance(&base)));
    let body = json!({
        "capability": "video.generate", "prompt": "生成一条 9:16 品牌短视频",
        "settings": {"ratio": "9:16", "duration": 5, "resolution": "720p"},
        "materials": [{"type": "image", "url": "https://example.com/product.png", "label": "@图片1"}]
    });
    let id = app.create_job(KEY_A, body).await;
    for _ in 0..4 {
        app.drain().await;
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, location) = app.download_redirect(KEY_A, job["outputAssetIds"][0].as_str().unwrap()).await;
    let (mp4, content_type) = read_signed_url(&app, &location).unwrap();
    assert_eq!((content_type.as_str(), &mp4[4..8]), ("video/mp4", b"ftyp".as_slice()));
    let sent = &fake.bodies()[0];
    assert_eq!(
        (sent["ratio"].as_str(), sent["duration"].as_u64(), sent["resolution"].as_str()),
        (Some("9:16"), Some(5), Some("720p"))
    );
    assert_eq!(sent["content"][1]["image_url"]["url"], "https://example.com/product.png");
    assert_eq!(sent["content"][1]["role"], "first_frame");
}

#[tokio::test]
async fn sensitive_content_fails_the_job_with_the_upstreams_reason() {
    let fake = FakeArk::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(seedance(&base)));
    let id = app.create_job(KEY_A, json!({"capability": "video.generate", "prompt": "[sensitive]"})).await;
    app.drain().await;
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("sensitive"), "{job}");
}

#[tokio::test]
async fn cancelling_a_queued_video_deletes_its_task() {
    let fake = FakeArk::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(seedance(&base)));
    let id = app.create_job(KEY_A, json!({"capability": "video.generate", "prompt": "x"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    let task_id = app.stored_job(&id).await.upstream_task_id.unwrap();
    assert!(!fake.is_gone(&task_id));
    app.post(&format!("/api/v1/jobs/{id}/cancel"), KEY_A, json!({})).await;
    assert!(fake.is_gone(&task_id), "the queued task was deleted upstream");
}

#[tokio::test]
async fn a_task_ark_no_longer_knows_is_submitted_again() {
    let fake = FakeArk::start().await;
    let base = fake.base_url.clone();
    let app = TestApp::with_provider(move |_, _| Arc::new(seedance(&base)));
    let id = app.create_job(KEY_A, json!({"capability": "video.generate", "prompt": "clouds"})).await;
    app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.unwrap();
    fake.forget_tasks();
    for _ in 0..4 {
        app.drain().await;
    }
    let job = app.job(KEY_A, &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"][1]["outcome"], "Seedance: lost the task: Ark does not know the task", "{job}");
}
