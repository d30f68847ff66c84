//! `/admin/meitu`: seed 000's Meitu (美图云修) half of the back office: the config (kept as the
//! Yunxiu channel), the style catalog, the presets that map Meitu preset codes onto it, and the
//! Meitu tasks (the calls to Meitu).

pub mod config;
pub mod presets;
pub mod styles;
pub mod tasks;

use utoipa_axum::router::OpenApiRouter;

use crate::BackOfficeState;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().merge(config::routes()).merge(presets::routes()).merge(styles::routes()).merge(tasks::routes())
}
