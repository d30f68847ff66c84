//! A fake jimeng-api server with its asynchronous interface (and the synchronous one): errors in
//! HTTP 200 bodies as `{"code": <negative>, "message", "data": null}` — a wrong session token is
//! -2002, a `[filtered]` prompt -2006, `width`/`height` are refused ("不支持的参数"); async tasks
//! go pending → processing → completed with `result.data[].url`. Records the bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const SESSION_ID: &str = "5f2f7c0e9a1b4d3c8e6f0a2b4c6d8e0f";

#[derive(Clone, Default)]
struct Fake {
    tasks: Arc<Mutex<HashMap<String, (Value, u32)>>>,
    base_url: Arc<Mutex<String>>,
}

pub struct FakeJimeng {
    pub base_url: String,
    tasks: Arc<Mutex<HashMap<String, (Value, u32)>>>,
}

impl FakeJimeng {
    pub async fn start() -> Self {
        let fake = Fake::default();
        let app = Router::new()
            .route("/v1/async/images/generations", post(create))
            .route("/v1/async/images/compositions", post(create))
            .route("/v1/async/videos/generations", post(create))
            .route("/v1/async/tasks/{id}", get(task))
            .route("/v1/images/generations", post(generate_now))
            .route("/files/{name}", get(file))
            .with_state(fake.clone());
        let base_url = crate::serve(app).await;
        *fake.base_url.lock().unwrap() = base_url.clone();
        Self { base_url, tasks: fake.tasks }
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.tasks.lock().unwrap().values().map(|(body, _)| body.clone()).collect()
    }
}

fn failure(code: i64, message: &str) -> Response {
    axum::Json(json!({"code": code, "message": message, "data": null})).into_response()
}

/// The checks jimeng-api makes before it takes a request.
fn refused(headers: &HeaderMap, body: &Value) -> Option<Response> {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {SESSION_ID}")) {
        return Some(failure(-2002, "[登录失效]: 请重新获取sessionid"));
    }
    if ["size", "width", "height"].iter().any(|field| !body[*field].is_null()) {
        return Some(failure(-1000, "不支持的参数"));
    }
    if body["prompt"].as_str().unwrap_or_default().contains("[filtered]") {
        return Some(failure(-2006, "内容被过滤"));
    }
    None
}

/// The result of a task: an MP4 for a video generation, a PNG otherwise.
fn result_urls(fake: &Fake, id: &str, body: &Value) -> Value {
    let extension = if body["model"].as_str().unwrap_or_default().contains("video") { "mp4" } else { "png" };
    json!([{"url": format!("{}/files/{id}-1.{extension}", fake.base_url.lock().unwrap())}])
}

async fn create(State(fake): State<Fake>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    if let Some(refusal) = refused(&headers, &body) {
        return refusal;
    }
    let id = ulid::Ulid::new().to_string().to_lowercase();
    fake.tasks.lock().unwrap().insert(id.clone(), (body, 0));
    axum::Json(json!({"task_id": id, "status": "pending", "type": "image_generation", "created_at": 1759058768,
                      "poll_url": format!("/v1/tasks/{id}")}))
    .into_response()
}

async fn task(State(fake): State<Fake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {SESSION_ID}")) {
        return failure(-2002, "[登录失效]: 请重新获取sessionid");
    }
    let (body, polls) = {
        let mut tasks = fake.tasks.lock().unwrap();
        let Some((body, polls)) = tasks.get_mut(&id) else {
            return failure(-2000, "task not found");
        };
        *polls += 1;
        (body.clone(), *polls)
    };
    let mut answer = json!({"task_id": id, "type": "image_generation", "status": "processing", "progress": 60,
                            "created_at": 1759058768, "updated_at": 1759058770});
    if polls >= 2 {
        answer["status"] = json!("completed");
        answer["progress"] = json!(100);
        answer["result"] = json!({"created": 1759058790, "data": result_urls(&fake, &id, &body)});
    }
    axum::Json(answer).into_response()
}

async fn generate_now(State(fake): State<Fake>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    if let Some(refusal) = refused(&headers, &body) {
        return refusal;
    }
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let data = result_urls(&fake, &id, &body);
    fake.tasks.lock().unwrap().insert(id.clone(), (body, 0));
    axum::Json(json!({"created": 1759058768, "data": data})).into_response()
}

async fn file(Path(name): Path<String>) -> Response {
    if name.ends_with(".mp4") {
        return ([(header::CONTENT_TYPE, "video/mp4")], genrelay_providers::mock::render_mp4(&name, 64, 36, 1))
            .into_response();
    }
    ([(header::CONTENT_TYPE, "image/png")], genrelay_providers::mock::render_png(&name, 60, 60)).into_response()
}
