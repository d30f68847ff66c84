//! Jimeng (即梦) through a jimeng-api server, in the dialect the channel's server speaks:
//!
//! - `sync` (every released jimeng-api): `POST /v1/images/generations` (`compositions` with input
//!   images, `/v1/videos/generations`) holds the request until the URLs are ready — minutes;
//!   jimeng-api keeps generating when its caller leaves, so a timed-out call is never sent again.
//! - `tasks` (jimeng-api PR #133): `POST /v1/async/…` answers `{task_id, status}`;
//!   `GET /v1/async/tasks/{task_id}` reports `pending`, `processing`, `completed`
//!   (`result.data[].url`) or `failed` (`error`: the message only).
//! - `history` (seed 002, the jackystd fork): `POST /v1/async/…` answers `{history_id}`; the
//!   task (`GET /v1/async/tasks/{id}`, or the channel's `pollPath`) has `status` 20 (and 42, 45)
//!   while running, 10 or 50 when done (`results[].url` or `video_url`), 30 when failed.
//!
//! Every answer is HTTP 200, errors included: `{"code": <negative>, "message", "data": null}`.
//! `-1000` is jimeng-api's catch-all for anything thrown (Jimeng unreachable, a timeout, a wrong
//! route, an unsupported parameter, an unknown task), so errors are read by their message as
//! much as by their code ([`classify`]). The channel's session token submits and polls alike.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{GeneratedFile, PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::spec::{Params, VideoRatio};
use genrelay_core::{Capability, Cause, Error, Job, Result, UpstreamError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{
    ApiKey, answer_json, configured_for, download, no_task_id, status, submission_status, submission_transport,
    transport, unreadable,
};

const PROVIDER: &str = "Jimeng";
/// Seed 002's guidance: images first after 5-10 s then every 3-5 s; videos 10-15 s then 5-10 s.
const IMAGE_POLLS: (Duration, Duration) = (Duration::from_secs(8), Duration::from_secs(4));
const VIDEO_POLLS: (Duration, Duration) = (Duration::from_secs(12), Duration::from_secs(8));
/// jimeng-api's own limit on a synchronous generation (its README's `TIMEOUT_SECONDS`).
const SYNC_TIMEOUT_SECONDS: u64 = 900;
/// A call of the asynchronous dialects answers at once.
const ASYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// The interface a channel's jimeng-api server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// The synchronous routes of every released jimeng-api.
    Sync,
    /// PR #133's asynchronous routes: `task_id`, `GET /v1/async/tasks/{id}`.
    Tasks,
    /// Seed 002's asynchronous routes: `history_id`, status codes 10/20/30.
    History,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JimengConfig {
    /// A jimeng-api server, e.g. `http://jimeng-api:5100`
    pub base_url: url::Url,
    /// The Jimeng `sessionid` this channel uses.
    pub session_id: ApiKey,
    /// The model each capability runs, e.g. `{"image.generate": "jimeng-4.5"}`.
    pub models: HashMap<Capability, String>,
    /// The server's interface: `sync` (released jimeng-api, the default), `tasks` or `history`.
    #[serde(default = "sync")]
    pub dialect: Dialect,
    /// `history` only: where a task is polled; `{kind}` is `images` or `videos`, `{id}` the
    /// history id. Seed 002's `/v1/async/tasks/{id}` by default; the jackystd fork needs
    /// `/v1/async/{kind}/tasks/{id}`.
    #[serde(default)]
    pub poll_path: Option<String>,
    /// `sync` only: how long a generation may hold the request (jimeng-api's 900 s by default).
    #[serde(default)]
    pub sync_timeout_seconds: Option<u64>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

fn sync() -> Dialect {
    Dialect::Sync
}

pub struct Jimeng {
    name: String,
    config: JimengConfig,
    http: reqwest::Client,
    /// What a call may take in all (a sync generation: its `syncTimeoutSeconds`).
    timeout: Duration,
}

impl Jimeng {
    pub fn new(name: impl Into<String>, config: JimengConfig) -> Self {
        let timeout = match config.dialect {
            Dialect::Sync => Duration::from_secs(config.sync_timeout_seconds.unwrap_or(SYNC_TIMEOUT_SECONDS)),
            _ => ASYNC_TIMEOUT,
        };
        let http = genrelay_egress::http_client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .build()
            .expect("the HTTP client builds");
        Self { name: name.into(), config, http, timeout }
    }

    fn polls(&self, job: &Job) -> (Duration, Duration) {
        let (first, every) = if job.capability() == Capability::VideoGenerate { VIDEO_POLLS } else { IMAGE_POLLS };
        match self.config.poll_interval_ms.map(Duration::from_millis) {
            Some(interval) => (interval, interval),
            None => (first, every),
        }
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.config.base_url.join(path).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    /// Creates the generation: once the request went out, a broken answer leaves its outcome
    /// unknown. jimeng-api's own trouble reaching Jimeng is unknown too once Jimeng may have
    /// taken the generation (a timeout, a connection reset while it waits); only a Jimeng it
    /// could not reach at all (DNS, a refused connection) took nothing.
    async fn create(&self, path: &str, body: Value) -> Result<Value> {
        let request = self.http.post(self.url(path)?).bearer_auth(self.config.session_id.expose()).json(&body);
        let response = request.send().await.map_err(|e| submission_transport(PROVIDER, e))?;
        if !response.status().is_success() {
            return Err(submission_status(PROVIDER, response.status(), ""));
        }
        Self::read(response).await.map_err(|error| match error {
            Error::Upstream(UpstreamError { cause: Cause::Busy, .. }) => no_task_id(PROVIDER),
            Error::Upstream(error @ UpstreamError { cause: Cause::Unreachable | Cause::TimedOut, .. })
                if !error.said.as_deref().is_some_and(|said| NOTHING_SENT.iter().any(|m| said.contains(m))) =>
            {
                let unknown = UpstreamError::new(PROVIDER, Cause::OutcomeUnknown)
                    .detail("jimeng-api lost Jimeng while generating; not sent again");
                unknown.said(error.said.as_deref().unwrap_or_default()).into()
            }
            other => other,
        })
    }

    async fn read(response: reqwest::Response) -> Result<Value> {
        if !response.status().is_success() {
            return Err(status(PROVIDER, response.status(), ""));
        }
        let answer: Value = answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))?;
        match answer["code"].as_i64() {
            Some(code) if code < 0 => Err(classify(Some(code), answer["message"].as_str().unwrap_or_default()).into()),
            _ => Ok(answer),
        }
    }

    async fn files(&self, urls: impl Iterator<Item = &str>) -> Result<Vec<GeneratedFile>> {
        let mut files = Vec::new();
        for url in urls {
            files.push(download(PROVIDER, &self.http, url).await?);
        }
        if files.is_empty() {
            return Err(UpstreamError::new(PROVIDER, Cause::Failed)
                .detail("the generation ended without a result")
                .into());
        }
        Ok(files)
    }

    /// Where the server keeps a task of `job`.
    fn task_path(&self, job: &Job, id: &str) -> String {
        let kind = if job.capability() == Capability::VideoGenerate { "videos" } else { "images" };
        match (self.config.dialect, &self.config.poll_path) {
            (Dialect::History, Some(path)) => path.replace("{kind}", kind).replace("{id}", id),
            _ => format!("/v1/async/tasks/{id}"),
        }
    }
}

/// Messages of jimeng-api failing to reach Jimeng at all: nothing was sent.
const NOTHING_SENT: [&str; 5] = ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "EHOSTUNREACH", "getaddrinfo"];

