//! A fake ComfyUI server with the shapes and quirks of the real one (v0.26): routes under `/`
//! and `/api/`; `POST /prompt` validates node types (400 `missing_node_type` otherwise) and
//! answers a `prompt_id`; `GET /history/{id}` is `{}` until the run ends, then holds outputs or
//! an `execution_error` in `status.messages`; `GET /view` serves the PNG, sized by the graph's
//! `EmptyImage`/`EmptyLatentImage`. A prompt containing `[fail]` fails in node "3".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// `/history` polls that answer `{}` before a run ends.
pub const EMPTY_HISTORY_POLLS: u32 = 2;
const KNOWN_NODES: [&str; 8] = [
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "KSampler",
    "VAEDecode",
    "SaveImage",
    "EmptyImage",
    "LoadImage",
];

#[derive(Default)]
struct Runs {
    /// prompt id → (graph, history polls so far)
    by_id: HashMap<String, (Value, u32)>,
    /// What `/interrupt` and `/queue` `delete` were asked to stop.
    stopped: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake {
    runs: Arc<Mutex<Runs>>,
}

pub struct FakeComfyUi {
    pub base_url: String,
    runs: Arc<Mutex<Runs>>,
}

impl FakeComfyUi {
    pub async fn start() -> Self {
        let fake = Fake::default();
        let routes = |prefix: &str| {
            Router::new()
                .route(&format!("{prefix}/prompt"), post(prompt))
                .route(&format!("{prefix}/history/{{id}}"), get(history))
                .route(&format!("{prefix}/view"), get(view))
                .route(&format!("{prefix}/interrupt"), post(interrupt))
                .route(&format!("{prefix}/queue"), post(queue))
        };
        let app = routes("").merge(routes("/api")).with_state(fake.clone());
        let base_url = crate::serve(app).await;
        Self { base_url, runs: fake.runs }
    }

    /// The prompt ids `/interrupt` and `/queue` were asked to stop, in order.
    pub fn stopped(&self) -> Vec<String> {
        self.runs.lock().unwrap().stopped.clone()
    }

    /// The graph the fake received for a run, slots filled.
    pub fn graph_of(&self, prompt_id: &str) -> Option<Value> {
        self.runs.lock().unwrap().by_id.get(prompt_id).map(|(graph, _)| graph.clone())
    }
}

async fn prompt(State(fake): State<Fake>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error\n\nServer got itself in trouble")
            .into_response();
    };
    let Some(graph) = body["prompt"].as_object() else {
        let error = json!({"type": "no_prompt", "message": "No prompt provided", "details": "", "extra_info": {}});
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error, "node_errors": {}}))).into_response();
    };
    for (id, node) in graph {
        let class = node["class_type"].as_str().unwrap_or_default();
        if !KNOWN_NODES.contains(&class) {
            let error = json!({"type": "missing_node_type", "message": format!("Node '{class}' not found"),
                               "details": format!("Node ID '#{id}'"), "extra_info": {"node_id": id, "class_type": class}});
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error, "node_errors": {}}))).into_response();
        }
    }
    let id = uuid_like();
    let number = {
        let mut runs = fake.runs.lock().unwrap();
        runs.by_id.insert(id.clone(), (Value::Object(graph.clone()), 0));
        runs.by_id.len()
    };
    axum::Json(json!({"prompt_id": id, "number": number, "node_errors": {}})).into_response()
}

fn uuid_like() -> String {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The size a graph renders at.
fn size_of(graph: &Value) -> (u32, u32) {
    graph
        .as_object()
        .into_iter()
        .flat_map(|g| g.values())
        .find(|n| matches!(n["class_type"].as_str(), Some("EmptyImage" | "EmptyLatentImage")))
        .map(|n| {
            (n["inputs"]["width"].as_u64().unwrap_or(64) as u32, n["inputs"]["height"].as_u64().unwrap_or(64) as u32)
        })
        .unwrap_or((64, 64))
}

fn prompt_text(graph: &Value) -> String {
    graph.as_object().into_iter().flat_map(|g| g.values()).filter_map(|n| n["inputs"]["text"].as_str()).collect()
}

async fn history(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let mut runs = fake.runs.lock().unwrap();
    let Some((graph, polls)) = runs.by_id.get_mut(&id) else {
        return axum::Json(json!({})).into_response();
    };
    *polls += 1;
    if *polls <= EMPTY_HISTORY_POLLS {
        return axum::Json(json!({})).into_response();
    }
    let entry = if prompt_text(graph).contains("[fail]") {
        json!({"prompt": [0, id, graph, {}, ["9"]], "outputs": {}, "meta": {},
               "status": {"status_str": "error", "completed": false, "messages": [
                   ["execution_start", {"prompt_id": id, "timestamp": 1}],
                   ["execution_error", {"prompt_id": id, "node_id": "3", "node_type": "KSampler",
                                        "exception_message": "Allocation on device 0 would exceed allowed memory.\n",
                                        "exception_type": "torch.OutOfMemoryError", "traceback": []}]]}})
    } else {
        let (width, height) = size_of(graph);
        let filename = format!("gw_{width}x{height}_00001_.png");
        json!({"prompt": [0, id, graph, {}, ["9"]],
               "outputs": {"9": {"images": [{"filename": filename, "subfolder": "", "type": "output"}]}},
               "status": {"status_str": "success", "completed": true, "messages": [
                   ["execution_start", {"prompt_id": id, "timestamp": 1}],
                   ["execution_success", {"prompt_id": id, "timestamp": 2}]]},
               "meta": {"9": {"node_id": "9", "display_node": "9", "parent_node": null, "real_node_id": "9"}}})
    };
    axum::Json(json!({ id.clone(): entry })).into_response()
}

async fn view(Query(query): Query<HashMap<String, String>>) -> Response {
    let name = query.get("filename").cloned().unwrap_or_default();
    if name.contains("..") || name.starts_with('/') {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let size = name
        .strip_prefix("gw_")
        .and_then(|rest| rest.split('_').next())
        .and_then(|size| size.split_once('x'))
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)));
    match (size, query.get("type").map(String::as_str)) {
        (Some((width, height)), Some("output")) => {
            let png = genrelay_providers::mock::render_png(&name, width, height);
            ([(header::CONTENT_TYPE, "image/png")], png).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn interrupt(State(fake): State<Fake>, body: axum::body::Bytes) -> StatusCode {
    if let Some(id) =
        serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["prompt_id"].as_str().map(str::to_owned))
    {
        fake.runs.lock().unwrap().stopped.push(format!("interrupt {id}"));
    }
    StatusCode::OK
}

async fn queue(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> StatusCode {
    for id in body["delete"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let mut runs = fake.runs.lock().unwrap();
        runs.by_id.remove(id);
        runs.stopped.push(format!("delete {id}"));
    }
    StatusCode::OK
}
