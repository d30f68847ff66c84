//! The seed surfaces' routers on the engine, for what their examples do not show: seed 003's
//! presets and queue limit, the shapes seed 002 and 001 clients also send, and each surface's
//! error format for routes it does not have. (The seeds' examples are replayed against
//! `genrelay-dev` in `functions/dev/tests/seeds.rs`.)

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use genrelay_http::inference::InferencePresets;
use genrelay_http::{ApiKeys, AppState};
use serde_json::Value;
use tower::ServiceExt;

use genrelay_tests::app::{API_KEYS, KEY_A, TestApp, json_of};

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

    let broken = InferencePresets::from_json(r#"{"1": {"capability": "image.generate"}}"#, 1).unwrap_err().to_string();
    assert!(broken.contains("index 1") && broken.contains("prompt"), "{broken}");
    assert!(InferencePresets::from_json(r#"{"0": {}}"#, 1).unwrap_err().to_string().contains("index >= 1"));
}

async fn call(router: axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    (status, json_of(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()))
}

pub fn state(app: &TestApp) -> AppState {
    AppState { engine: app.engine.clone(), keys: Arc::new(ApiKeys::parse(API_KEYS).unwrap()) }
}

fn post_json(path: &str, body: Value, content_type: Option<&str>) -> Request<Body> {
    let mut request = Request::post(path).header("authorization", format!("Bearer {KEY_A}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn jimeng_clients_may_send_image_objects_file_paths_and_string_durations() {
    let app = TestApp::new();
    let composition = serde_json::json!({"model": "jimeng-4.5", "prompt": "a cat",
                                          "images": [{"url": "https://example.com/a.png"}, "https://example.com/b.png"]});
    let (status, body) = call(
        genrelay_http::jimeng_async_router(state(&app)),
        post_json("/v1/async/images/compositions", composition, Some("application/json")),
    )
    .await;
    assert_eq!((status, &body["input_images"]), (StatusCode::OK, &serde_json::json!(2)), "{body}");
    let video = serde_json::json!({"model": "jimeng-video-3.0", "prompt": "a lion", "duration": "10",
                                    "filePaths": ["https://example.com/first.png"]});
    let (status, body) = call(
        genrelay_http::jimeng_async_router(state(&app)),
        post_json("/v1/async/videos/generations", video, Some("application/json")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job = app.stored_job(body["history_id"].as_str().unwrap()).await;
    assert_eq!(job.spec.inputs.image_urls, ["https://example.com/first.png"]);
    let genrelay_core::spec::Params::VideoGenerate(settings) = &job.spec.params else { panic!("a video") };
    assert_eq!((settings.duration, settings.ratio.as_str()), (10, "1:1"), "jimeng-api's default ratio");
}

#[tokio::test]
async fn ps_task_clients_may_omit_the_content_type_and_send_any_priority() {
    let app = TestApp::new();
    let body = serde_json::json!({"image_url": "https://example.com/a.png", "prompt": "x", "priority": 5000});
    let (status, answer) =
        call(genrelay_http::ps_tasks_router(state(&app)), post_json("/ps_tasks/submit", body, None)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let job = app.stored_job(answer["data"]["task_id"].as_str().unwrap()).await;
    assert_eq!(job.priority, genrelay_core::job::MAX_PRIORITY, "beyond the range means last");
    let (status, answer) = call(
        genrelay_http::ps_tasks_router(state(&app)),
        post_json("/ps_tasks/submit", serde_json::json!({}), Some("text/plain")),
    )
    .await;
    assert_eq!((status, &answer["code"]), (StatusCode::UNSUPPORTED_MEDIA_TYPE, &serde_json::json!(415)));
}

#[tokio::test]
async fn each_surface_answers_unknown_routes_and_methods_in_its_own_format() {
    let app = TestApp::new();
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let (status, body) = call(genrelay_http::ps_tasks_router(state(&app)), get("/ps_tasks/nothing")).await;
    assert_eq!(
        (status, &body["code"], &body["data"]),
        (StatusCode::NOT_FOUND, &serde_json::json!(404), &serde_json::json!({}))
    );
    let (status, body) = call(genrelay_http::ps_tasks_router(state(&app)), get("/ps_tasks/submit")).await;
    assert_eq!((status, &body["code"]), (StatusCode::METHOD_NOT_ALLOWED, &serde_json::json!(405)));
    let (status, body) = call(genrelay_http::jimeng_async_router(state(&app)), get("/v1/async/nothing")).await;
    assert_eq!((status, body["error"]["message"].is_string()), (StatusCode::NOT_FOUND, true));
    let presets = InferencePresets::defaults();
    let (status, body) = call(genrelay_http::inference_router(state(&app), presets), get("/api/nothing")).await;
    assert_eq!((status, body["detail"].is_string()), (StatusCode::NOT_FOUND, true));
}

/// With the mock switched off and no channel for a capability, each seed surface refuses the
/// job at creation in its own error format, and nothing is written.
#[tokio::test]
async fn a_capability_no_channel_serves_is_refused_in_each_surfaces_format() {
    let app = TestApp::without_mock(Vec::new());
    let body = serde_json::json!({"image_id": "img-1", "image_url": "https://e.com/a.png", "prompt": "x"});
    let (status, ps) =
        call(genrelay_http::ps_tasks_router(state(&app)), post_json("/ps_tasks/submit", body, None)).await;
    assert_eq!((status, ps["code"].clone()), (StatusCode::BAD_REQUEST, serde_json::json!(400)), "{ps}");
    assert!(ps["msg"].as_str().unwrap().contains("image.edit is not served by this deployment"), "{ps}");

    let body = serde_json::json!({"prompt": "x", "model": "jimeng-4.5"});
    let request = post_json("/v1/async/images/generations", body, Some("application/json"));
    let (status, jimeng) = call(genrelay_http::jimeng_async_router(state(&app)), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{jimeng}");
    assert!(jimeng["error"]["message"].as_str().unwrap().contains("image.generate is not served"), "{jimeng}");

    let (status, inference) = submit(&app, &InferencePresets::defaults(), "1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{inference}");
    assert!(inference["detail"].as_str().unwrap().contains("is not served"), "{inference}");
    let (_, jobs) = app.call("GET", "/api/v1/jobs", Some(KEY_A), None).await;
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "nothing written");
}
