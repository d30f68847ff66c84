//! `/admin/ai-provider/api/configs`: the provider channels in force, with their live slot use
//! and cooldown. (Adding, editing and removing channels from here is still to come; today they
//! come from the providers file or the table's providers document.)

use axum::extract::{Path, State};
use axum::http::StatusCode;
use genrelay_engine::ChannelState;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, Success};
use crate::session::SignedIn;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().routes(routes!(list_channels)).routes(routes!(get_channel))
}

/// A provider channel and how it is doing now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    /// The channel's name, which identifies it.
    pub id: String,
    pub name: String,
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
}

impl From<ChannelState> for ChannelView {
    fn from(state: ChannelState) -> Self {
        let channel = state.channel;
        Self {
            id: channel.name().to_owned(),
            name: channel.name().to_owned(),
            capabilities: channel.capabilities.iter().map(|c| c.as_str().to_owned()).collect(),
            priority: channel.priority,
            weight: channel.weight,
            max_concurrent: channel.max_concurrent,
            video_durations: channel.video_durations,
            slots_in_use: state.slots_in_use,
            cooling_down: state.cooling_down.is_some(),
            cooldown_reason: state.cooling_down,
        }
    }
}

pub async fn channel_views(state: &BackOfficeState) -> Result<Vec<ChannelView>, Failure> {
    Ok(state.engine.channel_states().await?.into_iter().map(ChannelView::from).collect())
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
    let channel = channel_views(&state).await?.into_iter().find(|channel| channel.id == id);
    channel.map(Success::of).ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("通道 {id} 不存在")))
}
