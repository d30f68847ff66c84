//! AWS throttling and server-side failures reach clients as 503 with `Retry-After`, through the
//! real SDK clients and the AWS adapters: a stand-in endpoint answers every DynamoDB call as a
//! table over its throughput does, and every other call as S3 does when it asks callers to slow
//! down. (moto never throttles.)

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::IntoResponse;
use genrelay_core::BlobKey;
use genrelay_core::ports::{BlobStore, DispatchMessage, DispatchQueue};
use genrelay_http::{ApiKeys, AppState};
use serde_json::{Value, json};
use tower::ServiceExt;

use genrelay_tests::app::{API_KEYS, KEY_A, json_of};
use genrelay_tests::moto;

/// Answers as throttled AWS does: DynamoDB's ProvisionedThroughputExceededException (400),
/// S3's SlowDown (503) for everything else.
async fn throttling_aws() -> String {
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let target = headers.get("x-amz-target").and_then(|t| t.to_str().ok()).unwrap_or_default();
        if target.starts_with("DynamoDB") {
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                           "message":"The level of configured provisioned throughput for the table was exceeded."}"#;
            (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/x-amz-json-1.0")], body).into_response()
        } else {
            let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
        }
    });
    genrelay_tests::serve(app).await
}

async fn clients_of(endpoint: &str) -> genrelay_aws::AwsClients {
    // One attempt: what is tested is how a throttled answer is reported, not the retries.
    let sdk = moto::sdk_config_of(endpoint).retry_config(RetryConfig::disabled()).load().await;
    genrelay_aws::AwsClients::new(&sdk)
}

#[tokio::test]
async fn throttled_aws_is_a_503_with_retry_after_through_the_real_adapters() {
    let endpoint = throttling_aws().await;
    let clients = clients_of(&endpoint).await;
    let resources = genrelay_aws::AwsResources {
        table: "genrelay".into(),
        bucket: "genrelay".into(),
        dispatch_queue_url: format!("{endpoint}/000000000000/dispatch"),
        priority_queue_url: format!("{endpoint}/000000000000/priority"),
        webhook_queue_url: None,
    };

    let blobs = genrelay_aws::S3BlobStore::new(clients.s3.clone(), &resources.bucket);
    let stored = blobs
        .put(
            &BlobKey::parse("outputs/partner-a/asset_01jsample000000000000000/a.png").unwrap(),
            b"png".to_vec(),
            "image/png",
        )
        .await;
    assert!(matches!(stored, Err(genrelay_core::Error::Unavailable(_))), "S3 SlowDown: {stored:?}");
    let queue = genrelay_aws::SqsQueue::new(clients.sqs.clone(), &resources.dispatch_queue_url);
    let message = DispatchMessage {
        job_id: genrelay_core::JobId::parse("job_01jsample0000000000000000").unwrap(),
        client_id: genrelay_core::ClientId::parse("partner-a").unwrap(),
    };
    let sent = queue.send(&message).await;
    assert!(matches!(sent, Err(genrelay_core::Error::Unavailable(_))), "SQS failing server-side: {sent:?}");

    let engine = genrelay_bootstrap::aws_engine(
        &clients,
        &resources,
        None,
        Some(Default::default()),
        Default::default(),
        &genrelay_egress::Egress::public_only(),
        Default::default(),
    );
    let state = AppState { engine: Arc::new(engine), keys: Arc::new(ApiKeys::parse(API_KEYS).unwrap()) };
    let job = "job_01jsample0000000000000000";
    let calls: [(axum::Router, &str, String, Option<Value>); 5] = [
        (genrelay_http::open_api_router(state.clone()), "GET", format!("/api/v1/jobs/{job}"), None),
        (
            genrelay_http::open_api_router(state.clone()),
            "POST",
            "/api/v1/jobs".into(),
            Some(json!({"capability": "image.generate", "prompt": "x"})),
        ),
        (genrelay_http::open_api_router(state.clone()), "GET", "/api/v1/assets".into(), None),
        (genrelay_http::ps_tasks_router(state.clone()), "GET", format!("/ps_tasks/result/{job}"), None),
        (genrelay_http::jimeng_async_router(state), "GET", format!("/v1/async/tasks/{job}"), None),
    ];
    for (router, method, path, body) in calls {
        let builder =
            Request::builder().method(method).uri(&path).header(header::AUTHORIZATION, format!("Bearer {KEY_A}"));
        let request = match body {
            Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        let response = router.oneshot(request.unwrap()).await.unwrap();
        let (status, retry_after) = (response.status(), response.headers().get(header::RETRY_AFTER).cloned());
        let body = json_of(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap());
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}: {body}");
        assert_eq!(retry_after.unwrap(), "5", "{method} {path}");
        assert!(!body.to_string().contains("Throughput"), "the cause goes to the log only: {body}");
    }
}
