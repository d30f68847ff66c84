//! The back office operators use every day (seed 000): sign-in with roles, the AI task console
//! and its JSON API across every client and surface, and `/docs`. Served by the
//! `genrelay-admin` function on AWS and merged into `genrelay-dev`.
//!
//! Its answers are `{"status":"success","data":…}` and `{"status":"error","message":…}`, as
//! the Flask project seed 000 comes from answers.

mod ai_config;
mod docs;
mod error;
mod login;
mod meitu;
mod pages;
mod passwords;
mod playground;
mod providers;
mod request_guard;
mod session;
mod tasks;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use genrelay_core::ports::BackOfficeStore;
use genrelay_engine::Engine;
use utoipa_axum::router::OpenApiRouter;

pub use error::BackOfficeFormat;
pub use passwords::{FirstAdmin, PasswordError, hash as hash_password};
pub use session::{SessionKey, SessionSettings};

/// Largest body the back office reads (a login, an action).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every back-office handler needs.
#[derive(Clone)]
pub struct BackOfficeState {
    pub engine: Arc<Engine>,
    pub users: Arc<dyn BackOfficeStore>,
    /// The provider channels operators edit (the engine's channel source).
    pub channels: genrelay_providers::StoredChannels,
    pub sessions: SessionSettings,
}

impl FromRef<BackOfficeState> for axum_extra::extract::cookie::Key {
    fn from_ref(state: &BackOfficeState) -> Self {
        state.sessions.key.cookie_key().clone()
    }
}

/// `/admin/…` and `/docs`: the back office's pages and API, with the interactive documentation
/// of every surface.
pub fn router(state: BackOfficeState) -> Router {
    let (routes, _) = routes().split_for_parts();
    let back_office = routes
        .merge(pages::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_guard::refuse_cross_site_writes))
        .with_state(state);
    back_office.merge(docs::router())
}

/// The back office's JSON API, documented.
fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new()
        .merge(login::routes())
        .merge(tasks::routes())
        .merge(ai_config::routes())
        .merge(providers::routes())
        .merge(meitu::routes())
        .merge(playground::routes())
}

/// The back office's part of the OpenAPI document (tag 管理后台).
pub fn openapi() -> utoipa::openapi::OpenApi {
    genrelay_http::surface::document::<BackOfficeFormat, _>(routes())
}
