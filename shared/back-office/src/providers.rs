//! `/admin/ai-provider/api/configs`: the provider channels. Everyone signed in sees them, with
//! their live slot use and cooldown, and may test a channel's connection; only admins add,
//! edit, disable and remove them. A change is stored in the providers document (credentials in
//! the secret store, shown masked), applies here at once and on every function within a
//! minute, without a redeploy.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use genrelay_engine::ChannelState;
use genrelay_providers::ProbeReport;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, JsonBody, Success};
use crate::session::{AdminOnly, SignedIn};

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, add_channel))
        .routes(routes!(get_channel, replace_channel, remove_channel))
        .routes(routes!(test_channel))
}

/// A provider channel: its settings and how it is doing now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// The channel's name, which identifies it.
    pub id: String,
    pub name: String,
    /// Its upstream (`comfyui`, `runninghub`, `jimeng`, …; `mock` for the built-in mock).
    #[serde(rename = "type")]
    pub upstream: String,
    /// A disabled channel takes no new jobs but finishes those it has.
    pub enabled: bool,
    #[schema(example = json!(["image.generate", "image.upscale"]))]
    pub capabilities: Vec<String>,
    /// Higher is tried first.
    pub priority: i64,
    pub weight: Option<u32>,
    /// Jobs it runs at once; none is unlimited.
    #[serde(rename = "maxConcurrent")]
    pub max_concurrent: Option<u32>,
    pub video_durations: Option<Vec<u32>>,
    /// Slots its jobs hold now.
    pub slots_in_use: u32,
    /// Skipped until its cooldown ends (after the upstream refused its credentials or quota).
    pub cooling_down: bool,
    pub cooldown_reason: Option<String>,
    /// Its settings as stored, as in a providers file, each credential shown as `••••••••`;
    /// none for the built-in mock, which is not edited here.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

impl ChannelView {
    /// The credentials it has (each shown masked).
    pub fn credential_fields(&self) -> Vec<&'static str> {
        let settings = self.settings.as_ref();
        let has = |field: &&str| settings.is_some_and(|settings| settings.get(*field).is_some());
        genrelay_providers::config::CREDENTIAL_FIELDS.iter().copied().filter(has).collect()
    }

    fn of(state: ChannelState, settings: Option<Value>) -> Self {
        let channel = state.channel;
        let upstream = settings.as_ref().and_then(|s| s["type"].as_str()).unwrap_or("mock").to_owned();
        Self {
            id: channel.name().to_owned(),
            name: channel.name().to_owned(),
            upstream,
            enabled: channel.enabled,
            capabilities: channel.capabilities.iter().map(|c| c.as_str().to_owned()).collect(),
            priority: channel.priority,
            weight: channel.weight,
            max_concurrent: channel.max_concurrent,
            video_durations: channel.video_durations,
            slots_in_use: state.slots_in_use,
            cooling_down: state.cooling_down.is_some(),
            cooldown_reason: state.cooling_down,
            settings,
        }
    }
}

/// What a connection test found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    pub channel: String,
    /// Whether the upstream answered and took the channel's credentials.
    pub ok: bool,
    /// The HTTP status it answered with.
    pub status: Option<u16>,
    /// What it answered (shortened, credentials blanked out), or why it could not be reached.
    pub answer: String,
    pub latency_ms: u64,
}

impl From<ProbeReport> for ConnectionTest {
    fn from(report: ProbeReport) -> Self {
        Self {
            channel: report.channel,
            ok: report.accepted,
            status: report.status,
            answer: report.answer,
            latency_ms: report.latency_ms,
        }
    }
}

/// Every channel in force here, with its stored settings.
pub async fn channel_views(state: &BackOfficeState) -> Result<Vec<ChannelView>, Failure> {
    let mut stored = state.channels.list().await?;
    let live = state.engine.channel_states().await?;
    Ok(live
        .into_iter()
        .map(|channel| {
            let at = stored.iter().position(|settings| settings["name"] == channel.channel.name());
            let settings = at.map(|at| stored.swap_remove(at));
            ChannelView::of(channel, settings)
        })
        .collect())
}

async fn channel_view(state: &BackOfficeState, id: &str) -> Result<ChannelView, Failure> {
    let channel = channel_views(state).await?.into_iter().find(|channel| channel.id == id);
    channel.ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("通道 {id} 不存在")))
}

/// Applies a stored change on this instance at once (the others read it within a minute). The
/// change is stored either way: channels that cannot be loaded now are logged, and the ones in
/// force stay until they can.
pub async fn apply(state: &BackOfficeState) {
    if let Err(error) = state.engine.reload_channels().await {
        tracing::warn!(error = %error.chain(), "the channels were saved but could not be loaded here");
    }
}

/// The provider channels in force, highest priority first, with live slot use and cooldown.
#[utoipa::path(
    get, path = "/admin/ai-provider/api/configs", tag = "管理后台",
    responses(
        (status = 200, description = "The channels", body = Success<Vec<ChannelView>>),
        (status = 401, description = "未登录"),
    ),
    security(("session" = []))
)]
async fn list_channels(
    State(state): State<BackOfficeState>,
    _: SignedIn,
) -> Result<Success<Vec<ChannelView>>, Failure> {
    Ok(Success::of(channel_views(&state).await?))
}

