//! A fake of Meitu's AIGC gateway: every request's `SDK-HMAC-SHA256` signature is verified by an
//! implementation of its own (HTTP 401 with code 90002 otherwise); `params` must be a JSON
//! string; bodies must arrive with recursively sorted keys (the bytes signed); tasks answer
//! status 0, then 1, then 10 with `result.urls`; a preset parameter or prompt containing
//! `[fail]` ends with status 2; a `[busy]` one is refused with 29904 (over concurrency); a
//! `[lost]` one is lost once: its first task answers 10004 (task does not exist) and is gone, a
//! second push of it runs; a `[gone]` one likewise, answered status -1 (not found). Result URLs
//! work once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ACCESS_KEY: &str = "AK-meitu-test";
pub const SECRET_KEY: &str = "SK-meitu-test-secret";

#[derive(Default)]
struct Task {
    params: String,
    images: Vec<String>,
    polls: u32,
}

#[derive(Clone, Default)]
struct Fake {
    tasks: Arc<Mutex<HashMap<String, Task>>>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    base_url: Arc<Mutex<String>>,
    /// The `params` of tasks lost so far.
    lost: Arc<Mutex<std::collections::HashSet<String>>>,
}

pub struct FakeMeitu {
    pub base_url: String,
    fake: Fake,
}

impl FakeMeitu {
    pub async fn start() -> Self {
        let fake = Fake::default();
        let app = Router::new()
            .route("/api/v1/sdk/push", post(push))
            .route("/demo/authorization", post(authorization))
            .route("/api/v1/sdk/status", get(task_status))
            .route("/results/{name}", get(result_file))
            .with_state(fake.clone());
        let base_url = crate::serve(app).await;
        *fake.base_url.lock().unwrap() = base_url.clone();
        Self { base_url, fake }
    }

    /// The `params` string and image URLs a task was pushed with.
    pub fn task(&self, id: &str) -> Option<(String, Vec<String>)> {
        self.fake.tasks.lock().unwrap().get(id).map(|t| (t.params.clone(), t.images.clone()))
    }
}

fn envelope(code: i64, message: &str, data: Value) -> axum::Json<Value> {
    axum::Json(json!({"code": code, "message": message, "data": data}))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Recomputes the signature of the request and compares it with the one it carries.
fn verify(method: &Method, uri: &axum::http::Uri, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(credential) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
    else {
        return false;
    };
    let Some(fields) = credential.strip_prefix("SDK-HMAC-SHA256 ") else { return false };
    let field = |name: &str| {
        fields.split(", ").find_map(|f| f.strip_prefix(&format!("{name}="))).unwrap_or_default().to_owned()
    };
    let (access, signed, signature) = (field("Access"), field("SignedHeaders"), field("Signature"));
    let header_value =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_owned();
    let date = header_value("x-sdk-date");
    let canonical_headers: String = signed.split(';').map(|name| format!("{name}:{}\n", header_value(name))).collect();
    let mut pairs: Vec<(String, String)> =
        uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    pairs.sort();
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-_.~".contains(&b);
    let escape = |s: &str| -> String {
        s.bytes().map(|b| if unreserved(b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
    };
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect();
    let path = if uri.path().ends_with('/') { uri.path().to_owned() } else { format!("{}/", uri.path()) };
    let canonical =
        [method.as_str(), &path, &query.join("&"), &canonical_headers, &signed, &hex_sha256(body)].join("\n");
    let to_sign = format!("SDK-HMAC-SHA256\n{date}\n{}", hex_sha256(canonical.as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET_KEY.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    access == ACCESS_KEY && signed == "content-type;host;x-sdk-date" && signature == expected
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, envelope(90002, "GATEWAY_AUTHORIZED_ERROR", Value::Null)).into_response()
}

/// Whether every object in `value` has its keys in sorted order, as they arrived.
fn keys_sorted(raw: &[u8]) -> bool {
    // Re-serialising a parsed value sorts its keys (serde_json's maps are ordered): the raw bytes
    // were sorted exactly when they equal that.
    serde_json::from_slice::<Value>(raw).is_ok_and(|value| value.to_string().as_bytes() == raw)
}

async fn push(
    State(fake): State<Fake>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !verify(&method, &uri, &headers, &body) {
        return unauthorized();
    }
    if !keys_sorted(&body) {
        return envelope(10000, "INVALID_PARAMETER: body keys out of order", Value::Null).into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap();
    let Some(params) = body["params"].as_str() else {
        return envelope(10000, "INVALID_PARAMETER: params must be a string", Value::Null).into_response();
    };
    if params.contains("[busy]") {
        return envelope(29904, "ALGORITHM_OVER_CONCURRENT", Value::Null).into_response();
    }
    let images = body["init_images"].as_array().into_iter().flatten().filter_map(|i| i["url"].as_str());
    let task = Task { params: params.to_owned(), images: images.map(str::to_owned).collect(), polls: 0 };
    let id = format!("mt-{}", ulid::Ulid::new().to_string().to_lowercase());
    fake.tasks.lock().unwrap().insert(id.clone(), task);
    envelope(0, "success", json!({"task_id": id, "status": 0, "trace_id": "trace-1"})).into_response()
}

async fn task_status(
    State(fake): State<Fake>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !verify(&method, &uri, &headers, b"") {
        return unauthorized();
    }
    let id = query.get("task_id").cloned().unwrap_or_default();
    let mut tasks = fake.tasks.lock().unwrap();
    let Some(task) = tasks.get_mut(&id) else {
        return envelope(10004, "TASK_NOEXIST", Value::Null).into_response();
    };
    task.polls += 1;
    if task.params.contains("[lost]") && fake.lost.lock().unwrap().insert(task.params.clone()) {
        tasks.remove(&id);
        return envelope(10004, "TASK_NOEXIST", Value::Null).into_response();
    }
    // The other way a task goes missing: code 0, status -1 ("not found").
    if task.params.contains("[gone]") && fake.lost.lock().unwrap().insert(task.params.clone()) {
        tasks.remove(&id);
        return envelope(0, "success", json!({"task_id": id, "status": -1})).into_response();
    }
    let data = match task.polls {
        1 => json!({"task_id": id, "status": 0}),
        2 => json!({"task_id": id, "status": 1}),
        _ if task.params.contains("[fail]") => json!({"task_id": id, "status": 2, "message": "ALGORITHM_FAILED"}),
        _ => {
            let name = format!("{id}.png");
            let png = genrelay_providers::mock::render_png(&task.params, 48, 32);
            fake.files.lock().unwrap().insert(name.clone(), png);
            let url = format!("{}/results/{name}", fake.base_url.lock().unwrap());
            json!({"task_id": id, "status": 10, "predict_elapsed": 1200, "result": {"urls": [url]}})
        }
    };
    envelope(0, "success", data).into_response()
}

async fn result_file(State(fake): State<Fake>, Path(name): Path<String>) -> Response {
    match fake.files.lock().unwrap().remove(&name) {
        Some(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        None => (StatusCode::FORBIDDEN, "expired").into_response(),
    }
}

/// `POST /demo/authorization`: whether the request's signature holds.
async fn authorization(method: Method, uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !verify(&method, &uri, &headers, &body) {
        return unauthorized();
    }
    envelope(0, "success", json!({"authorized": true})).into_response()
}
