//! A fake jimeng-api server in each of its three dialects, with the failures real ones show
//! (providers.md §3.7), failures first:
//! - every answer is HTTP 200, errors as `{"code": <negative>, "message", "data": null}`;
//! - `-1000` for anything thrown: a Jimeng that cannot be reached
//!   (`getaddrinfo ENOTFOUND jimeng.jianying.com`), an unsupported parameter (`不支持的参数: size。…`),
//!   a route the server lacks (`[请求有误]: …`, e.g. `/v1/async/…` on a released server), an
//!   unknown task (`任务不存在: …`);
//! - Jimeng's refusals translated: an expired session `-2002 [登录失效]: login error。请重新获取…`,
//!   no credits `-2009 积分不足且无法自动收取。…`, a filtered prompt (`[filtered]`) `-2006 [内容违规]…`;
//! - [`Dialect::Sync`]: released jimeng-api, the generation routes answer the URLs at the end
//!   (after [`FakeJimeng::hold_sync`]), and a generation goes on (is paid) when the caller leaves;
//! - [`Dialect::Tasks`] (PR #133): `POST /v1/async/…` answers `{task_id, status: "processing"}`; a
//!   task that fails keeps only its message in `error`; [`FakeJimeng::restart`] forgets tasks;
//! - [`Dialect::History`] (the jackystd fork): `{history_id, status: "submitted"}`, polled at
//!   `/v1/async/images/tasks/{id}` or `/v1/async/videos/tasks/{id}`: status 20, then 10 with
//!   `results[].url` (or `video_url`), or 30 with `fail_code`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const SESSION_ID: &str = "5f2f7c0e9a1b4d3c8e6f0a2b4c6d8e0f";

/// The interface the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sync,
    Tasks,
    History,
}

/// What Jimeng itself (behind jimeng-api) does with a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Generates,
    Unreachable,
    /// Jimeng took the generation, then jimeng-api timed out waiting for it (`-1000`).
    TimesOut,
    SessionExpired,
    NoCredits,
}

struct Task {
    body: Value,
    polls: u32,
    /// The message of a failed task.
    failure: Option<String>,
}

#[derive(Clone)]
struct Fake {
    dialect: Dialect,
    tasks: Arc<Mutex<HashMap<String, Task>>>,
    base_url: Arc<Mutex<String>>,
    upstream: Arc<Mutex<Upstream>>,
    hold: Arc<Mutex<Duration>>,
    generations: Arc<AtomicU32>,
}

pub struct FakeJimeng {
    pub base_url: String,
    fake: Fake,
}

impl FakeJimeng {
    /// A server with PR #133's asynchronous routes (and the synchronous ones).
    pub async fn start() -> Self {
        Self::start_with(Dialect::Tasks).await
    }

    pub async fn start_with(dialect: Dialect) -> Self {
        let fake = Fake {
            dialect,
            tasks: Arc::default(),
            base_url: Arc::default(),
            upstream: Arc::new(Mutex::new(Upstream::Generates)),
            hold: Arc::default(),
            generations: Arc::default(),
        };
        let mut app = Router::new()
            .route("/v1/images/generations", post(generate_now))
            .route("/token/check", post(token_check))
            .route("/v1/images/compositions", post(generate_now))
            .route("/v1/videos/generations", post(generate_now))
            .route("/files/{name}", get(file));
        app = match dialect {
            Dialect::Sync => app,
            Dialect::Tasks => app.route("/v1/async/tasks/{id}", get(task)),
            Dialect::History => app
                .route("/v1/async/images/tasks/{id}", get(history_task))
                .route("/v1/async/videos/tasks/{id}", get(history_task)),
        };
        if dialect != Dialect::Sync {
            app = app
                .route("/v1/async/images/generations", post(create))
                .route("/v1/async/images/compositions", post(create))
                .route("/v1/async/videos/generations", post(create));
        }
        // Koa's catch-all: an unknown route is a thrown error, -1000, in a 200.
        let app = app.fallback(wrong_route).with_state(fake.clone());
        let base_url = crate::serve(app).await;
        *fake.base_url.lock().unwrap() = base_url.clone();
        Self { base_url, fake }
    }