/// What a jimeng-api error means, from its code and its message (`-1000` says only "something
/// was thrown"; PR #133's failed tasks keep only the message). What a client reads never carries
/// the operator advice jimeng-api appends ("请重新获取refresh_token…"): that goes to the log.
pub fn classify(code: Option<i64>, message: &str) -> UpstreamError {
    let has = |needles: &[&str]| needles.iter().any(|needle| message.contains(needle));
    let cause = if code == Some(-2002) || has(&["登录失效", "login error", "authorization invalid"]) {
        Cause::CredentialsRefused
    } else if code == Some(-2009) || has(&["积分不足", "insufficient"]) {
        Cause::QuotaExhausted
    } else if code == Some(-2006) || has(&["内容违规", "content violation"]) {
        Cause::Filtered
    } else if has(&["任务不存在", "task not found"]) {
        Cause::Lost
    } else if has(&NOTHING_SENT) || has(&["ECONNRESET", "socket hang up"]) {
        Cause::Unreachable
    } else if has(&["timeout of", "ETIMEDOUT", "timed out"]) {
        Cause::TimedOut
    } else if code == Some(-2001) {
        Cause::Busy
    } else if matches!(code, Some(-2000 | -2003 | -2004)) || has(&["[请求有误]", "不支持的参数", "Params "]) {
        Cause::RefusedAsInvalid
    } else {
        Cause::Failed
    };
    let error = UpstreamError::new(PROVIDER, cause);
    match cause {
        Cause::CredentialsRefused => error.detail("the channel's session has expired or is not valid").said(message),
        Cause::QuotaExhausted => error.detail("the channel's account has no credits left").said(message),
        Cause::Unreachable | Cause::TimedOut => error.detail("jimeng-api could not reach Jimeng").said(message),
        Cause::RefusedAsInvalid if message.contains("[请求有误]") => {
            error.detail("the server has no such route (check the channel's dialect)").said(message)
        }
        _ => {
            // jimeng-api ends a message with advice for its operator after a full stop.
            let shown = message.split('。').next().unwrap_or(message);
            let mut error = error.detail(shown);
            if shown != message {
                error.said = Some(message.to_owned());
            }
            error
        }
    }
}

