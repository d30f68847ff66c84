//! A fake of Volcengine Ark's content generation tasks (Seedance): bearer key checked;
//! `queued` → `running` → `succeeded` with `content.video_url` (a real MP4); a prompt with
//! `[sensitive]` is refused with `InputTextSensitiveContentDetected`; records the bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const API_KEY: &str = "ark-test-key";

#[derive(Clone, Default)]
struct Fake {
    tasks: Arc<Mutex<HashMap<String, (Value, u32)>>>,
    base_url: Arc<Mutex<String>>,
}

pub struct FakeArk {
    pub base_url: String,
    tasks: Arc<Mutex<HashMap<String, (Value, u32)>>>,
}

impl FakeArk {
    pub async fn start() -> Self {
        let fake = Fake::default();
        let app = Router::new()
            .route("/api/v3/contents/generations/tasks", post(create).get(list))
            .route("/api/v3/contents/generations/tasks/{id}", get(task).delete(cancel))
            .route("/videos/{id}", get(video))
            .with_state(fake.clone());
        let base_url = crate::serve(app).await;
        *fake.base_url.lock().unwrap() = base_url.clone();
        Self { base_url, tasks: fake.tasks }
    }

    /// Whether the task is gone (cancelled while queued).
    pub fn is_gone(&self, id: &str) -> bool {
        !self.tasks.lock().unwrap().contains_key(id)
    }

    /// Forgets every task (a `GET` of one answers 404 `ResourceNotFound`).
    pub fn forget_tasks(&self) {
        self.tasks.lock().unwrap().clear();
    }

    /// The bodies of the tasks created so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.tasks.lock().unwrap().values().map(|(body, _)| body.clone()).collect()
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {API_KEY}"))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message, "type": "BadRequest"}}))).into_response()
}

async fn create(State(fake): State<Fake>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "AuthenticationError", "the API key is invalid");
    }
    if body["content"][0]["text"].as_str().unwrap_or_default().contains("[sensitive]") {
        return error(
            StatusCode::BAD_REQUEST,
            "InputTextSensitiveContentDetected",
            "The input text may contain sensitive information",
        );
    }
    let id = format!("cgt-{}", ulid::Ulid::new().to_string().to_lowercase());
    fake.tasks.lock().unwrap().insert(id.clone(), (body, 0));
    axum::Json(json!({"id": id})).into_response()
}

async fn task(State(fake): State<Fake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "AuthenticationError", "the API key is invalid");
    }
    let mut tasks = fake.tasks.lock().unwrap();
    let Some((body, polls)) = tasks.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "ResourceNotFound", "task not found");
    };
    *polls += 1;
    let status = match *polls {
        1 => "queued",
        2 => "running",
        _ => "succeeded",
    };
    let mut answer = json!({"id": id, "model": body["model"], "status": status, "created_at": 1, "updated_at": 2,
                            "ratio": body["ratio"], "duration": body["duration"], "resolution": body["resolution"]});
    if status == "succeeded" {
        answer["content"] =
            json!({"video_url": format!("{}/videos/{id}.mp4?X-Tos-Expires=86400", fake.base_url.lock().unwrap())});
        answer["usage"] = json!({"completion_tokens": 246840, "total_tokens": 246840});
    }
    axum::Json(answer).into_response()
}

async fn video(Path(id): Path<String>) -> Response {
    let mp4 = genrelay_providers::mock::render_mp4(&id, 64, 36, 1);
    ([(header::CONTENT_TYPE, "video/mp4")], mp4).into_response()
}

async fn cancel(State(fake): State<Fake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "AuthenticationError", "the API key is invalid");
    }
    let mut tasks = fake.tasks.lock().unwrap();
    match tasks.get(&id).map(|(_, polls)| *polls) {
        None => error(StatusCode::NOT_FOUND, "ResourceNotFound", "task not found"),
        Some(polls) if polls >= 2 => {
            error(StatusCode::BAD_REQUEST, "InvalidAction", "a running task cannot be cancelled")
        }
        Some(_) => {
            tasks.remove(&id);
            axum::Json(json!({})).into_response()
        }
    }
}

/// `GET /contents/generations/tasks?page_num=&page_size=`: the newest tasks, as Ark lists them.
async fn list(State(fake): State<Fake>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "AuthenticationError", "the API key is invalid");
    }
    let size = query.get("page_size").and_then(|s| s.parse().ok()).unwrap_or(10);
    let tasks = fake.tasks.lock().unwrap();
    let items: Vec<Value> = tasks.keys().take(size).map(|id| json!({"id": id, "status": "queued"})).collect();
    axum::Json(json!({"items": items, "total": tasks.len()})).into_response()
}