/// One provider channel, by name.
#[utoipa::path(
    get, path = "/admin/ai-provider/api/configs/{id}", tag = "管理后台",
    params(("id" = String, Path, description = "The channel's name")),
    responses(
        (status = 200, description = "The channel", body = Success<ChannelView>),
        (status = 401, description = "未登录"),
        (status = 404, description = "No such channel"),
    ),
    security(("session" = []))
)]
async fn get_channel(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    Path(id): Path<String>,
) -> Result<Success<ChannelView>, Failure> {
    Ok(Success::of(channel_view(&state, &id).await?))
}

/// Adds a channel: its settings as in a providers file (see the README), credentials in plain
/// text; they are stored as secrets and never shown again. Admins only.
#[utoipa::path(
    post, path = "/admin/ai-provider/api/configs", tag = "管理后台",
    request_body(content = Object, description = "A channel, as in a providers file",
        example = json!({"name": "rh-main", "type": "runninghub", "baseUrl": "https://www.runninghub.cn",
                         "apiKey": "0123456789abcdef0123456789abcdef", "priority": 10, "maxConcurrent": 3,
                         "workflows": {"image.generate": {"workflowId": "1910246754753896450",
                                       "prompt": {"nodeId": "6", "fieldName": "text"}}}})),
    responses(
        (status = 201, description = "Added", body = Success<ChannelView>),
        (status = 400, description = "A setting is missing or wrong (the message names it)"),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
        (status = 409, description = "A channel of that name exists"),
    ),
    security(("session" = []))
)]
async fn add_channel(
    State(state): State<BackOfficeState>,
    AdminOnly(admin): AdminOnly,
    JsonBody(channel): JsonBody<Value>,
) -> Result<(StatusCode, Success<ChannelView>), Failure> {
    let added = state.channels.add(channel).await?;
    let name = added["name"].as_str().unwrap_or_default().to_owned();
    tracing::info!(by = %admin.name(), channel = %name, "channel added");
    apply(&state).await;
    Ok((StatusCode::CREATED, Success::saying("通道已添加", channel_view(&state, &name).await?)))
}

/// Replaces a channel's settings (enable or disable it with `enabled`). A credential left
/// blank, or sent back masked, keeps the stored one. Admins only.
#[utoipa::path(
    put, path = "/admin/ai-provider/api/configs/{id}", tag = "管理后台",
    params(("id" = String, Path, description = "The channel's name")),
    request_body(content = Object, description = "The channel's settings, as in a providers file"),
    responses(
        (status = 200, description = "Saved", body = Success<ChannelView>),
        (status = 400, description = "A setting is missing or wrong (the message names it)"),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
        (status = 404, description = "No such channel"),
        (status = 409, description = "Changed by someone else at the same time"),
    ),
    security(("session" = []))
)]
async fn replace_channel(
    State(state): State<BackOfficeState>,
    AdminOnly(admin): AdminOnly,
    Path(id): Path<String>,
    JsonBody(channel): JsonBody<Value>,
) -> Result<Success<ChannelView>, Failure> {
    state.channels.replace(&id, channel).await?;
    tracing::info!(by = %admin.name(), channel = %id, "channel changed");
    apply(&state).await;
    Ok(Success::saying("通道已保存", channel_view(&state, &id).await?))
}

/// Removes a disabled channel and its credentials (an enabled one is refused: disable it, and
/// remove it once its jobs have ended). Admins only.
#[utoipa::path(
    delete, path = "/admin/ai-provider/api/configs/{id}", tag = "管理后台",
    params(("id" = String, Path, description = "The channel's name")),
    responses(
        (status = 200, description = "Removed"),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
        (status = 404, description = "No such channel"),
        (status = 409, description = "The channel is enabled"),
    ),
    security(("session" = []))
)]
async fn remove_channel(
    State(state): State<BackOfficeState>,
    AdminOnly(admin): AdminOnly,
    Path(id): Path<String>,
) -> Result<Success<Option<()>>, Failure> {
    state.channels.remove(&id).await?;
    tracing::info!(by = %admin.name(), channel = %id, "channel removed");
    apply(&state).await;
    Ok(Success::saying("通道已删除", None))
}

/// Tests a channel's connection: asks its upstream something cheap with its credentials and
/// reports the answer and how long it took.
#[utoipa::path(
    post, path = "/admin/ai-provider/api/configs/{id}/test", tag = "管理后台",
    params(("id" = String, Path, description = "The channel's name")),
    responses(
        (status = 200, description = "What the upstream answered", body = Success<ConnectionTest>),
        (status = 401, description = "未登录"),
        (status = 404, description = "No such stored channel"),
    ),
    security(("session" = []))
)]
async fn test_channel(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    Path(id): Path<String>,
) -> Result<Success<ConnectionTest>, Failure> {
    Ok(Success::of(ConnectionTest::from(state.channels.probe(&id).await?)))
}
