//! A fake of RunningHub's task API: HTTP 200 with a `{code, msg, data}` envelope for everything;
//! the key in the body; a `[busy]` prompt answers 421 TASK_QUEUE_MAXED; outputs go 813 (queued)
//! → 804 (running) → 0 with `fileUrl`s; an `[audit]` prompt ends 805 with an audit
//! `failedReason`. `promptTips` is a JSON string, as upstream. AI apps run with
//! `/task/openapi/ai-app/run` (only [`WEBAPP_ID`] exists: 901 otherwise); `/task/openapi/upload`
//! keeps files (30 MB limit, 809) under `api/<sha256>.<ext>`, and a `nodeInfoList` value naming
//! an `api/` file never uploaded is refused with 803.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::Digest;

pub const API_KEY: &str = "0123456789abcdef0123456789abcdef";
pub const WEBAPP_ID: i64 = 1877265245566922753;
const MAX_UPLOAD: usize = 30 << 20;

#[derive(Clone, Default)]
struct Fake {
    tasks: Arc<Mutex<HashMap<String, (Value, u32)>>>,
    uploads: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    base_url: Arc<Mutex<String>>,
    created: Arc<Mutex<usize>>,
}

pub struct FakeRunningHub {
    pub base_url: String,
    tasks: Arc<Mutex<HashMap<String, (Value, u32)>>>,
    uploads: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    created: Arc<Mutex<usize>>,
}

impl FakeRunningHub {
    pub async fn start() -> Self {
        let fake = Fake::default();
        let app = Router::new()
            .route("/task/openapi/create", post(create))
            .route("/uc/openapi/accountStatus", post(account_status))
            .route("/task/openapi/ai-app/run", post(run_app))
            .route("/task/openapi/upload", post(upload))
            .route("/task/openapi/outputs", post(outputs))
            .route("/task/openapi/cancel", post(cancel))
            .route("/files/{name}", get(file))
            .with_state(fake.clone());
        let base_url = crate::serve(app).await;
        *fake.base_url.lock().unwrap() = base_url.clone();
        Self { base_url, tasks: fake.tasks, uploads: fake.uploads, created: fake.created }
    }

    /// Forgets every task (its outputs answer 807 `APIKEY_TASK_NOT_FOUND`).
    pub fn forget_tasks(&self) {
        self.tasks.lock().unwrap().clear();
    }

    /// How many tasks were created.
    pub fn tasks_created(&self) -> usize {
        *self.created.lock().unwrap()
    }

    /// The bytes of an uploaded file, by the name the upload answered.
    pub fn upload(&self, name: &str) -> Option<Vec<u8>> {
        self.uploads.lock().unwrap().get(name).cloned()
    }

    /// The bodies of the runs the fake started.
    pub fn runs(&self) -> Vec<Value> {
        self.tasks.lock().unwrap().values().map(|(body, _)| body.clone()).collect()
    }

    /// Whether the task was cancelled.
    pub fn is_gone(&self, id: &str) -> bool {
        !self.tasks.lock().unwrap().contains_key(id)
    }

    /// The `nodeInfoList`s the fake received.
    pub fn node_infos(&self) -> Vec<Value> {
        self.tasks.lock().unwrap().values().map(|(body, _)| body["nodeInfoList"].clone()).collect()
    }
}

fn envelope(code: i64, msg: &str, data: Value) -> Response {
    axum::Json(json!({"code": code, "msg": msg, "data": data})).into_response()
}

fn prompt_of(body: &Value) -> String {
    body["nodeInfoList"].as_array().into_iter().flatten().filter_map(|n| n["fieldValue"].as_str()).collect()
}

async fn run_app(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> Response {
    let id = body["webappId"].as_i64().or_else(|| body["webappId"].as_str().and_then(|id| id.parse().ok()));
    if body["apiKey"] == API_KEY && id != Some(WEBAPP_ID) {
        return envelope(901, "WEBAPP_NOT_EXISTS", Value::Null);
    }
    create(State(fake), axum::Json(body)).await
}

async fn upload(State(fake): State<Fake>, mut form: axum::extract::Multipart) -> Response {
    let (mut key, mut file) = (String::new(), None);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("apiKey") => key = field.text().await.unwrap_or_default(),
            Some("file") => {
                let extension = field.file_name().and_then(|n| n.rsplit_once('.')).map(|(_, e)| e.to_owned());
                file = Some((extension.unwrap_or_else(|| "png".into()), field.bytes().await.unwrap_or_default()));
            }
            _ => {}
        }
    }
    if key != API_KEY {
        return envelope(802, "APIKEY_UNAUTHORIZED", Value::Null);
    }
    let Some((extension, bytes)) = file else { return envelope(301, "PARAMS_INVALID", Value::Null) };
    if bytes.len() > MAX_UPLOAD {
        return envelope(809, "APIKEY_FILE_SIZE_EXCEEDED", Value::Null);
    }
    let digest: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("api/{digest}.{extension}");
    fake.uploads.lock().unwrap().insert(name.clone(), bytes.to_vec());
    envelope(0, "success", json!({"fileName": name, "fileType": "input"}))
}

