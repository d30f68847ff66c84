//! `/admin/meitu/api/config`: seed 000's Meitu (美图云修) config, admins only as in the original.
//! It is kept as the provider channel `meitu-yunxiu` (type `yunxiu`), so it is stored, masked and
//! applied like every channel: the key and secret are write-only (SSM SecureStrings on AWS; a
//! blank or masked one keeps the stored one), and a save reaches every function within a minute.

use axum::extract::State;
use genrelay_core::Error;
use genrelay_providers::stored::MASK;
use genrelay_providers::yunxiu::{DEFAULT_BASE_URL, DEFAULT_ENDPOINT, MEITU_CHANNEL};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, JsonBody, Success};
use crate::session::AdminOnly;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().routes(routes!(get_config, save_config))
}

/// The Meitu config, as seed 000's clients read it; the key and secret are never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeituConfigView {
    /// `••••••••` once set, else empty.
    #[schema(example = "••••••••")]
    pub api_key: String,
    /// `••••••••` once set, else empty.
    #[schema(example = "••••••••")]
    pub api_secret: String,
    #[schema(example = "https://api.yunxiu.meitu.com")]
    pub api_base_url: String,
    #[schema(example = "/openapi/realphotolocal_async")]
    pub api_endpoint: String,
    /// Where Meitu posts results (genrelay polls either way).
    pub repost_url: Option<String>,
    /// Whether Meitu is in use.
    pub is_active: bool,
    /// 开启后，上传原图会先经过美图API处理，再调用AI工作流.
    pub enable_in_workflow: bool,
}

/// A save: the seed's fields. A key or secret left blank (or sent back masked) keeps the stored
/// one; the first save needs both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeituConfigChange {
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_secret: Option<String>,
    #[serde(default)]
    pub api_base_url: Option<String>,
    #[serde(default)]
    pub api_endpoint: Option<String>,
    #[serde(default)]
    pub repost_url: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub enable_in_workflow: Option<bool>,
}

impl MeituConfigView {
    fn unset() -> Self {
        Self {
            api_key: String::new(),
            api_secret: String::new(),
            api_base_url: DEFAULT_BASE_URL.to_owned(),
            api_endpoint: DEFAULT_ENDPOINT.to_owned(),
            repost_url: None,
            is_active: false,
            enable_in_workflow: false,
        }
    }

    /// The config of the stored channel (its credentials already masked).
    fn of(channel: &Value) -> Self {
        let text = |field: &str, default: &str| channel[field].as_str().unwrap_or(default).to_owned();
        let masked = |field: &str| if channel.get(field).is_some() { MASK.to_owned() } else { String::new() };
        Self {
            api_key: masked("apiKey"),
            api_secret: masked("apiSecret"),
            api_base_url: text("baseUrl", DEFAULT_BASE_URL),
            api_endpoint: text("endpoint", DEFAULT_ENDPOINT),
            repost_url: channel["repostUrl"].as_str().map(str::to_owned),
            is_active: channel["enabled"].as_bool().unwrap_or(true),
            enable_in_workflow: channel["enableInWorkflow"].as_bool().unwrap_or(false),
        }
    }
}

impl MeituConfigChange {
    /// The channel's settings after this change over `stored` (the masked stored channel).
    fn channel(self, stored: Option<&Value>) -> Result<Value, Error> {
        let before = stored.map(MeituConfigView::of).unwrap_or_else(MeituConfigView::unset);
        let base_url = self.api_base_url.filter(|u| !u.trim().is_empty()).unwrap_or(before.api_base_url);
        url::Url::parse(&base_url).map_err(|_| Error::invalid("api_base_url: not a URL"))?;
        let endpoint = self.api_endpoint.filter(|e| !e.trim().is_empty()).unwrap_or(before.api_endpoint);
        if !endpoint.starts_with('/') {
            return Err(Error::invalid("api_endpoint: a path starting with /"));
        }
        let given = |value: Option<String>| value.filter(|v| !v.is_empty() && v != MASK);
        let (key, secret) = (given(self.api_key), given(self.api_secret));
        if stored.is_none() && (key.is_none() || secret.is_none()) {
            return Err(Error::invalid("api_key, api_secret: both are needed the first time"));
        }
        // From the stored channel, so what this config does not show (presets, polling, limits)
        // stays; its credentials are masked there, which keeps them unless new ones are given.
        let mut channel = stored.cloned().unwrap_or_else(|| json!({"presets": {}}));
        channel["name"] = Value::from(MEITU_CHANNEL);
        channel["type"] = Value::from("yunxiu");
        channel["baseUrl"] = Value::from(base_url);
        channel["endpoint"] = Value::from(endpoint);
        channel["enabled"] = Value::from(self.is_active.unwrap_or(stored.is_none() || before.is_active));
        channel["enableInWorkflow"] = Value::from(self.enable_in_workflow.unwrap_or(before.enable_in_workflow));
        match self.repost_url.or(before.repost_url).filter(|u| !u.trim().is_empty()) {
            Some(repost) => channel["repostUrl"] = Value::from(repost),
            None => {
                if let Some(fields) = channel.as_object_mut() {
                    fields.remove("repostUrl");
                }
            }
        }
        if let Some(key) = key {
            channel["apiKey"] = Value::from(key);
        }
        if let Some(secret) = secret {
            channel["apiSecret"] = Value::from(secret);
        }
        Ok(channel)
    }
}

async fn stored(state: &BackOfficeState) -> Result<Option<Value>, Failure> {
    match state.channels.get(MEITU_CHANNEL).await {
        Ok(channel) => Ok(Some(channel)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Read the Meitu config (获取美图 API 配置).
#[utoipa::path(
    get, path = "/admin/meitu/api/config", tag = "管理后台",
    responses(
        (status = 200, description = "The config, the key and secret masked", body = Success<MeituConfigView>),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
    ),
    security(("session" = []))
)]
async fn get_config(State(state): State<BackOfficeState>, _: AdminOnly) -> Result<Success<MeituConfigView>, Failure> {
    Ok(Success::of(config_view(&state).await?))
}

/// The Meitu config as stored (unset until the first save).
pub async fn config_view(state: &BackOfficeState) -> Result<MeituConfigView, Failure> {
    Ok(stored(state).await?.as_ref().map(MeituConfigView::of).unwrap_or_else(MeituConfigView::unset))
}

/// Save the Meitu config (保存美图 API 配置): applied here at once and on every function within
/// a minute.
#[utoipa::path(
    post, path = "/admin/meitu/api/config", tag = "管理后台",
    request_body(content = MeituConfigChange, example = json!({"api_key": "your_key", "api_secret": "your_secret",
        "api_base_url": "https://api.yunxiu.meitu.com", "enable_in_workflow": true})),
    responses(
        (status = 200, description = "Saved", body = Success<MeituConfigView>),
        (status = 400, description = "A field is wrong (the message names it)"),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
    ),
    security(("session" = []))
)]
async fn save_config(
    State(state): State<BackOfficeState>,
    AdminOnly(admin): AdminOnly,
    JsonBody(change): JsonBody<MeituConfigChange>,
) -> Result<Success<MeituConfigView>, Failure> {
    let before = stored(&state).await?;
    let channel = change.channel(before.as_ref())?;
    let saved = match before {
        Some(_) => state.channels.replace(MEITU_CHANNEL, channel).await?,
        None => state.channels.add(channel).await?,
    };
    tracing::info!(by = %admin.name(), "Meitu config saved");
    crate::providers::apply(&state).await;
    Ok(Success::saying("配置保存成功", MeituConfigView::of(&saved)))
}
