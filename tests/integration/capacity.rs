//! Over capacity: a client with as many unfinished jobs (queued or running) as the operator
//! allows (`GENRELAY_MAX_UNFINISHED_JOBS_PER_CLIENT`) is answered 429 with `Retry-After` on
//! every surface that creates jobs, in that surface's format, and nothing is written; other
//! clients are not held back, and a job that ends makes room.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use genrelay_engine::Settings;
use genrelay_providers::MockConfig;
use serde_json::json;

use genrelay_tests::app::{FilePart, KEY_A, KEY_B, TestApp, multipart_request, tiny_png};

use crate::routes::{Caller, Surface, call};

/// At most 3 unfinished jobs per client; the mock takes a minute per job.
fn capped() -> TestApp {
    let mock = MockConfig { latency: Duration::from_secs(60), failure_rate: 0.0 };
    TestApp::with_settings(mock, Settings { max_unfinished_per_client: Some(3), ..Settings::default() })
}

fn image() -> serde_json::Value {
    json!({"capability": "image.generate", "prompt": "a lantern"})
}

#[tokio::test]
async fn a_client_at_its_limit_is_told_to_wait_on_every_surface_and_nothing_is_written() {
    let app = capped();
    let running = app.create_job(KEY_A, image()).await;
    app.drain().await;
    assert_eq!(app.job(KEY_A, &running).await["status"], "running");
    let queued = app.create_job(KEY_A, image()).await;
    app.create_job(KEY_A, image()).await;

    let creates = [
        call("POST", "/api/v1/jobs", Some(image())),
        call("POST", "/ps_tasks/submit", Some(json!({"image_url": "https://e.com/a.png", "prompt": "x"}))),
        call("POST", "/v1/async/images/generations", Some(json!({"model": "jimeng-4.5", "prompt": "x"}))),
        call("POST", "/api/inference?index=1", None),
    ];
    for create in &creates {
        let (status, headers, body) = create.send(&app, Caller::client(KEY_A)).await;
        let route = create.route();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{route}: {body}");
        assert_eq!(headers[header::RETRY_AFTER], "30", "{route}");
        assert!(create.surface.is_error_answer(status, &body), "{route}: not the surface's format: {body}");
        assert!(body.to_string().contains("3 unfinished jobs"), "{route}: says why: {body}");
    }
    // Seed 002's images as files are refused before they are stored.
    let parts: [FilePart; 3] = [
        ("prompt", "prompt.txt", "text/plain", b"x"),
        ("model", "model.txt", "text/plain", b"jimeng-4.5"),
        ("images", "a.png", "image/png", &tiny_png()),
    ];
    let mut request = multipart_request(KEY_A, &parts);
    *request.uri_mut() = "/v1/async/images/compositions".parse().unwrap();
    let (status, _, body) = Surface::Jimeng.send(&app, request).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    let (_, listed) = app.get("/api/v1/jobs?limit=50", KEY_A).await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 3, "nothing written: {listed}");
    let (_, assets) = app.get("/api/v1/assets", KEY_A).await;
    assert_eq!((assets["assets"].as_array().unwrap().len(), app.stored_files()), (0, 0), "no file: {assets}");

    // Another client is not held back.
    let (status, _) = app.post("/api/v1/jobs", KEY_B, image()).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // A job that ends makes room.
    let (status, _) = app.post(&format!("/api/v1/jobs/{queued}/cancel"), KEY_A, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = creates[0].send(&app, Caller::client(KEY_A)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _, _) = creates[1].send(&app, Caller::client(KEY_A)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "full again");
}

#[tokio::test]
async fn without_a_limit_every_create_is_accepted() {
    let app =
        TestApp::with_settings(MockConfig { latency: Duration::from_secs(60), failure_rate: 0.0 }, Settings::default());
    for _ in 0..5 {
        app.create_job(KEY_A, image()).await;
    }
}

/// A client that lost the answer to an accepted create and sends it again with its
/// Idempotency-Key gets its job, even at its limit (that job is one of those counted).
#[tokio::test]
async fn a_retried_create_is_answered_with_its_job_even_at_the_limit() {
    let app = capped();
    let keyed = |key: &str| {
        Request::post("/api/v1/jobs")
            .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(Body::from(image().to_string()))
            .unwrap()
    };
    let (status, _, first) = Surface::OpenApi.send(&app, keyed("order-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    app.create_job(KEY_A, image()).await;
    app.create_job(KEY_A, image()).await;
    let (status, _, again) = Surface::OpenApi.send(&app, keyed("order-1")).await;
    assert_eq!((status, &again["job"]["id"], &again["reused"]), (StatusCode::OK, &first["job"]["id"], &json!(true)));
    let (status, _, refused) = Surface::OpenApi.send(&app, keyed("order-2")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a new key is a new job: {refused}");
}