/// The video durations (seconds) jimeng-api takes for a video model (its `routes/videos.ts`):
/// veo3 8; sora2 4, 8, 12; 3.5-pro 5, 10, 12; seedance-2.0 4 to 15; the others 5 and 10.
pub fn video_durations(model: &str) -> Vec<u32> {
    if model.contains("veo3") {
        vec![8]
    } else if model.contains("sora2") {
        vec![4, 8, 12]
    } else if model.contains("3.5-pro") {
        vec![5, 10, 12]
    } else if model.contains("seedance-2.0") {
        (4..=15).collect()
    } else {
        vec![5, 10]
    }
}

fn ratio_of(width: u32, height: u32) -> &'static str {
    let r = width as f64 / height as f64;
    let known = [
        ("1:1", 1.0),
        ("4:3", 4.0 / 3.0),
        ("3:4", 0.75),
        ("16:9", 16.0 / 9.0),
        ("9:16", 9.0 / 16.0),
        ("3:2", 1.5),
        ("2:3", 2.0 / 3.0),
        ("21:9", 21.0 / 9.0),
    ];
    known.iter().min_by(|a, b| (a.1 - r).abs().total_cmp(&(b.1 - r).abs())).map(|k| k.0).unwrap_or("1:1")
}

/// jimeng-api's resolution for an image of this size: `1k`, `2k` or `4k` by its long side.
fn resolution_of(width: u32, height: u32) -> &'static str {
    match width.max(height) {
        ..=1024 => "1k",
        1025..=2048 => "2k",
        _ => "4k",
    }
}

#[async_trait]
impl Provider for Jimeng {
    fn name(&self) -> &str {
        &self.name
    }