    /// The request bodies of the generations it took.
    pub fn bodies(&self) -> Vec<Value> {
        self.fake.tasks.lock().unwrap().values().map(|task| task.body.clone()).collect()
    }

    /// How many generations it asked Jimeng for (each one paid).
    pub fn generations(&self) -> u32 {
        self.fake.generations.load(Ordering::SeqCst)
    }

    /// What Jimeng does with the generations from now on.
    pub fn set_upstream(&self, upstream: Upstream) {
        *self.fake.upstream.lock().unwrap() = upstream;
    }

    /// How long a synchronous generation holds its request.
    pub fn hold_sync(&self, hold: Duration) {
        *self.fake.hold.lock().unwrap() = hold;
    }

    /// A restart: its tasks lived in memory.
    pub fn restart(&self) {
        self.fake.tasks.lock().unwrap().clear();
    }
}

fn failure(code: i64, message: &str) -> Response {
    axum::Json(json!({"code": code, "message": message, "data": null})).into_response()
}

const EXPIRED: &str = "[登录失效]: login error。请重新获取refresh_token并更新配置";
const NO_CREDITS: &str = "积分不足且无法自动收取。请前往即梦官网领取积分";
const UNREACHABLE: &str = "getaddrinfo ENOTFOUND jimeng.jianying.com";

async fn wrong_route(uri: Uri) -> Response {
    failure(-1000, &format!("[请求有误]: 正确请求为 POST -> /v1/chat/completions，当前请求为 POST -> {}", uri.path()))
}

/// The checks jimeng-api makes before it takes a request.
fn refused(headers: &HeaderMap, body: &Value) -> Option<Response> {
    let Some(authorization) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Some(failure(-2000, "Params headers.authorization invalid"));
    };
    if authorization != format!("Bearer {SESSION_ID}") {
        return Some(failure(-2002, EXPIRED));
    }
    if let Some(field) = ["size", "width", "height"].iter().find(|field| !body[**field].is_null()) {
        return Some(failure(-1000, &format!("不支持的参数: {field}。请使用 ratio 和 resolution 参数")));
    }
    None
}

/// What Jimeng answers a generation: `Ok` when it generates, else jimeng-api's code and message.
fn jimeng_answer(fake: &Fake, body: &Value) -> Result<(), (i64, String)> {
    match *fake.upstream.lock().unwrap() {
        Upstream::Unreachable => return Err((-1000, UNREACHABLE.to_owned())),
        Upstream::TimesOut => {
            fake.generations.fetch_add(1, Ordering::SeqCst);
            return Err((-1000, "timeout of 45000ms exceeded".to_owned()));
        }
        Upstream::SessionExpired => return Err((-2002, EXPIRED.to_owned())),
        Upstream::NoCredits => return Err((-2009, NO_CREDITS.to_owned())),
        Upstream::Generates => {}
    }
    if body["prompt"].as_str().unwrap_or_default().contains("[filtered]") {
        return Err((-2006, "[内容违规]: 提示词包含敏感内容".to_owned()));
    }
    Ok(())
}

/// The result of a generation: an MP4 for a video, a PNG otherwise.
fn result_urls(fake: &Fake, id: &str, body: &Value) -> Vec<String> {
    let extension = if body["model"].as_str().unwrap_or_default().contains("video") { "mp4" } else { "png" };
    vec![format!("{}/files/{id}-1.{extension}", fake.base_url.lock().unwrap())]
}

async fn create(State(fake): State<Fake>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    if let Some(refusal) = refused(&headers, &body) {
        return refusal;
    }
    let id = ulid::Ulid::new().to_string().to_lowercase();
    // The task starts before the route answers; Jimeng's refusal shows when it is polled.
    let failure = jimeng_answer(&fake, &body).err().map(|(_, message)| message);
    fake.generations.fetch_add(1, Ordering::SeqCst);
    fake.tasks.lock().unwrap().insert(id.clone(), Task { body, polls: 0, failure });
    match fake.dialect {
        Dialect::History => axum::Json(json!({"created": 1759058768, "history_id": id, "status": "submitted",
                                              "message": "任务已提交，请使用 history_id 查询任务状态"})),
        _ => axum::Json(json!({"task_id": id, "status": "processing", "type": "image_generation",
                               "created_at": 1759058768, "poll_url": format!("/v1/tasks/{id}")})),
    }
    .into_response()
}

