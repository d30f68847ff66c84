//! Every sample event under `events/` (the files `cargo lambda invoke` replays) fed to its
//! function's router through `lambda_http`, as API Gateway would deliver it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use genrelay_core::ports::{AssetStore, BlobStore, JobStore};
use genrelay_core::{Asset, AssetId, AssetKind, AssetSource, AssetStatus, BlobKey};
use genrelay_http::inference::InferencePresets;
use genrelay_http::{ApiKeys, AppState};
use tower::ServiceExt;

use genrelay_tests::app::{API_KEYS, TestApp, sample_job, tiny_png};

const SAMPLE_ASSET: &str = "asset_01jsample000000000000000";

/// Each sample event and the status its function answers.
const EXPECTED: [(&str, u16); 31] = [
    ("api-meta/get-openapi.json", 200),
    ("api-meta/list-capabilities.json", 200),
    ("api-docs/page.json", 200),
    ("api-docs/document.json", 200),
    ("api-jobs/create-job.json", 202),
    ("api-jobs/get-job.json", 200),
    ("api-jobs/list-jobs.json", 200),
    ("api-jobs/cancel-job.json", 200),
    ("api-jobs/list-webhook-deliveries.json", 200),
    // The sample job has no webhook: nothing to send again.
    ("api-jobs/redeliver-webhooks.json", 409),
    ("api-assets/upload-asset.json", 201),
    ("api-assets/register-url-asset.json", 201),
    ("api-assets/get-asset.json", 200),
    ("api-assets/download-asset.json", 302),
    ("api-assets/list-assets.json", 200),
    ("api-assets/start-upload.json", 201),
    ("api-assets/complete-upload.json", 200),
    ("api-inference/submit-inference.json", 200),
    ("api-inference/task-status.json", 200),
    // The sample job is queued: the seed's "not completed" answer.
    ("api-inference/task-result.json", 200),
    ("api-inference/task-file.json", 404),
    ("api-inference/list-tasks.json", 200),
    ("api-inference/system-status.json", 200),
    ("api-inference/health.json", 200),
    ("api-ps-tasks/submit-task.json", 200),
    ("api-ps-tasks/task-result.json", 200),
    ("api-jimeng-async/image-generations.json", 200),
    ("api-jimeng-async/image-compositions.json", 200),
    ("api-jimeng-async/video-generations.json", 200),
    ("api-jimeng-async/query-task.json", 200),
    ("api-jimeng-async/get-task.json", 200),
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The router of the function a sample event belongs to (its folder names the function).
fn function_router(function: &str, state: AppState) -> Router {
    match function {
        "api-jobs" => genrelay_http::jobs_router(state),
        "api-assets" => genrelay_http::assets_router(state),
        "api-meta" => genrelay_http::meta_router(state),
        "api-docs" => genrelay_docs::router(),
        "api-ps-tasks" => genrelay_http::ps_tasks_router(state),
        "api-jimeng-async" => genrelay_http::jimeng_async_router(state),
        "api-inference" => genrelay_http::inference_router(state, InferencePresets::defaults()),
        other => panic!("events/{other} matches no function"),
    }
}

/// The job and asset the sample events refer to.
async fn seed_fixtures(app: &TestApp) {
    let job = sample_job();
    let client = job.client_id.clone();
    app.embedded.store.create(&job, None).await.unwrap();

    let id = AssetId::parse(SAMPLE_ASSET).unwrap();
    let png = tiny_png();
    let key = BlobKey::for_asset(AssetSource::Upload, &client, &id, "reference.png");
    app.embedded.blobs.put(&key, png.clone(), "image/png").await.unwrap();
    let asset = Asset {
        id,
        client_id: client,
        kind: AssetKind::Image,
        source: AssetSource::Upload,
        name: "reference.png".into(),
        content_type: "image/png".into(),
        size: Some(png.len() as u64),
        sha256: None,
        url: None,
        blob_key: Some(key),
        job_id: None,
        status: AssetStatus::Ready,
        created_at: job.created_at,
    };
    app.embedded.store.insert(&[asset]).await.unwrap();
}

#[tokio::test]
async fn every_sample_event_is_answered_by_its_function() {
    let mut files: Vec<String> = Vec::new();
    let http_functions = std::fs::read_dir(events_dir()).unwrap().flatten();
    for function in http_functions.filter(|e| e.file_name().to_string_lossy().starts_with("api-")) {
        for event in std::fs::read_dir(function.path()).unwrap().flatten() {
            files.push(format!("{}/{}", function.file_name().to_string_lossy(), event.file_name().to_string_lossy()));
        }
    }
    files.sort();
    let mut expected: Vec<String> = EXPECTED.iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    assert_eq!(files, expected, "every sample event has an expected status, and every expected event exists");

    for (file, status) in EXPECTED {
        let app = TestApp::new();
        seed_fixtures(&app).await;
        let state = AppState { engine: app.engine.clone(), keys: Arc::new(ApiKeys::parse(API_KEYS).unwrap()) };
        let function = file.split('/').next().unwrap();
        let event = std::fs::read_to_string(events_dir().join(file)).unwrap();
        let request = lambda_http::request::from_str(&event).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = function_router(function, state).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(parts.status.as_u16(), status, "{file}: {}", String::from_utf8_lossy(&body));
    }
}