    fn longest_call(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    /// jimeng-api's `POST /token/check`: whether Jimeng still takes the session id.
    async fn probe(&self) -> Result<ProbeAnswer> {
        let session = self.config.session_id.expose();
        let request = self.http.post(self.url("/token/check")?).json(&json!({"token": session}));
        crate::http::probe(PROVIDER, request, &[session], |code, body| code.is_success() && body["live"] == true).await
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let model = configured_for(&self.config.models, job.capability(), &self.name, "model")?;
        let prompt = job.spec.prompt.clone().unwrap_or_default();
        let (kind, body) = match &job.spec.params {
            Params::VideoGenerate(settings) => {
                let ratio = if settings.ratio == VideoRatio::Adaptive { "1:1" } else { settings.ratio.as_str() };
                let body = json!({"model": model, "prompt": prompt, "ratio": ratio,
                                  "resolution": settings.resolution.as_str(), "duration": settings.duration,
                                  "file_paths": inputs.images.iter().take(2).collect::<Vec<_>>()});
                ("videos/generations", body)
            }
            Params::ImageGenerate(params) => {
                let mut body = json!({"model": model, "prompt": prompt, "ratio": ratio_of(params.width, params.height),
                                      "resolution": resolution_of(params.width, params.height)});
                if let Some(scale) = params.scale {
                    body["sample_strength"] = json!(f64::from(scale) / 100.0);
                }
                if inputs.images.is_empty() {
                    ("images/generations", body)
                } else {
                    body["images"] = json!(inputs.images);
                    ("images/compositions", body)
                }
            }
            _ => ("images/compositions", json!({"model": model, "prompt": prompt, "images": inputs.images})),
        };
        match self.config.dialect {
            Dialect::Sync => {
                let answer = self.create(&format!("/v1/{kind}"), body).await?;
                let urls = answer["data"].as_array().into_iter().flatten().filter_map(|item| item["url"].as_str());
                Ok(Submission::Finished(self.files(urls).await?))
            }
            Dialect::Tasks | Dialect::History => {
                let answer = self.create(&format!("/v1/async/{kind}"), body).await?;
                let field = if self.config.dialect == Dialect::Tasks { "task_id" } else { "history_id" };
                let id = answer[field].as_str().filter(|id| !id.is_empty()).ok_or_else(|| no_task_id(PROVIDER))?;
                Ok(Submission::Accepted { task_id: id.to_owned(), poll_after: self.polls(job).0 })
            }
        }
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        let request = self.http.get(self.url(&self.task_path(job, id))?).bearer_auth(self.config.session_id.expose());
        let task = Self::read(request.send().await.map_err(|e| transport(PROVIDER, e))?).await?;
        let running = |progress: u8| Ok(PollOutcome::Running { progress, poll_after: self.polls(job).1 });
        if self.config.dialect == Dialect::History {
            return match task["status"].as_i64() {
                Some(10 | 50) => {
                    let results = task["results"].as_array().into_iter().flatten().filter_map(|r| r["url"].as_str());
                    Ok(PollOutcome::Succeeded(self.files(results.chain(task["video_url"].as_str())).await?))
                }
                Some(30) => {
                    let filtered = task["fail_code"].as_str() == Some("2038") || task["fail_code"] == 2038;
                    let cause = if filtered { Cause::Filtered } else { Cause::Failed };
                    let detail = format!("fail code {}", task["fail_code"]);
                    Err(UpstreamError::new(PROVIDER, cause).detail(&detail).into())
                }
                Some(_) => running(50),
                None => Err(unreadable(PROVIDER)),
            };
        }
        let progress = task["progress"].as_u64().unwrap_or(0).min(99) as u8;
        match task["status"].as_str() {
            Some("completed") => {
                let urls =
                    task["result"]["data"].as_array().into_iter().flatten().filter_map(|item| item["url"].as_str());
                Ok(PollOutcome::Succeeded(self.files(urls).await?))
            }
            Some("failed") => {
                let mut failure = classify(None, task["error"].as_str().unwrap_or("the generation failed"));
                // The task ended: a transport trouble it reports was jimeng-api's, mid-generation.
                if failure.cause.is_transient() || failure.cause.resubmits() {
                    failure.cause = Cause::Failed;
                }
                Err(failure.into())
            }
            Some(_) => running(progress),
            None => Err(unreadable(PROVIDER)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_by_code_and_by_message() {
        let cases = [
            (Some(-2002), "[登录失效]: login error。请重新获取refresh_token并更新配置", Cause::CredentialsRefused),
            (Some(-2009), "积分不足且无法自动收取。请前往即梦官网领取", Cause::QuotaExhausted),
            (Some(-2006), "[内容违规]: 提示词包含敏感内容", Cause::Filtered),
            (Some(-2007), "图像生成失败，状态码: 30，错误码: 1180", Cause::Failed),
            (Some(-1000), "getaddrinfo ENOTFOUND jimeng.jianying.com", Cause::Unreachable),
            (Some(-1000), "timeout of 45000ms exceeded", Cause::TimedOut),
            (
                Some(-1000),
                "[请求有误]: 正确请求为 POST -> /v1/chat/completions，当前请求为 POST -> /v1/async/images/generations",
                Cause::RefusedAsInvalid,
            ),
            (Some(-1000), "不支持的参数: size。请使用 ratio 和 resolution", Cause::RefusedAsInvalid),
            (Some(-1000), "任务不存在: 0b7c…", Cause::Lost),
            (None, "[登录失效]: login error。请重新获取refresh_token并更新配置", Cause::CredentialsRefused),
            (None, "积分不足且无法自动收取。", Cause::QuotaExhausted),
            (Some(-2000), "Params headers.authorization invalid", Cause::CredentialsRefused),
        ];
        for (code, message, cause) in cases {
            assert_eq!(classify(code, message).cause, cause, "{code:?} {message}");
        }
        let expired = classify(Some(-2002), "[登录失效]: login error。请重新获取refresh_token并更新配置");
        assert_eq!(
            expired.to_string(),
            "Jimeng: session or credentials refused: the channel's session has expired or is not valid"
        );
        let advice = classify(Some(-2007), "图像生成失败。请稍后重试");
        assert!(!advice.to_string().contains("请"), "operator advice stays in the log: {advice}");
    }
}
