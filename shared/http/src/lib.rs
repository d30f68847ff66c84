//! genrelay's HTTP surfaces. Each route group is one axum router (run by its Lambda function
//! through `lambda_http`, or merged into the dev server), sharing auth, the JSON error mapping
//! and the OpenAPI document generated from the handlers.

mod assets;
mod auth;
mod error;
mod extract;
pub mod inference;
pub mod jimeng_async;
mod jobs;
mod json;
mod meta;
mod openapi;
pub mod ps_tasks;
mod query;
mod request_log;
pub mod surface;
mod uploads;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use genrelay_engine::Engine;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{ApiKeys, KeyListError};
pub use error::{ApiError, OpenApiFormat};
pub use openapi::{
    DOCUMENT as OPENAPI_DOCUMENT, check_committed as check_committed_openapi, merge_into as merge_openapi, openapi,
};
pub use request_log::log_requests;

/// Largest JSON body accepted (413 above it).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;
/// Largest multipart upload accepted through `POST /api/v1/assets` (413 above it).
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

/// What every handler needs: the engine and the API keys.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub keys: Arc<ApiKeys>,
}

/// `/api/v1/jobs…`: create, read, list, cancel.
pub fn jobs_router(state: AppState) -> Router {
    finish(jobs::routes(), state)
}

/// `/api/v1/assets…`: upload, register, read, list, download.
pub fn assets_router(state: AppState) -> Router {
    finish(assets::routes(), state)
}

/// `/api/v1/openapi.json` and `/api/v1/capabilities`.
pub fn meta_router(state: AppState) -> Router {
    finish(meta::routes(), state)
}

/// Every route of the open API, for the dev server.
pub fn open_api_router(state: AppState) -> Router {
    finish(all_routes(), state)
}

/// Seed 003's inference backend API (`/api/inference`, `/api/task…`, `/api/tasks`,
/// `/api/system/status`, `/api/health`), with its presets: its Lambda function's router.
pub fn inference_router(state: AppState, presets: inference::InferencePresets) -> Router {
    surface::standalone::<inference::InferenceFormat>(inference_routes(state, presets))
}

/// Seed 003's routes, for merging into the dev server (no fallback of their own).
pub fn inference_routes(state: AppState, presets: inference::InferencePresets) -> Router {
    let state = inference::InferenceState { app: state, presets: Arc::new(presets) };
    let (router, _) = inference::routes().split_for_parts();
    router.layer(DefaultBodyLimit::max(MAX_JSON_BYTES)).with_state(state)
}

/// Seed 001's PS task API (`/ps_tasks/submit`, `/ps_tasks/result/{task_id}`): its Lambda
/// function's router.
pub fn ps_tasks_router(state: AppState) -> Router {
    surface::standalone::<ps_tasks::PsTasksFormat>(ps_tasks_routes(state))
}

/// Seed 001's routes, for merging into the dev server (no fallback of their own).
pub fn ps_tasks_routes(state: AppState) -> Router {
    let (router, _) = ps_tasks::routes().split_for_parts();
    router.layer(DefaultBodyLimit::max(MAX_JSON_BYTES)).with_state(state)
}

/// Seed 002's Jimeng async API (`/v1/async/images/…`, `/v1/async/videos/generations`,
/// `/v1/async/tasks/…`): its Lambda function's router.
pub fn jimeng_async_router(state: AppState) -> Router {
    surface::standalone::<jimeng_async::JimengFormat>(jimeng_async_routes(state))
}

/// Seed 002's routes, for merging into the dev server (no fallback of their own).
pub fn jimeng_async_routes(state: AppState) -> Router {
    let (router, _) = jimeng_async::routes().split_for_parts();
    router.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)).with_state(state)
}

fn all_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(meta::routes()).merge(jobs::routes()).merge(assets::routes())
}

fn finish(routes: OpenApiRouter<AppState>, state: AppState) -> Router {
    let (router, _) = routes.split_for_parts();
    surface::standalone::<error::OpenApiFormat>(router.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)).with_state(state))
}
