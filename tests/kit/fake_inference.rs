//! A fake of seed 003's inference server, faithful to its shapes: `POST /api/inference?index=`
//! answers a task id; `/status` goes pending → processing → completed (or failed for index 99);
//! `/result` lists files by relative URL, and answers "not finished" with 200 before the end;
//! `/file/{name}` serves the bytes. Counts the requests it answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// The index whose tasks fail.
pub const FAILING_INDEX: u32 = 99;
/// The `/status` poll at which a task ends (pending, then processing before).
pub const POLLS_TO_COMPLETE: u32 = 3;

#[derive(Default)]
struct Tasks {
    by_id: HashMap<String, (u32, u32)>,
    requests: usize,
}

#[derive(Clone)]
struct Fake {
    tasks: Arc<Mutex<Tasks>>,
    image: Arc<Vec<u8>>,
    /// When set, result files are this many bytes, generated as they are sent.
    streamed_size: Option<u64>,
}

pub struct FakeInferenceServer {
    pub base_url: String,
    pub image: Arc<Vec<u8>>,
    tasks: Arc<Mutex<Tasks>>,
}

impl FakeInferenceServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server whose result file is `size` bytes (a PNG signature, then filler), generated as
    /// it is sent: for measuring ingest, not holding it anywhere.
    pub async fn serving_files_of(size: u64) -> Self {
        Self::start_with(Some(size)).await
    }

    async fn start_with(streamed_size: Option<u64>) -> Self {
        let image = Arc::new(genrelay_providers::mock::render_png("an inference result", 96, 64));
        let fake = Fake { tasks: Arc::default(), image: image.clone(), streamed_size };
        let app = Router::new()
            .route("/api/inference", post(create))
            .route("/api/system/status", get(system_status))
            .route("/api/task/{id}/status", get(status))
            .route("/api/task/{id}/result", get(result))
            .route("/api/task/{id}/file/{name}", get(file))
            .with_state(fake.clone());
        let base_url = crate::serve(app).await;
        Self { base_url, image, tasks: fake.tasks }
    }

    /// A restart: the queue lived in memory, so every task is unknown (404) from now on.
    pub fn restart(&self) {
        self.tasks.lock().unwrap().by_id.clear();
    }

    /// How many requests the fake answered.
    pub fn requests(&self) -> usize {
        self.tasks.lock().unwrap().requests
    }
}

fn count(fake: &Fake) {
    fake.tasks.lock().unwrap().requests += 1;
}

async fn create(State(fake): State<Fake>, Query(query): Query<HashMap<String, String>>) -> Response {
    count(&fake);
    let Some(index) = query.get("index").and_then(|i| i.parse::<u32>().ok()).filter(|i| *i >= 1) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"detail": "index must be >= 1"}))).into_response();
    };
    let id = ulid::Ulid::new().to_string().to_lowercase();
    fake.tasks.lock().unwrap().by_id.insert(id.clone(), (index, 0));
    axum::Json(json!({"task_id": id, "index": index, "message": "任务已创建，正在处理中"})).into_response()
}

/// Where a task is: each status poll moves it on.
fn advance(fake: &Fake, id: &str, poll: bool) -> Option<(u32, &'static str)> {
    let mut tasks = fake.tasks.lock().unwrap();
    tasks.requests += 1;
    let (index, polls) = tasks.by_id.get_mut(id)?;
    if poll {
        *polls += 1;
    }
    let state = match *polls {
        0 | 1 => "pending",
        p if p < POLLS_TO_COMPLETE => "processing",
        _ if *index == FAILING_INDEX => "failed",
        _ => "completed",
    };
    Some((*index, state))
}

async fn status(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let Some((index, state)) = advance(&fake, &id, true) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "任务不存在"}))).into_response();
    };
    let error = (state == "failed").then_some("CUDA out of memory");
    axum::Json(json!({"task_id": id, "index": index, "status": state, "created_at": "2026-01-22T13:30:00",
                      "completed_at": null, "inference_time": null, "error_message": error}))
    .into_response()
}

async fn result(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let Some((index, state)) = advance(&fake, &id, false) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "任务不存在"}))).into_response();
    };
    if state != "completed" {
        return axum::Json(json!({"task_id": id, "status": state, "message": "任务尚未完成", "error_message": null}))
            .into_response();
    }
    let url = format!("/api/task/{id}/file/result_001.png");
    axum::Json(json!({"task_id": id, "index": index, "status": "completed", "inference_time": 32.5,
                      "files": [{"filename": "result_001.png", "type": "image", "url": url}]}))
    .into_response()
}

async fn file(State(fake): State<Fake>, Path((id, name)): Path<(String, String)>) -> Response {
    match advance(&fake, &id, false) {
        Some((_, "completed")) if name == "result_001.png" => match fake.streamed_size {
            None => ([(header::CONTENT_TYPE, "image/png")], fake.image.as_ref().clone()).into_response(),
            Some(size) => {
                let chunk = bytes::Bytes::from(vec![7u8; 1024 * 1024]);
                let signature = bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\n");
                let chunks = (0..size.div_ceil(chunk.len() as u64)).map(move |i| {
                    let start = i * chunk.len() as u64;
                    let length = (size - start).min(chunk.len() as u64) as usize;
                    let piece = if i == 0 {
                        [signature.clone(), chunk.slice(8..length)].concat().into()
                    } else {
                        chunk.slice(..length)
                    };
                    Ok::<bytes::Bytes, std::io::Error>(piece)
                });
                let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
                ([(header::CONTENT_TYPE, "image/png".to_owned()), (header::CONTENT_LENGTH, size.to_string())], body)
                    .into_response()
            }
        },
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Seed 003's `GET /api/system/status`.
async fn system_status(State(fake): State<Fake>) -> Response {
    let queued = fake.tasks.lock().unwrap().by_id.len();
    axum::Json(json!({"status": "running", "ssh_connected": true, "queue_size": queued, "queue_running": true}))
        .into_response()
}
