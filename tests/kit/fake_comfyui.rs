//! A fake ComfyUI server that behaves as a real v0.26 one does (providers.md §1.9–1.10), failures
//! first:
//! - routes under `/` and `/api/`; a body that is not JSON is a 500 in text, a `prompt_id` the
//!   client chose is kept if it is a canonical UUID (else 400 `invalid_prompt_id`), a graph with an
//!   unknown node type a 400 `missing_node_type`, a `LoadImage` of a file not in the input
//!   folder a 400 `prompt_outputs_failed_validation` (the prompt is not queued either way);
//! - **one input folder for every client**: `POST /upload/image` stores `subfolder/name`,
//!   replacing an earlier file with `overwrite`, else renaming a clash with other bytes
//!   `name (1).ext`; a `LoadImage` reads the file **when the prompt runs**, not when it was queued;
//! - a prompt runs (and ends) after [`EMPTY_HISTORY_POLLS`] polls of its state; until then
//!   `/history/{id}` is `{}` and `/api/jobs/{id}` says `pending`, then `in_progress`;
//! - a `SaveImage` of a loaded image saves those very bytes (so a test can tell whose input a
//!   run read); `EmptyImage`/`EmptyLatentImage` graphs render a PNG of their size; `PreviewImage`
//!   writes a `temp` file listed in the outputs too; `SaveVideo` writes an MP4 listed under
//!   `images` with `animated: [true]`; a prompt with `[fail]` fails in node 3 with an exception
//!   that names server paths, and a traceback;
//! - [`FakeComfyUi::restart`] forgets every prompt: `/history/{id}` `{}`, `/api/jobs/{id}` 404
//!   `{"error": "Job not found"}`, absent from `/queue`; files stay on disk;
//! - `POST /interrupt {prompt_id}` stops only that prompt (it ends `execution_interrupted`);
//!   `POST /queue {"delete": [...]}` makes a pending prompt vanish.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// Polls of a prompt's state before its run ends (the first starts it).
pub const EMPTY_HISTORY_POLLS: u32 = 2;
const KNOWN_NODES: [&str; 12] = [
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "KSampler",
    "VAEDecode",
    "SaveImage",
    "PreviewImage",
    "EmptyImage",
    "LoadImage",
    "ImageScale",
    "CreateVideo",
    "SaveVideo",
];

/// A prompt the server knows.
struct Prompt {
    graph: Value,
    polls: u32,
    /// The history entry, once the run ended.
    ended: Option<Value>,
    interrupted: bool,
}

#[derive(Default)]
struct Server {
    prompts: HashMap<String, Prompt>,
    /// The input folder: `subfolder/name` (or `name`) → bytes.
    inputs: HashMap<String, Vec<u8>>,
    /// Saved files: `type/filename` → (content type, bytes).
    files: HashMap<String, (&'static str, Vec<u8>)>,
    /// What `/interrupt` and `/queue` `delete` were asked to stop.
    stopped: Vec<String>,
    /// `POST /prompt` calls that got past JSON parsing (the real `number`).
    number: u64,
    counter: u64,
    failing_views: u32,
    /// Runs never end (a hung node, a lost GPU).
    hung: bool,
}

#[derive(Clone, Default)]
struct Fake {
    server: Arc<Mutex<Server>>,
}

pub struct FakeComfyUi {
    pub base_url: String,
    server: Arc<Mutex<Server>>,
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
                .route(&format!("{prefix}/queue"), post(delete_from_queue).get(queue))
                .route(&format!("{prefix}/system_stats"), get(system_stats))
                .route(&format!("{prefix}/upload/image"), post(upload_image))
        };
        let app = routes("").merge(routes("/api")).route("/api/jobs/{id}", get(job)).with_state(fake.clone());
        let base_url = crate::serve(app).await;
        Self { base_url, server: fake.server }
    }

    /// A restart: every prompt is forgotten (queued, running and finished); files stay.
    pub fn restart(&self) {
        self.server.lock().unwrap().prompts.clear();
    }

    /// The prompt ids `/interrupt` and `/queue` were asked to stop, in order.
    pub fn stopped(&self) -> Vec<String> {
        self.server.lock().unwrap().stopped.clone()
    }

    /// The bytes of a file in the input folder (`subfolder/name`).
    pub fn input(&self, name: &str) -> Option<Vec<u8>> {
        self.server.lock().unwrap().inputs.get(name).cloned()
    }

    /// The graph the fake received for a prompt, slots filled.
    pub fn graph_of(&self, prompt_id: &str) -> Option<Value> {
        self.server.lock().unwrap().prompts.get(prompt_id).map(|p| p.graph.clone())
    }

    /// `GET /view` of an output answers 502 the next `times` times (a proxy in front of a busy
    /// server).
    pub fn fail_views(&self, times: u32) {
        self.server.lock().unwrap().failing_views = times;
    }

    /// From now on runs never end: prompts stay in progress (a hung node, a lost GPU).
    pub fn hang_runs(&self) {
        self.server.lock().unwrap().hung = true;
    }

    /// The prompts queued or running that nobody stopped: neither ended nor interrupted nor
    /// deleted.
    pub fn unfinished(&self) -> Vec<String> {
        let server = self.server.lock().unwrap();
        server.prompts.iter().filter(|(_, p)| p.ended.is_none() && !p.interrupted).map(|(id, _)| id.clone()).collect()
    }

    /// How many prompts were queued.
    pub fn prompts_queued(&self) -> u64 {
        self.server.lock().unwrap().number
    }
}

