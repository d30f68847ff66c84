//! `/admin/meitu`: seed 000's Meitu (美图云修) half of the back office: the config (kept as the
//! Yunxiu channel), the style catalog and the presets that map Meitu preset codes onto it.

pub mod config;
pub mod presets;
pub mod styles;

use utoipa_axum::router::OpenApiRouter;

use crate::BackOfficeState;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().merge(config::routes()).merge(presets::routes()).merge(styles::routes())
}
