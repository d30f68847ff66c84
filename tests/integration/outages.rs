//! A dependency that is unavailable (throttled, timed out, busy) is answered, not hidden: 503
//! with `Retry-After` on every surface, in that surface's own format, the cause in the log
//! only; nothing is half-written; and a queue that is down loses no job.

use axum::http::{StatusCode, header};
use genrelay_core::ports::Role;
use serde_json::json;

use genrelay_tests::app::{KEY_A, TestApp, tiny_png};
use genrelay_tests::outage::{Outage, Part};

use crate::routes::{Call, Caller, Surface, call, upload};

impl Call {
    /// Sends the call and checks the answer is a 503 as the module's note says.
    async fn check_unavailable(&self, app: &TestApp, cookie: &str) {
        let caller = match self.surface {
            Surface::BackOffice => Caller::operator(cookie),
            _ => Caller::client(KEY_A),
        };
        let (status, headers, body) = self.send(app, caller).await;
        let route = self.route();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{route}: {body}");
        let retry_after = headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        assert!(retry_after.is_some_and(|seconds| seconds > 0), "{route}: Retry-After in seconds, got {headers:?}");
        assert!(self.surface.is_error_answer(status, &body), "{route}: not the surface's format: {body}");
        let text = body.to_string();
        assert!(!text.contains("injected"), "{route}: the cause is for the log only: {body}");
        assert!(
            !text.contains("not found") && !text.contains("不存在"),
            "{route}: a failing store is not a missing task"
        );
    }
}

/// A client's job that has ended with an output, and one of its input assets, made while
/// everything is up; and a signed-in operator's cookie.
async fn seeded(app: &TestApp) -> (String, String, String, String) {
    let (status, asset) = app.upload(KEY_A, "in.png", "image/png", &tiny_png()).await;
    assert_eq!(status, StatusCode::CREATED, "{asset}");
    let job = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a cat"})).await;
    app.drain().await;
    let ended = app.job(KEY_A, &job).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let output = ended["outputAssetIds"][0].as_str().unwrap().to_owned();
    app.add_back_office_user("ops", Role::Admin, "a long password").await;
    let cookie = app.sign_in(("ops", "a long password")).await;
    (job, asset["asset"]["id"].as_str().unwrap().to_owned(), output, cookie)
}

#[tokio::test]
async fn an_unavailable_store_is_a_503_with_retry_after_on_every_surface_and_nothing_is_half_written() {
    let outage = Outage::default();
    let app = TestApp::with_outage(&outage);
    let (job, asset, _, cookie) = seeded(&app).await;
    let (_, before) = app.get("/api/v1/assets", KEY_A).await;
    let files_before = app.stored_files();
    outage.take_down(Part::Store);
    let create = json!({"capability": "image.generate", "prompt": "a dog"});
    let calls = [
        call("POST", "/api/v1/jobs", Some(create)),
        call("GET", "/api/v1/jobs", None),
        call("GET", format!("/api/v1/jobs/{job}"), None),
        call("POST", format!("/api/v1/jobs/{job}/cancel"), None),
        call("GET", format!("/api/v1/jobs/{job}/webhook-deliveries"), None),
        call("GET", "/api/v1/assets", None),
        call("GET", format!("/api/v1/assets/{asset}"), None),
        call("GET", format!("/api/v1/assets/{asset}/download"), None),
        call("POST", "/api/v1/assets/uploads", Some(json!({"name": "b.png"}))),
        upload(),
        call("POST", "/ps_tasks/submit", Some(json!({"image_url": "https://e.com/a.png", "prompt": "x"}))),
        call("GET", format!("/ps_tasks/result/{job}"), None),
        call("POST", "/v1/async/images/generations", Some(json!({"model": "jimeng-4.5", "prompt": "x"}))),
        call("GET", format!("/v1/async/tasks/{job}"), None),
        call("POST", "/api/inference?index=1", None),
        call("GET", format!("/api/task/{job}/status"), None),
        call("GET", "/api/tasks", None),
        call("GET", "/admin/ai/api/tasks", None),
        call("GET", format!("/admin/ai/api/tasks/{job}"), None),
        call("POST", format!("/admin/ai/api/tasks/{job}/retry"), None),
    ];
    for call in &calls {
        call.check_unavailable(&app, &cookie).await;
    }

    outage.restore(Part::Store);
    let (_, jobs) = app.get("/api/v1/jobs", KEY_A).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "no job was written: {jobs}");
    assert_eq!(app.get("/api/v1/assets", KEY_A).await.1, before, "no asset was written");
    assert_eq!(app.stored_files(), files_before, "no file was left without its record");
    assert_eq!(app.job(KEY_A, &job).await["status"], "succeeded", "the cancel did not half-happen");
}

#[tokio::test]
async fn an_unavailable_blob_store_is_a_503_with_retry_after_and_nothing_is_half_written() {
    let outage = Outage::default();
    let app = TestApp::with_outage(&outage);
    let (job, asset, output, cookie) = seeded(&app).await;
    let (_, before) = app.get("/api/v1/assets", KEY_A).await;
    let (_, output_asset) = app.get(&format!("/api/v1/assets/{output}"), KEY_A).await;
    let output_name = output_asset["asset"]["name"].as_str().unwrap().to_owned();
    let files_before = app.stored_files();
    outage.take_down(Part::Blobs);
    let calls = [
        upload(),
        call("POST", "/api/v1/assets/uploads", Some(json!({"name": "b.png"}))),
        call("GET", format!("/api/v1/assets/{asset}/download"), None),
        call("GET", format!("/api/v1/assets/{output}/download"), None),
        call("GET", format!("/api/task/{job}/file/{output_name}"), None),
        call("GET", format!("/admin/ai/api/tasks/{job}/files/{output}"), None),
    ];
    for call in &calls {
        call.check_unavailable(&app, &cookie).await;
    }

    outage.restore(Part::Blobs);
    assert_eq!(app.get("/api/v1/assets", KEY_A).await.1, before, "no asset record without its file");
    assert_eq!(app.stored_files(), files_before);
}

/// A job whose dispatch fails is still accepted (it is stored): the reconciler dispatches it
/// once the queue is back, and it ends.
#[tokio::test]
async fn an_unavailable_queue_loses_no_job() {
    let outage = Outage::default();
    let app = TestApp::with_outage(&outage);
    outage.take_down(Part::Queue);
    let job = app.create_job(KEY_A, json!({"capability": "image.generate", "prompt": "a cat"})).await;
    assert_eq!(app.job(KEY_A, &job).await["status"], "queued");
    assert!(app.engine.work_dispatch_queue(10, std::time::Duration::from_secs(60)).await.is_err(), "the queue is down");

    outage.restore(Part::Queue);
    app.clock.advance(std::time::Duration::from_secs(600));
    app.engine.reconcile(10).await.unwrap();
    app.drain().await;
    assert_eq!(app.job(KEY_A, &job).await["status"], "succeeded");
}
