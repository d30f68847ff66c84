//! Meitu's Yunxiu (美图云修) retouching API, as seed 000's original uses it: `POST
//! {endpoint}` (default `/openapi/realphotolocal_async`) with the key and secret in the JSON body,
//! the preset as `media_code` and the input as a URL Meitu fetches (`media_data`) answers a
//! `msg_id`; `POST /openapi/query` with the `msg_id` answers `data.media_data`, the result's URL,
//! once it is ready (`code` 0 without it while it runs). Every answer is HTTP 200 with
//! `{code, message, data}`; a non-zero code is classified as the gateway's (QPS and concurrency
//! retried, authorization the channel's fault, a task it does not know lost).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use genrelay_core::ports::{PollOutcome, ProbeAnswer, Provider, ResolvedInputs, Submission};
use genrelay_core::{Capability, Error, Job, Result};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{
    ApiKey, answer_json, client, configured_for, download, no_task_id, status, submission_status, submission_transport,
    transport, unreadable,
};
use crate::meitu::gateway_refusal;

const PROVIDER: &str = "Meitu Yunxiu";
/// The retouching endpoint the original calls unless configured otherwise.
pub const DEFAULT_ENDPOINT: &str = "/openapi/realphotolocal_async";
/// Meitu's base URL in seed 000's example.
pub const DEFAULT_BASE_URL: &str = "https://api.yunxiu.meitu.com";
/// The channel seed 000's Meitu config (`/admin/meitu/api/config`) is kept as.
pub const MEITU_CHANNEL: &str = "meitu-yunxiu";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct YunxiuConfig {
    /// `https://api.yunxiu.meitu.com`
    pub base_url: url::Url,
    pub api_key: ApiKey,
    pub api_secret: ApiKey,
    /// The retouching endpoint (`/openapi/realphotolocal_async`, or the `super_` one).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Where Meitu posts results (`repost_url`); genrelay polls either way.
    #[serde(default)]
    pub repost_url: Option<String>,
    /// Whether a job's original is retouched here (with its style's Meitu preset) before its
    /// own capability runs.
    #[serde(default)]
    pub enable_in_workflow: bool,
    /// The Meitu preset (`media_code`) each capability runs, if the channel serves any; the
    /// retouch before a workflow names its preset itself.
    #[serde(default)]
    pub presets: HashMap<Capability, String>,
    #[serde(default)]
    pub first_poll_ms: Option<u64>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

fn default_endpoint() -> String {
    DEFAULT_ENDPOINT.to_owned()
}

pub struct Yunxiu {
    name: String,
    config: YunxiuConfig,
    http: crate::http::SharedClient,
}

impl Yunxiu {
    pub fn new(name: impl Into<String>, config: YunxiuConfig) -> Self {
        Self { name: name.into(), config, http: client() }
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        let base = self.config.base_url.as_str().trim_end_matches('/');
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        url::Url::parse(&format!("{base}{path}")).map_err(|e| Error::internal(format!("bad upstream URL: {e}")))
    }

    fn interval(&self) -> Duration {
        self.config.poll_interval_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(5))
    }

    /// The body of every call: the channel's credentials and `fields`.
    fn body(&self, fields: Value) -> Value {
        let mut body = json!({"api_key": self.config.api_key.expose(), "api_secret": self.config.api_secret.expose()});
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        body
    }

    /// Sends a retouch of `image` with the preset `media_code`: the `msg_id` Meitu answers.
    pub async fn start(&self, media_code: &str, image: &str) -> Result<String> {
        let mut fields = json!({"media_code": media_code, "media_data": image});
        if let Some(repost) = &self.config.repost_url {
            fields["repost_url"] = Value::from(repost.clone());
        }
        let request = self.http.post(self.url(&self.config.endpoint)?).json(&self.body(fields));
        let response = request.send().await.map_err(|e| submission_transport(PROVIDER, e))?;
        if !response.status().is_success() {
            return Err(submission_status(PROVIDER, response.status(), ""));
        }
        let envelope: Value = answer_json(response).await.ok_or_else(|| no_task_id(PROVIDER))?;
        match envelope["code"].as_i64() {
            Some(0) => envelope["data"]["msg_id"]
                .as_str()
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| no_task_id(PROVIDER)),
            Some(code) => Err(gateway_refusal(PROVIDER, code, envelope["message"].as_str().unwrap_or_default())),
            None => Err(no_task_id(PROVIDER)),
        }
    }

    /// Asks Meitu about `msg_id`: its result's URL once ready, `None` while it runs.
    pub async fn query(&self, msg_id: &str) -> Result<Option<String>> {
        let request = self.http.post(self.url("/openapi/query")?).json(&self.body(json!({"msg_id": msg_id})));
        let response = request.send().await.map_err(|e| transport(PROVIDER, e))?;
        if !response.status().is_success() {
            return Err(status(PROVIDER, response.status(), ""));
        }
        let envelope: Value = answer_json(response).await.ok_or_else(|| unreadable(PROVIDER))?;
        match envelope["code"].as_i64() {
            Some(0) => Ok(envelope["data"]["media_data"].as_str().filter(|url| !url.is_empty()).map(str::to_owned)),
            Some(code) => Err(gateway_refusal(PROVIDER, code, envelope["message"].as_str().unwrap_or_default())),
            None => Err(unreadable(PROVIDER)),
        }
    }
}

#[async_trait]
impl Provider for Yunxiu {
    fn name(&self) -> &str {
        &self.name
    }

    /// Asks about a task that cannot exist: Meitu answers "no such task" to keys it takes, and
    /// its authorization error to others.
    async fn probe(&self) -> Result<ProbeAnswer> {
        let body = self.body(json!({"msg_id": "genrelay-probe"}));
        let request = self.http.post(self.url("/openapi/query")?).json(&body);
        let secrets = [self.config.api_key.expose(), self.config.api_secret.expose()];
        crate::http::probe(PROVIDER, request, &secrets, |code, body| {
            code.is_success() && !matches!(body["code"].as_i64(), Some(90002 | 90003 | 90022 | 91010) | None)
        })
        .await
    }

    fn retouches_originals(&self) -> bool {
        self.config.enable_in_workflow
    }

    async fn retouch(&self, preset: &str, image: &str) -> Result<(String, Duration)> {
        let msg_id = self.start(preset, image).await?;
        Ok((msg_id, self.config.first_poll_ms.map(Duration::from_millis).unwrap_or(Duration::from_secs(10))))
    }

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission> {
        let media_code = configured_for(&self.config.presets, job.capability(), &self.name, "preset")?;
        let image = inputs.images.first().ok_or_else(|| Error::invalid("inputs: a retouch takes one input image"))?;
        let (task_id, poll_after) = self.retouch(media_code, image).await?;
        Ok(Submission::Accepted { task_id, poll_after })
    }

    async fn poll(&self, job: &Job) -> Result<PollOutcome> {
        let msg_id = job.upstream_task_id.as_deref().ok_or_else(|| Error::internal("polled without a task"))?;
        match self.query(msg_id).await? {
            Some(url) => Ok(PollOutcome::Succeeded(vec![download(PROVIDER, &self.http, &url).await?])),
            None => Ok(PollOutcome::Running { progress: 50, poll_after: self.interval() }),
        }
    }
}