async fn create(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> Response {
    if body["apiKey"] != API_KEY {
        return envelope(802, "APIKEY_UNAUTHORIZED", Value::Null);
    }
    let uploads = fake.uploads.lock().unwrap().keys().cloned().collect::<Vec<_>>();
    let values = body["nodeInfoList"].as_array().into_iter().flatten().filter_map(|n| n["fieldValue"].as_str());
    if values.filter(|v| v.starts_with("api/")).any(|v| !uploads.iter().any(|u| u == v)) {
        return envelope(803, "APIKEY_INVALID_NODE_INFO", Value::Null);
    }
    if prompt_of(&body).contains("[busy]") {
        return envelope(421, "TASK_QUEUE_MAXED", Value::Null);
    }
    let id = format!("19102467547538{:05}", *fake.created.lock().unwrap());
    *fake.created.lock().unwrap() += 1;
    let tips = if prompt_of(&body).contains("[invalid-graph]") {
        // ComfyUI's validation, packed in a string: the graph does not fit RunningHub's nodes.
        r#"{"result": false, "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"}, "outputs_to_execute": [], "node_errors": {"3": {"errors": [{"type": "value_not_in_list", "message": "Value not in list"}], "class_type": "KSampler"}}}"#
    } else {
        r#"{"result": true, "error": null, "outputs_to_execute": ["9"], "node_errors": {}}"#
    };
    fake.tasks.lock().unwrap().insert(id.clone(), (body, 0));
    envelope(
        0,
        "success",
        json!({"netWssUrl": null, "taskId": id, "clientId": "e825290b08ca2015b8f62f0bbdb5f5f6",
                                  "taskStatus": "QUEUED", "promptTips": tips}),
    )
}

async fn outputs(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> Response {
    if body["apiKey"] != API_KEY {
        return envelope(802, "APIKEY_UNAUTHORIZED", Value::Null);
    }
    let id = body["taskId"].as_str().unwrap_or_default().to_owned();
    let (prompt, polls) = {
        let mut tasks = fake.tasks.lock().unwrap();
        let Some((task, polls)) = tasks.get_mut(&id) else {
            return envelope(807, "APIKEY_TASK_NOT_FOUND", Value::Null);
        };
        *polls += 1;
        (prompt_of(task), *polls)
    };
    match polls {
        1 => envelope(813, "APIKEY_TASK_IS_QUEUED", Value::Null),
        2 => envelope(804, "APIKEY_TASK_IS_RUNNING", json!({"netWssUrl": "wss://example.invalid/ws"})),
        _ if prompt.contains("[fail]") => envelope(
            805,
            "APIKEY_TASK_STATUS_ERROR",
            json!({"failedReason": {"node_name": "SONIC_PreData", "node_id": "276", "exception_type": "TypeError",
                                    "exception_message": "expected str, got NoneType in /data/ComfyUI/custom_nodes/sonic/nodes.py\nline 2",
                                    "traceback": "[\"Traceback (most recent call last):\\n\"]",
                                    "current_inputs": "{}", "current_outputs": "{}"}}),
        ),
        _ if prompt.contains("[audit]") => envelope(
            805,
            "APIKEY_TASK_STATUS_ERROR",
            json!({"failedReason": {"node_name": "SaveImage", "node_id": "9", "exception_type": "audit.RHAuditException",
                                    "exception_message": "content audit failed", "traceback": "[]",
                                    "current_inputs": "{}", "current_outputs": "{}"}}),
        ),
        _ => {
            let url = format!("{}/files/ComfyUI_00033_{id}.png", fake.base_url.lock().unwrap());
            envelope(
                0,
                "success",
                json!([{"fileUrl": url, "fileType": "png", "taskCostTime": "83", "nodeId": "9",
                                            "thirdPartyConsumeMoney": null, "consumeMoney": null, "consumeCoins": "17"}]),
            )
        }
    }
}

async fn file(Path(name): Path<String>) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], genrelay_providers::mock::render_png(&name, 72, 40)).into_response()
}

async fn cancel(State(fake): State<Fake>, axum::Json(body): axum::Json<Value>) -> Response {
    if body["apiKey"] != API_KEY {
        return envelope(802, "APIKEY_UNAUTHORIZED", Value::Null);
    }
    match fake.tasks.lock().unwrap().remove(body["taskId"].as_str().unwrap_or_default()) {
        Some(_) => envelope(0, "success", Value::Null),
        None => envelope(807, "APIKEY_TASK_NOT_FOUND", Value::Null),
    }
}

/// `POST /uc/openapi/accountStatus` with `{apikey}` (lower-case, as documented).
async fn account_status(axum::Json(body): axum::Json<Value>) -> Response {
    if body["apikey"] != API_KEY {
        return envelope(802, "APIKEY_UNAUTHORIZED", Value::Null);
    }
    let account = json!({"remainCoins": "1200", "currentTaskCounts": "0", "remainMoney": null, "currency": null,
                         "apiType": "NORMAL"});
    envelope(0, "success", account)
}
