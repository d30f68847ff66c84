//! `/admin/ai/api/config`: the AI config (polling, deadlines, retries, seed 003's presets). Everyone signed in reads
//! it; only admins change it. A change is checked before it is saved and takes effect on every
//! function within a minute, without a restart.

use axum::extract::State;
use axum::http::StatusCode;
use genrelay_core::AiConfig;
use genrelay_engine::Settings;
use genrelay_http::inference::InferencePresets;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, JsonBody, Success};
use crate::session::{AdminOnly, SignedIn};

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().routes(routes!(get_config, put_config))
}

/// The AI config as set, and the values in force (the deployment's defaults where unset).
#[derive(Debug, Serialize, ToSchema)]
pub struct AiConfigState {
    /// What operators set; a field left out keeps the default.
    pub config: AiConfig,
    /// What this instance runs with now.
    pub effective: AiConfig,
}

/// `settings` in the AI config's terms.
pub fn effective(settings: &Settings) -> AiConfig {
    let seconds = |d: std::time::Duration| Some(d.as_secs() as u32);
    AiConfig {
        poll_retry_seconds: seconds(settings.poll_retry),
        image_deadline_minutes: Some((settings.image_timeout.as_secs() / 60) as u32),
        video_deadline_minutes: Some((settings.video_timeout.as_secs() / 60) as u32),
        max_submit_attempts: Some(settings.max_submit_attempts),
        channel_wait_seconds: seconds(settings.channel_wait),
        upstream_outage_seconds: seconds(settings.upstream_outage),
        inference_presets: None,
        inference_queue_limit: None,
    }
}

pub async fn config_state(state: &BackOfficeState) -> Result<AiConfigState, Failure> {
    let config = state.engine.ai_config().await?;
    Ok(AiConfigState { config, effective: effective(&state.engine.settings()) })
}

/// Read the AI config.
#[utoipa::path(
    get, path = "/admin/ai/api/config", tag = "管理后台",
    responses(
        (status = 200, description = "The AI config and the values in force", body = Success<AiConfigState>),
        (status = 401, description = "未登录"),
    ),
    security(("session" = []))
)]
async fn get_config(State(state): State<BackOfficeState>, _: SignedIn) -> Result<Success<AiConfigState>, Failure> {
    Ok(Success::of(config_state(&state).await?))
}

/// Replace the AI config (admins only). Every value is checked before anything is saved.
#[utoipa::path(
    put, path = "/admin/ai/api/config", tag = "管理后台",
    request_body = AiConfig,
    responses(
        (status = 200, description = "Saved; every function applies it within a minute", body = Success<AiConfigState>),
        (status = 400, description = "A value is out of range or unknown; nothing was saved"),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
    ),
    security(("session" = []))
)]
async fn put_config(
    State(state): State<BackOfficeState>,
    AdminOnly(admin): AdminOnly,
    JsonBody(document): JsonBody<serde_json::Value>,
) -> Result<Success<AiConfigState>, Failure> {
    let config = AiConfig::from_document(document)?;
    if let Some(bodies) = &config.inference_presets {
        let limit = config.inference_queue_limit.unwrap_or(1) as usize;
        InferencePresets::from_bodies(bodies.clone(), limit)
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("inferencePresets: {e}")))?;
    }
    state.engine.set_ai_config(config, admin.name()).await?;
    Ok(Success::saying("已保存", config_state(&state).await?))
}