fn bad_request(error: Value, node_errors: Value) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error, "node_errors": node_errors}))).into_response()
}

async fn prompt(State(fake): State<Fake>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error\n\nServer got itself in trouble")
            .into_response();
    };
    let mut server = fake.server.lock().unwrap();
    server.number += 1;
    let Some(graph) = body["prompt"].as_object() else {
        let error = json!({"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}});
        return bad_request(error, json!({}));
    };
    for (id, node) in graph {
        let class = node["class_type"].as_str().unwrap_or_default();
        if !KNOWN_NODES.contains(&class) {
            let error = json!({"type": "missing_node_type",
                               "message": format!("Node '{class}' not found. The custom node may not be installed."),
                               "details": format!("Node ID '#{id}'"), "extra_info": {"node_id": id, "class_type": class}});
            return bad_request(error, json!({}));
        }
    }
    for (id, node) in graph.iter().filter(|(_, n)| n["class_type"] == "LoadImage") {
        let image = node["inputs"]["image"].as_str().unwrap_or_default();
        if !server.inputs.contains_key(image) {
            let error = json!({"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                               "details": "", "extra_info": {}});
            let node_errors = json!({id.clone(): {"errors": [{"type": "custom_validation_failed",
                "message": "Custom validation failed for node", "details": format!("image - Invalid image file: {image}"),
                "extra_info": {"input_name": "image"}}], "dependent_outputs": ["9"], "class_type": "LoadImage"}});
            return bad_request(error, node_errors);
        }
    }
    let id = match body.get("prompt_id") {
        None => uuid_like(),
        Some(Value::String(id)) if is_canonical_uuid(id) => id.clone(),
        Some(other) => {
            let error = json!({"type": "invalid_prompt_id", "message": "Invalid prompt_id format",
                               "details": format!("prompt_id must be a canonical UUID: {other}"), "extra_info": {}});
            return bad_request(error, json!({}));
        }
    };
    let number = server.number;
    let prompt = Prompt { graph: Value::Object(graph.clone()), polls: 0, ended: None, interrupted: false };
    server.prompts.insert(id.clone(), prompt);
    axum::Json(json!({"prompt_id": id, "number": number, "node_errors": {}})).into_response()
}

/// A lowercase hyphenated UUID, the only `prompt_id` a client may choose.
fn is_canonical_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|group| group.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn uuid_like() -> String {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Where a prompt is: `None` if the server does not know it.
enum Stage {
    Pending,
    Running,
    Ended(Value),
}

/// One poll of a prompt's state: the first starts it, the `EMPTY_HISTORY_POLLS`th ends it (the
/// run reads its input files then).
fn advance(server: &mut Server, id: &str) -> Option<Stage> {
    let hung = server.hung;
    let prompt = server.prompts.get_mut(id)?;
    if let Some(ended) = &prompt.ended {
        return Some(Stage::Ended(ended.clone()));
    }
    prompt.polls += 1;
    if prompt.polls == 1 {
        return Some(Stage::Pending);
    }
    if (prompt.polls <= EMPTY_HISTORY_POLLS || hung) && !prompt.interrupted {
        return Some(Stage::Running);
    }
    let (graph, interrupted) = (prompt.graph.clone(), prompt.interrupted);
    let entry = run(server, id, &graph, interrupted);
    server.prompts.get_mut(id).expect("known").ended = Some(entry.clone());
    Some(Stage::Ended(entry))
}

/// Runs a graph: its output files are written, and its history entry is answered.
fn run(server: &mut Server, id: &str, graph: &Value, interrupted: bool) -> Value {
    let nodes: Vec<(String, Value)> =
        graph.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    let start = json!(["execution_start", {"prompt_id": id, "timestamp": 1}]);
    if interrupted {
        let message = json!(["execution_interrupted", {"prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": [], "timestamp": 2}]);
        return json!({"prompt": [0, id, graph, {}, []], "outputs": {}, "meta": {},
                      "status": {"status_str": "error", "completed": false, "messages": [start, message]}});
    }
    let text: String = nodes.iter().filter_map(|(_, n)| n["inputs"]["text"].as_str()).collect();
    if text.contains("[fail]") {
        let error = json!(["execution_error", {"prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": [],
            "exception_message": "[Errno 28] No space left on device: '/srv/comfy/output/gw_00001_.png'\n",
            "exception_type": "OSError",
            "traceback": ["Traceback (most recent call last):\n", "  File \"/srv/comfy/execution.py\", line 496, in execute\n"],
            "current_inputs": {}, "current_outputs": {}, "timestamp": 2}]);
        return json!({"prompt": [0, id, graph, {}, []], "outputs": {}, "meta": {},
                      "status": {"status_str": "error", "completed": false, "messages": [start, error]}});
    }
    // What the image inputs of the graph are: loaded bytes, or an empty image's size.
    let loaded: Option<Vec<u8>> = nodes
        .iter()
        .find(|(_, n)| n["class_type"] == "LoadImage")
        .and_then(|(_, n)| server.inputs.get(n["inputs"]["image"].as_str()?).cloned());
    let empty = nodes
        .iter()
        .find(|(_, n)| matches!(n["class_type"].as_str(), Some("EmptyImage" | "EmptyLatentImage")))
        .map(|(_, n)| {
            (n["inputs"]["width"].as_u64().unwrap_or(64) as u32, n["inputs"]["height"].as_u64().unwrap_or(64) as u32)
        });
    let scaled = nodes.iter().find(|(_, n)| n["class_type"] == "ImageScale").map(|(_, n)| {
        (n["inputs"]["width"].as_u64().unwrap_or(64) as u32, n["inputs"]["height"].as_u64().unwrap_or(64) as u32)
    });
    let mut outputs = serde_json::Map::new();
    for (node_id, node) in &nodes {
        server.counter += 1;
        let counter = server.counter;
        let prefix = node["inputs"]["filename_prefix"].as_str().unwrap_or("ComfyUI").to_owned();
        let (kind, name, content_type, bytes, animated) = match node["class_type"].as_str() {
            Some("SaveImage") | Some("PreviewImage") => {
                let bytes = match (&loaded, scaled.or(empty)) {
                    (Some(bytes), None) => bytes.clone(),
                    (_, Some((width, height))) => genrelay_providers::mock::render_png(&text, width, height),
                    (None, None) => genrelay_providers::mock::render_png(&text, 64, 64),
                };
                if node["class_type"] == "PreviewImage" {
                    ("temp", format!("ComfyUI_temp_gajod_{counter:05}_.png"), "image/png", bytes, false)
                } else {
                    ("output", format!("{prefix}_{counter:05}_.png"), "image/png", bytes, false)
                }
            }
            Some("SaveVideo") => {
                let (width, height) = empty.unwrap_or((64, 36));
                let mp4 = genrelay_providers::mock::render_mp4(&text, width, height, 1);
                ("output", format!("{prefix}_{counter:05}_.mp4"), "video/mp4", mp4, true)
            }
            _ => continue,
        };
        server.files.insert(format!("{kind}/{name}"), (content_type, bytes));
        let mut output = json!({"images": [{"filename": name, "subfolder": "", "type": kind}]});
        if animated {
            output["animated"] = json!([true]);
        }
        outputs.insert(node_id.clone(), output);
    }
    json!({"prompt": [0, id, graph, {"client_id": "genrelay"}, outputs.keys().collect::<Vec<_>>()],
           "outputs": outputs,
           "status": {"status_str": "success", "completed": true, "messages": [start,
               ["execution_success", {"prompt_id": id, "timestamp": 3}]]},
           "meta": {}})
}

async fn history(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let mut server = fake.server.lock().unwrap();
    match advance(&mut server, &id) {
        Some(Stage::Ended(entry)) => axum::Json(json!({ id: entry })).into_response(),
        _ => axum::Json(json!({})).into_response(),
    }
}

async fn job(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let mut server = fake.server.lock().unwrap();
    let status = match advance(&mut server, &id) {
        None => return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "Job not found"}))).into_response(),
        Some(Stage::Pending) => "pending",
        Some(Stage::Running) => "in_progress",
        Some(Stage::Ended(entry)) => match entry["status"]["status_str"].as_str() {
            Some("success") => "completed",
            _ if entry.to_string().contains("execution_interrupted") => "cancelled",
            _ => "failed",
        },
    };
    axum::Json(json!({"id": id, "status": status, "priority": 0, "create_time": 1, "outputs_count": 0})).into_response()
}

