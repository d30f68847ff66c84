//! A fake ComfyUI server with the shapes and quirks of the real one (v0.26): routes under `/`
//! and `/api/`; `POST /prompt` validates node types (400 `missing_node_type` otherwise) and
//! answers a `prompt_id`; `GET /history/{id}` is `{}` until the run ends, then holds outputs or
//! an `execution_error` in `status.messages`; `GET /view` serves the PNG, sized by the graph's
//! `EmptyImage`/`EmptyLatentImage` (or the image a `LoadImage` reads). `POST /upload/image` keeps
//! files in the input folder (` (1)` suffix on a name taken by other bytes, unless `overwrite`);
//! a `LoadImage` of a file not uploaded fails validation (400, as the real one). A prompt
//! containing `[fail]` fails in node "3".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
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
    /// The input folder: file name → bytes.
    inputs: HashMap<String, Vec<u8>>,
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
                .route(&format!("{prefix}/upload/image"), post(upload_image))
        };
        let app = routes("").merge(routes("/api")).with_state(fake.clone());
        let base_url = crate::serve(app).await;
        Self { base_url, runs: fake.runs }
    }

    /// The prompt ids `/interrupt` and `/queue` were asked to stop, in order.
    pub fn stopped(&self) -> Vec<String> {
        self.runs.lock().unwrap().stopped.clone()
    }

    /// The bytes of a file in the input folder.
    pub fn input(&self, name: &str) -> Option<Vec<u8>> {
        self.runs.lock().unwrap().inputs.get(name).cloned()
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
    let mut runs = fake.runs.lock().unwrap();
    for (id, node) in graph.iter().filter(|(_, n)| n["class_type"] == "LoadImage") {
        let image = node["inputs"]["image"].as_str().unwrap_or_default();
        if !runs.inputs.contains_key(image) {
            let error = json!({"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                               "details": "", "extra_info": {}});
            let node_errors = json!({id.clone(): {"errors": [{"type": "custom_validation_failed",
                "message": "Custom validation failed for node", "details": format!("image - Invalid image file: {image}"),
                "extra_info": {}}], "dependent_outputs": ["9"], "class_type": "LoadImage"}});
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error, "node_errors": node_errors})))
                .into_response();
        }
    }
    let id = uuid_like();
    let number = {
        runs.by_id.insert(id.clone(), (Value::Object(graph.clone()), 0));
        runs.by_id.len()
    };
    drop(runs);
    axum::Json(json!({"prompt_id": id, "number": number, "node_errors": {}})).into_response()
}

fn uuid_like() -> String {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The size a graph renders at: its empty image's, or that of the PNG it loads.
fn size_of(graph: &Value, inputs: &HashMap<String, Vec<u8>>) -> (u32, u32) {
    let nodes = || graph.as_object().into_iter().flat_map(|g| g.values());
    let empty =
        nodes().find(|n| matches!(n["class_type"].as_str(), Some("EmptyImage" | "EmptyLatentImage"))).map(|n| {
            (n["inputs"]["width"].as_u64().unwrap_or(64) as u32, n["inputs"]["height"].as_u64().unwrap_or(64) as u32)
        });
    let loaded = || {
        let node = nodes().find(|n| n["class_type"] == "LoadImage")?;
        let png = inputs.get(node["inputs"]["image"].as_str()?)?;
        let dimension = |at: usize| Some(u32::from_be_bytes(png.get(at..at + 4)?.try_into().ok()?));
        Some((dimension(16)?, dimension(20)?))
    };
    empty.or_else(loaded).unwrap_or((64, 64))
}

fn prompt_text(graph: &Value) -> String {
    graph.as_object().into_iter().flat_map(|g| g.values()).filter_map(|n| n["inputs"]["text"].as_str()).collect()
}

async fn history(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let mut runs = fake.runs.lock().unwrap();
    let runs = &mut *runs;
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
        let (width, height) = size_of(graph, &runs.inputs);
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

/// `POST /upload/image`: multipart `image` (the file), `type`, `subfolder`, `overwrite`.
async fn upload_image(State(fake): State<Fake>, mut form: Multipart) -> Response {
    let (mut file, mut overwrite) = (None, false);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("image") => {
                let name = field.file_name().unwrap_or("image.png").to_owned();
                file = Some((name, field.bytes().await.unwrap_or_default().to_vec()));
            }
            Some("overwrite") => overwrite = matches!(field.text().await.as_deref(), Ok("true" | "1")),
            _ => {}
        }
    }
    let Some((mut name, bytes)) = file else { return StatusCode::BAD_REQUEST.into_response() };
    let mut runs = fake.runs.lock().unwrap();
    if !overwrite {
        let (stem, extension) = name.rsplit_once('.').map(|(s, e)| (s.to_owned(), e.to_owned())).unwrap_or_default();
        let mut counter = 1;
        while runs.inputs.get(&name).is_some_and(|existing| *existing != bytes) {
            name = format!("{stem} ({counter}).{extension}");
            counter += 1;
        }
    }
    runs.inputs.insert(name.clone(), bytes);
    axum::Json(json!({"name": name, "subfolder": "", "type": "input"})).into_response()
}
