//! A dependency that is unavailable (throttled, timed out, busy) is answered, not hidden: 503
//! with `Retry-After` on every surface, in that surface's own format, the cause in the log
//! only; nothing is half-written; and a queue that is down loses no job.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use genrelay_core::ports::Role;
use genrelay_http::inference::InferencePresets;
use serde_json::{Value, json};
use tower::ServiceExt;

use genrelay_tests::app::{KEY_A, TestApp, json_of, multipart_request, tiny_png};
use genrelay_tests::outage::{Outage, Part};

use crate::surfaces::state;

/// The surface a route belongs to, and how its error body must look.
#[derive(Debug, Clone, Copy)]
enum Surface {
    OpenApi,
    PsTasks,
    Jimeng,
    Inference,
    BackOffice,
}

impl Surface {
    fn router(self, app: &TestApp) -> axum::Router {
        match self {
            Self::OpenApi | Self::BackOffice => app.router.clone(),
            Self::PsTasks => genrelay_http::ps_tasks_router(state(app)),
            Self::Jimeng => genrelay_http::jimeng_async_router(state(app)),
            Self::Inference => genrelay_http::inference_router(state(app), InferencePresets::defaults()),
        }
    }

    /// Whether `body` is this surface's error answer for a 503.
    fn is_unavailable_answer(self, body: &Value) -> bool {
        match self {
            Self::OpenApi => body["error"].is_string(),
            Self::PsTasks => body["code"] == 503 && body["msg"].is_string(),
            Self::Jimeng => body["error"]["message"].is_string() && body["error"]["code"] == "SERVICE_UNAVAILABLE",
            Self::Inference => body["detail"].is_string(),
            Self::BackOffice => body["status"] == "error" && body["message"].is_string(),
        }
    }
}

/// One call of a route: its surface, method, path and JSON body (or a multipart upload).
struct Call {
    surface: Surface,
    method: &'static str,
    path: String,
    body: Option<Value>,
    upload: bool,
}

fn call(surface: Surface, method: &'static str, path: impl Into<String>, body: Option<Value>) -> Call {
    Call { surface, method, path: path.into(), body, upload: false }
}

fn upload() -> Call {
    Call { upload: true, ..call(Surface::OpenApi, "POST", "/api/v1/assets", None) }
}

impl Call {
    async fn send(&self, app: &TestApp, cookie: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
        let request = if self.upload {
            multipart_request(KEY_A, &[("files", "in.png", "image/png", &tiny_png())])
        } else {
            let mut builder = Request::builder().method(self.method).uri(&self.path);
            builder = match self.surface {
                Surface::BackOffice => builder.header(header::COOKIE, cookie),
                _ => builder.header(header::AUTHORIZATION, format!("Bearer {KEY_A}")),
            };
            match &self.body {
                Some(body) => {
                    builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap()
                }
                None => builder.body(Body::empty()).unwrap(),
            }
        };
        let response = self.surface.router(app).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, json_of(&bytes))
    }

    /// Sends the call and checks the answer is a 503 as the module's note says.
    async fn check_unavailable(&self, app: &TestApp, cookie: &str) {
        let (status, headers, body) = self.send(app, cookie).await;
        let route = format!("{:?} {} {}", self.surface, self.method, self.path);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{route}: {body}");
        let retry_after = headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        assert!(retry_after.is_some_and(|seconds| seconds > 0), "{route}: Retry-After in seconds, got {headers:?}");
        assert!(self.surface.is_unavailable_answer(&body), "{route}: not the surface's format: {body}");
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
        call(Surface::OpenApi, "POST", "/api/v1/jobs", Some(create)),
        call(Surface::OpenApi, "GET", "/api/v1/jobs", None),
        call(Surface::OpenApi, "GET", format!("/api/v1/jobs/{job}"), None),
        call(Surface::OpenApi, "POST", format!("/api/v1/jobs/{job}/cancel"), None),
        call(Surface::OpenApi, "GET", format!("/api/v1/jobs/{job}/webhook-deliveries"), None),
        call(Surface::OpenApi, "GET", "/api/v1/assets", None),
        call(Surface::OpenApi, "GET", format!("/api/v1/assets/{asset}"), None),
        call(Surface::OpenApi, "GET", format!("/api/v1/assets/{asset}/download"), None),
        call(Surface::OpenApi, "POST", "/api/v1/assets/uploads", Some(json!({"name": "b.png"}))),
        upload(),
        call(
            Surface::PsTasks,
            "POST",
            "/ps_tasks/submit",
            Some(json!({"image_url": "https://e.com/a.png", "prompt": "x"})),
        ),
        call(Surface::PsTasks, "GET", format!("/ps_tasks/result/{job}"), None),
        call(
            Surface::Jimeng,
            "POST",
            "/v1/async/images/generations",
            Some(json!({"model": "jimeng-4.5", "prompt": "x"})),
        ),
        call(Surface::Jimeng, "GET", format!("/v1/async/tasks/{job}"), None),
        call(Surface::Inference, "POST", "/api/inference?index=1", None),
        call(Surface::Inference, "GET", format!("/api/task/{job}/status"), None),
        call(Surface::Inference, "GET", "/api/tasks", None),
        call(Surface::BackOffice, "GET", "/admin/ai/api/tasks", None),
        call(Surface::BackOffice, "GET", format!("/admin/ai/api/tasks/{job}"), None),
        call(Surface::BackOffice, "POST", format!("/admin/ai/api/tasks/{job}/retry"), None),
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
        call(Surface::OpenApi, "POST", "/api/v1/assets/uploads", Some(json!({"name": "b.png"}))),
        call(Surface::OpenApi, "GET", format!("/api/v1/assets/{asset}/download"), None),
        call(Surface::OpenApi, "GET", format!("/api/v1/assets/{output}/download"), None),
        call(Surface::Inference, "GET", format!("/api/task/{job}/file/{output_name}"), None),
        call(Surface::BackOffice, "GET", format!("/admin/ai/api/tasks/{job}/files/{output}"), None),
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