async fn queue(State(fake): State<Fake>) -> Response {
    let server = fake.server.lock().unwrap();
    let entry = |(id, p): (&String, &Prompt)| json!([0, id, p.graph, {}, []]);
    let running: Vec<Value> =
        server.prompts.iter().filter(|(_, p)| p.ended.is_none() && p.polls > 0).map(entry).collect();
    let pending: Vec<Value> =
        server.prompts.iter().filter(|(_, p)| p.ended.is_none() && p.polls == 0).map(entry).collect();
    axum::Json(json!({"queue_running": running, "queue_pending": pending})).into_response()
}

async fn view(State(fake): State<Fake>, Query(query): Query<HashMap<String, String>>) -> Response {
    let name = query.get("filename").cloned().unwrap_or_default();
    if name.contains("..") || name.starts_with('/') {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let kind = query.get("type").map(String::as_str).unwrap_or("output");
    let mut server = fake.server.lock().unwrap();
    if server.failing_views > 0 {
        server.failing_views -= 1;
        return StatusCode::BAD_GATEWAY.into_response();
    }
    match server.files.get(&format!("{kind}/{name}")) {
        Some((content_type, bytes)) => ([(header::CONTENT_TYPE, *content_type)], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Interrupts the prompt if it is the one running (v0.26's targeted interrupt).
async fn interrupt(State(fake): State<Fake>, body: axum::body::Bytes) -> StatusCode {
    let id = serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["prompt_id"].as_str().map(str::to_owned));
    let mut server = fake.server.lock().unwrap();
    if let Some(id) = id {
        server.stopped.push(format!("interrupt {id}"));
        if let Some(prompt) = server.prompts.get_mut(&id).filter(|p| p.ended.is_none() && p.polls > 0) {
            prompt.interrupted = true;
        }
    }
    StatusCode::OK
}

/// `{"delete": [ids]}` removes pending prompts: they vanish from history and the jobs API.
async fn delete_from_queue(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> StatusCode {
    let mut server = fake.server.lock().unwrap();
    for id in body["delete"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if server.prompts.get(id).is_some_and(|p| p.polls == 0) {
            server.prompts.remove(id);
        }
        server.stopped.push(format!("delete {id}"));
    }
    StatusCode::OK
}

/// `POST /upload/image`: multipart `image` (the file), `type`, `subfolder`, `overwrite`.
async fn upload_image(State(fake): State<Fake>, mut form: Multipart) -> Response {
    let (mut file, mut overwrite, mut subfolder) = (None, false, String::new());
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("image") => {
                let name = field.file_name().unwrap_or("image.png").to_owned();
                file = Some((name, field.bytes().await.unwrap_or_default().to_vec()));
            }
            Some("overwrite") => overwrite = matches!(field.text().await.as_deref(), Ok("true" | "1")),
            Some("subfolder") => subfolder = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let Some((mut name, bytes)) = file else { return StatusCode::BAD_REQUEST.into_response() };
    let path = |name: &str| if subfolder.is_empty() { name.to_owned() } else { format!("{subfolder}/{name}") };
    let mut server = fake.server.lock().unwrap();
    if !overwrite {
        let (stem, extension) = name.rsplit_once('.').map(|(s, e)| (s.to_owned(), e.to_owned())).unwrap_or_default();
        let mut counter = 1;
        while server.inputs.get(&path(&name)).is_some_and(|existing| *existing != bytes) {
            name = format!("{stem} ({counter}).{extension}");
            counter += 1;
        }
    }
    server.inputs.insert(path(&name), bytes);
    axum::Json(json!({"name": name, "subfolder": subfolder, "type": "input"})).into_response()
}

/// `GET /system_stats`, shaped as v0.26 answers it on a CPU-only machine.
async fn system_stats() -> Response {
    axum::Json(json!({
        "system": {"os": "posix", "ram_total": 16_777_216_000u64, "ram_free": 8_388_608_000u64,
                   "comfyui_version": "0.26.0", "python_version": "3.12.3", "pytorch_version": "2.5.1+cpu",
                   "embedded_python": false, "argv": ["main.py", "--cpu"]},
        "devices": [{"name": "cpu", "type": "cpu", "index": null, "vram_total": 16_777_216_000u64,
                     "vram_free": 8_388_608_000u64, "torch_vram_total": 16_777_216_000u64,
                     "torch_vram_free": 8_388_608_000u64}]
    }))
    .into_response()
}