/// One poll of a task: processing, then done (or failed) at the second.
fn advance(fake: &Fake, id: &str) -> Option<(Value, u32, Option<String>)> {
    let mut tasks = fake.tasks.lock().unwrap();
    let task = tasks.get_mut(id)?;
    task.polls += 1;
    Some((task.body.clone(), task.polls, task.failure.clone()))
}

async fn task(State(fake): State<Fake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refusal) = refused(&headers, &Value::Null) {
        return refusal;
    }
    let Some((body, polls, failed)) = advance(&fake, &id) else {
        return failure(-1000, &format!("任务不存在: {id}"));
    };
    let mut answer = json!({"task_id": id, "type": "image_generation", "status": "processing", "progress": 60,
                            "created_at": 1759058768, "updated_at": 1759058770, "params": body});
    if polls >= 2 {
        match failed {
            Some(message) => {
                answer["status"] = json!("failed");
                answer["error"] = json!(message);
            }
            None => {
                let urls: Vec<Value> =
                    result_urls(&fake, &id, &body).into_iter().map(|url| json!({"url": url})).collect();
                answer["status"] = json!("completed");
                answer["progress"] = json!(100);
                answer["result"] = json!({"created": 1759058790, "data": urls});
            }
        }
    }
    axum::Json(answer).into_response()
}

async fn history_task(State(fake): State<Fake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refusal) = refused(&headers, &Value::Null) {
        return refusal;
    }
    let Some((body, polls, failed)) = advance(&fake, &id) else {
        return failure(-1000, &format!("任务不存在: {id}"));
    };
    let video = body["model"].as_str().unwrap_or_default().contains("video");
    let mut answer = json!({"history_id": id, "task_type": if video { "video" } else { "image" }, "status": 20,
                            "fail_code": 0, "raw_data": {}});
    if polls >= 2 {
        let urls = result_urls(&fake, &id, &body);
        match (failed, video) {
            (Some(_), _) => {
                answer["status"] = json!(30);
                answer["fail_code"] = json!("2038");
            }
            (None, true) => {
                answer["status"] = json!(10);
                answer["video_url"] = json!(urls[0]);
            }
            (None, false) => {
                answer["status"] = json!(10);
                answer["results"] = urls.iter().map(|url| json!({"url": url})).collect();
            }
        }
    }
    axum::Json(answer).into_response()
}

async fn generate_now(State(fake): State<Fake>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    if let Some(refusal) = refused(&headers, &body) {
        return refusal;
    }
    if let Err((code, message)) = jimeng_answer(&fake, &body) {
        return failure(code, &message);
    }
    // Paid from here on, whether or not the caller waits for the answer.
    fake.generations.fetch_add(1, Ordering::SeqCst);
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let data: Vec<Value> = result_urls(&fake, &id, &body).into_iter().map(|url| json!({"url": url})).collect();
    fake.tasks.lock().unwrap().insert(id, Task { body, polls: 0, failure: None });
    let hold = *fake.hold.lock().unwrap();
    tokio::time::sleep(hold).await;
    axum::Json(json!({"created": 1759058768, "data": data})).into_response()
}

async fn file(Path(name): Path<String>) -> Response {
    if name.ends_with(".mp4") {
        return ([(header::CONTENT_TYPE, "video/mp4")], genrelay_providers::mock::render_mp4(&name, 64, 36, 1))
            .into_response();
    }
    ([(header::CONTENT_TYPE, "image/png")], genrelay_providers::mock::render_png(&name, 60, 60)).into_response()
}

/// `POST /token/check` with `{token}`: whether Jimeng takes the session id, `{live}`.
async fn token_check(axum::Json(body): axum::Json<Value>) -> Response {
    axum::Json(json!({"live": body["token"] == SESSION_ID})).into_response()
}
