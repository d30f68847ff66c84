//! A fake of Meitu's Yunxiu retouching API, as seed 000's original calls it: every answer is
//! HTTP 200 with `{code, message, data, request_id}`; the key and secret travel in the JSON body
//! and are checked (90002 `GATEWAY_AUTHORIZED_ERROR` otherwise); a submit without `media_code`
//! or `media_data` is 10000; a preset code containing `[busy]` is refused once with 90024
//! (`GATEWAY_QPS_LIMIT`, as parallel submits are); `/openapi/query` answers code 0 without
//! `media_data` while the task runs, then its result's URL (which works once); `[fail]` ends with
//! 20008 `UNSUITABLE_IMAGE`; `[lost]` is lost once (10004 `TASK_NOEXIST`), as is any `msg_id` it
//! never gave.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const API_KEY: &str = "yunxiu-test-key";
pub const API_SECRET: &str = "yunxiu-test-secret";

/// A retouch the fake took: its preset code and input URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retouch {
    pub media_code: String,
    pub media_data: String,
    polls: u32,
}

#[derive(Clone, Default)]
struct Fake {
    tasks: Arc<Mutex<HashMap<String, Retouch>>>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    base_url: Arc<Mutex<String>>,
    /// Preset codes refused or lost once already.
    once: Arc<Mutex<HashSet<String>>>,
}

pub struct FakeYunxiu {
    pub base_url: String,
    fake: Fake,
}

impl FakeYunxiu {
    pub async fn start() -> Self {
        let fake = Fake::default();
        let app = Router::new()
            .route("/openapi/realphotolocal_async", post(submit))
            .route("/openapi/super_realphotolocal_async", post(submit))
            .route("/openapi/query", post(query))
            .route("/results/{name}", get(result_file))
            .with_state(fake.clone());
        let base_url = crate::serve(app).await;
        *fake.base_url.lock().unwrap() = base_url.clone();
        Self { base_url, fake }
    }

    /// The retouch behind `msg_id`.
    pub fn retouch(&self, msg_id: &str) -> Option<Retouch> {
        self.fake.tasks.lock().unwrap().get(msg_id).cloned()
    }
}

fn envelope(code: i64, message: &str, data: Value) -> Response {
    let request_id = ulid::Ulid::new().to_string().to_lowercase();
    axum::Json(json!({"code": code, "message": message, "data": data, "request_id": request_id})).into_response()
}

fn authorized(body: &Value) -> bool {
    body["api_key"] == API_KEY && body["api_secret"] == API_SECRET
}

async fn submit(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> Response {
    if !authorized(&body) {
        return envelope(90002, "GATEWAY_AUTHORIZED_ERROR", Value::Null);
    }
    let (Some(media_code), Some(media_data)) = (body["media_code"].as_str(), body["media_data"].as_str()) else {
        return envelope(10000, "INVALID_PARAMETER", Value::Null);
    };
    if media_code.contains("[busy]") && fake.once.lock().unwrap().insert(format!("busy {media_code}")) {
        return envelope(90024, "GATEWAY_QPS_LIMIT", Value::Null);
    }
    let msg_id = format!("yx-{}", ulid::Ulid::new().to_string().to_lowercase());
    let retouch = Retouch { media_code: media_code.to_owned(), media_data: media_data.to_owned(), polls: 0 };
    fake.tasks.lock().unwrap().insert(msg_id.clone(), retouch);
    envelope(0, "success", json!({"msg_id": msg_id}))
}

async fn query(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> Response {
    if !authorized(&body) {
        return envelope(90002, "GATEWAY_AUTHORIZED_ERROR", Value::Null);
    }
    let msg_id = body["msg_id"].as_str().unwrap_or_default().to_owned();
    let mut tasks = fake.tasks.lock().unwrap();
    let Some(task) = tasks.get_mut(&msg_id) else {
        return envelope(10004, "TASK_NOEXIST", Value::Null);
    };
    task.polls += 1;
    if task.media_code.contains("[lost]") && fake.once.lock().unwrap().insert(format!("lost {}", task.media_code)) {
        tasks.remove(&msg_id);
        return envelope(10004, "TASK_NOEXIST", Value::Null);
    }
    if task.polls == 1 {
        return envelope(0, "success", json!({"msg_id": msg_id}));
    }
    if task.media_code.contains("[fail]") {
        return envelope(20008, "UNSUITABLE_IMAGE", Value::Null);
    }
    let name = format!("{msg_id}.png");
    let png = genrelay_providers::mock::render_png(&format!("retouched {}", task.media_code), 40, 56);
    fake.files.lock().unwrap().insert(name.clone(), png);
    let url = format!("{}/results/{name}", fake.base_url.lock().unwrap());
    envelope(0, "success", json!({"msg_id": msg_id, "media_data": url}))
}

async fn result_file(State(fake): State<Fake>, Path(name): Path<String>) -> Response {
    match fake.files.lock().unwrap().remove(&name) {
        Some(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        None => (StatusCode::FORBIDDEN, "expired").into_response(),
    }
}
