//! A fake of EvoLink's task API: bearer key checked (401 otherwise, in EvoLink's error shape);
//! a `[nsfw]` prompt is refused as `content_policy_violation`; tasks go pending → processing →
//! completed with `results` URLs that work once (they expire upstream); a `[overload]` prompt's
//! task fails with the retryable `service_unavailable`. Video tasks end with an MP4, image tasks
//! with a PNG.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const API_KEY: &str = "sk-evo-test-key";

/// A task: its prompt, the polls so far, whether it makes a video.
type Task = (String, u32, bool);

#[derive(Clone, Default)]
struct Fake {
    tasks: Arc<Mutex<HashMap<String, Task>>>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    base_url: Arc<Mutex<String>>,
    /// The bodies of the tasks it took, oldest first.
    requests: Arc<Mutex<Vec<Value>>>,
}

pub struct FakeEvoLink {
    pub base_url: String,
    fake: Fake,
}

impl FakeEvoLink {
    pub async fn start() -> Self {
        let fake = Fake::default();
        let app = Router::new()
            .route("/v1/images/generations", post(create))
            .route("/v1/videos/generations", post(create))
            .route("/v1/tasks/{id}", get(task))
            .route("/files/{name}", get(file))
            .with_state(fake.clone());
        let base_url = crate::serve(app).await;
        *fake.base_url.lock().unwrap() = base_url.clone();
        Self { base_url, fake }
    }

    /// Forgets every task it took (`GET /v1/tasks/{id}` answers 404 `resource_not_found`).
    pub fn forget_tasks(&self) {
        self.fake.tasks.lock().unwrap().clear();
    }

    /// How many tasks it took.
    pub fn tasks_created(&self) -> usize {
        self.fake.requests.lock().unwrap().len()
    }

    /// The bodies of the tasks it took, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.fake.requests.lock().unwrap().clone()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message, "type": "invalid_request_error"}})))
        .into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {API_KEY}"))
}

async fn create(
    State(fake): State<Fake>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "Invalid API key");
    }
    let prompt = body["prompt"].as_str().unwrap_or_default().to_owned();
    if prompt.contains("[nsfw]") {
        return error(StatusCode::BAD_REQUEST, "content_policy_violation", "The prompt violates the content policy");
    }
    let id = format!("task-unified-{}", ulid::Ulid::new().to_string().to_lowercase());
    let video = uri.path().contains("/videos/");
    fake.tasks.lock().unwrap().insert(id.clone(), (prompt, 0, video));
    fake.requests.lock().unwrap().push(body.clone());
    axum::Json(json!({"created": 1757156493, "id": id, "model": body["model"], "object": "image.generation.task",
                      "progress": 0, "status": "pending", "task_info": {"can_cancel": true, "estimated_time": 100},
                      "type": "image"}))
    .into_response()
}

async fn task(State(fake): State<Fake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "Invalid API key");
    }
    let (prompt, polls, video) = {
        let mut tasks = fake.tasks.lock().unwrap();
        let Some((prompt, polls, video)) = tasks.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "resource_not_found", "Task not found");
        };
        *polls += 1;
        (prompt.clone(), *polls, *video)
    };
    let mut answer = json!({"id": id, "object": "image.generation.task", "type": "image", "progress": 40,
                            "status": "processing"});
    if polls >= 2 {
        if prompt.contains("[overload]") {
            answer["status"] = json!("failed");
            answer["error"] = json!({"code": "service_unavailable", "message": "Upstream overloaded"});
        } else {
            let (name, file) = match video {
                true => (format!("{id}.mp4"), genrelay_providers::mock::render_mp4(&prompt, 64, 36, 1)),
                false => (format!("{id}.png"), genrelay_providers::mock::render_png(&prompt, 80, 48)),
            };
            if polls == 2 {
                // Published once; the link then expires (here: after its first download).
                fake.files.lock().unwrap().insert(name.clone(), file);
            }
            answer["status"] = json!("completed");
            answer["progress"] = json!(100);
            answer["results"] = json!([format!("{}/files/{name}", fake.base_url.lock().unwrap())]);
        }
    }
    axum::Json(answer).into_response()
}

async fn file(State(fake): State<Fake>, Path(name): Path<String>) -> Response {
    // Result URLs expire: each works once here.
    match fake.files.lock().unwrap().remove(&name) {
        Some(file) => {
            let content_type = if name.ends_with(".mp4") { "video/mp4" } else { "image/png" };
            ([(header::CONTENT_TYPE, content_type)], file).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
