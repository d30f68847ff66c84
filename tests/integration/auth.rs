use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp};

const PROTECTED: [(&str, &str); 9] = [
    ("GET", "/api/v1/capabilities"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/job_01jsample0000000000000000"),
    ("POST", "/api/v1/jobs/job_01jsample0000000000000000/cancel"),
    ("POST", "/api/v1/assets"),
    ("GET", "/api/v1/assets"),
    ("GET", "/api/v1/assets/asset_01jsample000000000000000"),
    ("GET", "/api/v1/assets/asset_01jsample000000000000000/download"),
];

#[tokio::test]
async fn every_route_but_openapi_needs_a_valid_key() {
    let app = TestApp::new();
    for (method, path) in PROTECTED {
        for key in [None, Some("wrong-key")] {
            let body = (method == "POST").then(|| json!({"capability": "image.generate", "prompt": "x"}));
            let (status, answer) = app.call(method, path, key, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {key:?}");
            assert_eq!(answer, json!({"error": "Invalid API key."}));
        }
    }
}

#[tokio::test]
async fn x_zhinian_api_key_header_authenticates_too() {
    let app = TestApp::new();
    let request = Request::get("/api/v1/capabilities").header("X-Zhinian-Api-Key", KEY_A).body(Body::empty()).unwrap();
    let (status, _, _) = app.send(request).await;
    assert_eq!(status, StatusCode::OK);
    let request = Request::get("/api/v1/capabilities")
        .header("Authorization", format!("bearer {KEY_A}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.0, StatusCode::OK, "the scheme is case-insensitive");
}

#[tokio::test]
async fn a_bad_request_without_key_is_still_401() {
    let app = TestApp::new();
    let (status, _) = app.call("POST", "/api/v1/jobs", None, Some(json!({"capability": "nope"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_api_key_header_counts_beside_another_apis_authorization() {
    // A seed 002 client keeps sending its session id as a bearer token; genrelay's key rides
    // in X-Zhinian-Api-Key (or a second Authorization header).
    let app = TestApp::new();
    let request = Request::get("/api/v1/capabilities")
        .header("authorization", "Bearer YOUR_SESSION_ID")
        .header("x-zhinian-api-key", KEY_A)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.0, StatusCode::OK);
    let request = Request::get("/api/v1/capabilities")
        .header("authorization", "Bearer YOUR_SESSION_ID")
        .header("authorization", format!("Bearer {KEY_A}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.0, StatusCode::OK);
}
