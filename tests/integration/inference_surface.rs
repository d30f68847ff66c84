//! Seed 003's surface on the engine: presets and the pending queue's limit. (Its examples are
//! replayed against `genrelay-dev` in `functions/dev/tests/seeds.rs`.)

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use genrelay_http::inference::InferencePresets;
use genrelay_http::{ApiKeys, AppState};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{API_KEYS, KEY_A, TestApp, json_of};

async fn submit(app: &TestApp, presets: &InferencePresets, index: &str) -> (StatusCode, Value) {
    let state = AppState { engine: app.engine.clone(), keys: Arc::new(ApiKeys::parse(API_KEYS).unwrap()) };
    let router = genrelay_http::inference_router(state, presets.clone());
    let request = Request::post(format!("/api/inference?index={index}"))
        .header("authorization", format!("Bearer {KEY_A}"))
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    (status, json_of(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()))
}

#[tokio::test]
async fn a_full_pending_queue_answers_503_and_presets_are_configurable() {
    let app = TestApp::new();
    let presets = InferencePresets::from_json(
        r#"{"7": {"capability": "image.generate", "prompt": "preset seven", "width": 128, "height": 128}}"#,
        1,
    )
    .unwrap();
    assert_eq!(submit(&app, &presets, "7").await.0, StatusCode::OK);
    assert_eq!(submit(&app, &presets, "7").await.0, StatusCode::OK, "one pending is within the limit");
    let (status, body) = submit(&app, &presets, "7").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("pending"));
    let (status, body) = submit(&app, &presets, "1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("configured: 7"), "{body}");

    app.drain().await;
    let jobs = app.get("/api/v1/jobs", KEY_A).await.1;
    let job = &jobs["jobs"][0];
    assert_eq!((job["prompt"].as_str(), &job["params"]["width"]), (Some("preset seven"), &serde_json::json!(128)));

    let broken = InferencePresets::from_json(r#"{"1": {"capability": "image.generate"}}"#, 1).unwrap_err();
    assert!(broken.contains("index 1") && broken.contains("prompt"), "{broken}");
    assert!(InferencePresets::from_json(r#"{"0": {}}"#, 1).unwrap_err().contains("index >= 1"));
}
