use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;

use crate::jobs::seed_examples;
use genrelay_tests::app::{KEY_A, KEY_B, TestApp, json_of};

async fn create_with_key(app: &TestApp, api_key: &str, key: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::post("/api/v1/jobs")
        .header(header::AUTHORIZATION, format!("Bearer {api_key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", key)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let (status, _, bytes) = app.send(request).await;
    (status, json_of(&bytes))
}

#[tokio::test]
async fn duplicate_idempotency_key_returns_existing_job() {
    let app = TestApp::new();
    let body = seed_examples()[0].to_string();
    let (status, first) = create_with_key(&app, KEY_A, "demo-job-001", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(first["reused"], false);
    // The same body with other formatting and key order is the same request.
    let reordered = serde_json::to_string_pretty(&seed_examples()[0]).unwrap();
    let (status, second) = create_with_key(&app, KEY_A, "demo-job-001", &reordered).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["reused"], true);
    assert_eq!(second["job"]["id"], first["job"]["id"]);
}

#[tokio::test]
async fn same_key_with_a_different_body_is_409() {
    let app = TestApp::new();
    create_with_key(&app, KEY_A, "k1", &seed_examples()[0].to_string()).await;
    let (status, answer) = create_with_key(&app, KEY_A, "k1", &seed_examples()[1].to_string()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer["error"].as_str().unwrap().contains("Idempotency-Key"));
}

#[tokio::test]
async fn keys_belong_to_one_client() {
    let app = TestApp::new();
    let body = seed_examples()[0].to_string();
    let (_, a) = create_with_key(&app, KEY_A, "shared", &body).await;
    let (status, b) = create_with_key(&app, KEY_B, "shared", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_ne!(a["job"]["id"], b["job"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_identical_requests_make_exactly_one_job() {
    let app = Arc::new(TestApp::new());
    let body = seed_examples()[4].to_string();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (app, body) = (app.clone(), body.clone());
        tasks.push(tokio::spawn(async move { create_with_key(&app, KEY_A, "burst", &body).await }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let (status, answer) = task.await.unwrap();
        assert!(status == StatusCode::ACCEPTED || status == StatusCode::OK, "{status} {answer}");
        created += usize::from(status == StatusCode::ACCEPTED);
        ids.push(answer["job"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let (_, list) = app.get("/api/v1/jobs?limit=200", KEY_A).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn keys_expire_after_24_hours() {
    let app = TestApp::new();
    let body = seed_examples()[0].to_string();
    let (_, first) = create_with_key(&app, KEY_A, "daily", &body).await;
    app.clock.advance(Duration::from_secs(23 * 3600));
    let (status, _) = create_with_key(&app, KEY_A, "daily", &body).await;
    assert_eq!(status, StatusCode::OK, "still remembered after 23 h");
    app.clock.advance(Duration::from_secs(3600));
    let (status, again) = create_with_key(&app, KEY_A, "daily", &seed_examples()[1].to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "forgotten after 24 h: {again}");
    assert_ne!(again["job"]["id"], first["job"]["id"]);
}

#[tokio::test]
async fn a_malformed_key_is_400() {
    let app = TestApp::new();
    let (status, answer) = create_with_key(&app, KEY_A, &"k".repeat(300), &seed_examples()[0].to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("Idempotency-Key"));
}
