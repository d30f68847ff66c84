//! The back office operators use every day (seed 000): sign-in with roles, the AI task console
//! and its JSON API across every client and surface. Served by the `genrelay-admin` function on
//! AWS and merged into `genrelay-dev`; its part of the OpenAPI document is served at `/docs`.
//!
//! Its answers are `{"status":"success","data":…}` and `{"status":"error","message":…}`, as
//! the Flask project seed 000 comes from answers.

mod ai_config;
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
use utoipa::openapi::info::InfoBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
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
    /// The configured first admin, added at its first sign-in if no user has its name.
    pub first_admin: Option<FirstAdmin>,
}

impl FromRef<BackOfficeState> for axum_extra::extract::cookie::Key {
    fn from_ref(state: &BackOfficeState) -> Self {
        state.sessions.key.cookie_key().clone()
    }
}

/// `/admin/…`: the back office's pages and API, served once given their state
/// (`.with_state(state)`). Building it takes a few milliseconds (every documented route's
/// OpenAPI parts are made and dropped), so the function builds it while init's reads wait.
pub fn router() -> Router<BackOfficeState> {
    let (routes, _) = routes().split_for_parts();
    routes
        .merge(pages::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(request_guard::refuse_cross_site_writes))
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

/// The back office's part of the OpenAPI document as `/docs` serves it: [`openapi`] written to
/// `openapi.json` beside this crate (a test fails when the two differ;
/// `GENRELAY_WRITE_OPENAPI=1 cargo test -p genrelay-back-office openapi` rewrites it).
pub const OPENAPI_DOCUMENT: &str = include_str!("../openapi.json");

/// The back office's part of the OpenAPI document as the routes make it: tag 管理后台, signed
/// in with the `session` cookie.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut part = genrelay_http::surface::document::<BackOfficeFormat, _>(routes());
    part.info = InfoBuilder::new().title("genrelay back office").version(env!("CARGO_PKG_VERSION")).build();
    part.tags = Some(vec![
        TagBuilder::new()
            .name("管理后台")
            .description(Some(
                "The back office (seed 000): sign in with POST /admin/login, then every call carries the \
                 `session` cookie. Answers are `{\"status\":\"success\",\"data\":…}` or \
                 `{\"status\":\"error\",\"message\":…}`; 401 未登录 without a session, 403 权限不足 for an \
                 action the role does not allow.",
            ))
            .build(),
    ]);
    let components = part.components.get_or_insert_with(Default::default);
    components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("session"))));
    part
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_served_openapi_part_is_the_generated_one() {
        genrelay_http::check_committed_openapi(&super::openapi(), super::OPENAPI_DOCUMENT, env!("CARGO_MANIFEST_DIR"));
    }
}
