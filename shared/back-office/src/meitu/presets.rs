//! `/admin/meitu/api/presets`: Meitu presets (a Meitu preset code mapped to a style category or
//! one style image, never both), admins only, as in the original. The `{preset_id}` of the
//! paths is the preset's own number (`id`); `preset_id` in bodies is Meitu's code.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use genrelay_core::styles::{MeituPreset, MeituPresetInput, PRESET_NOT_FOUND, StyleCatalog};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, JsonBody, Paged, Success};
use crate::session::AdminOnly;
use crate::tasks::positive;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new().routes(routes!(list_presets, create_preset)).routes(routes!(
        get_preset,
        update_preset,
        delete_preset
    ))
}

/// A preset as the original lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresetView {
    pub id: u64,
    pub style_category_id: Option<u64>,
    pub style_image_id: Option<u64>,
    /// `category` or `image`.
    pub mapping_type: &'static str,
    /// The category's name (the image's category for an image preset).
    pub category_name: String,
    pub image_name: Option<String>,
    /// Meitu's preset code.
    pub preset_id: String,
    pub preset_name: String,
    pub description: String,
    pub is_active: bool,
}

impl PresetView {
    fn of(preset: &MeituPreset, catalog: &StyleCatalog) -> Self {
        let unknown = || "N/A".to_owned();
        let category_name = |id: u64| catalog.category(id).map(|c| c.name.clone()).unwrap_or_else(unknown);
        let (mapping_type, category_name, image_name) = match (preset.style_category_id, preset.style_image_id) {
            (Some(category), _) => ("category", category_name(category), None),
            (None, image) => {
                let image = image.and_then(|id| catalog.image(id));
                let category = image.map(|i| category_name(i.category_id)).unwrap_or_else(unknown);
                ("image", category, Some(image.map(|i| i.name.clone()).unwrap_or_else(unknown)))
            }
        };
        Self {
            id: preset.id,
            style_category_id: preset.style_category_id,
            style_image_id: preset.style_image_id,
            mapping_type,
            category_name,
            image_name,
            preset_id: preset.preset_id.clone(),
            preset_name: preset.preset_name.clone(),
            description: preset.description.clone(),
            is_active: preset.is_active,
        }
    }
}

/// The list's parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PresetFilters {
    /// Page number, from 1 (default 1).
    pub page: Option<String>,
    /// Presets per page, 1-100 (default 20).
    pub per_page: Option<String>,
    /// Part of the name or description.
    pub search: Option<String>,
}

fn preset_number(raw: &str) -> Result<u64, Failure> {
    raw.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, PRESET_NOT_FOUND))
}

/// The presets, newest first (预设列表).
#[utoipa::path(
    get, path = "/admin/meitu/api/presets", tag = "管理后台", params(PresetFilters),
    responses(
        (status = 200, description = "A page of presets", body = Paged<PresetView>),
        (status = 401, description = "未登录"),
        (status = 403, description = "权限不足"),
    ),
    security(("session" = []))
)]
async fn list_presets(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Query(filters): Query<PresetFilters>,
) -> Result<Paged<PresetView>, Failure> {
    let page = positive(&filters.page, "page", 1, usize::MAX)? as u32;
    let per_page = positive(&filters.per_page, "per_page", 20, 100)? as u32;
    let search = filters.search.unwrap_or_default().trim().to_lowercase();
    let catalog = state.engine.style_catalog().await?;
    let matches = |text: &str| text.to_lowercase().contains(&search);
    let views = views(&catalog)
        .into_iter()
        .filter(|p| search.is_empty() || matches(&p.preset_name) || matches(&p.description))
        .collect();
    Ok(Paged::of(views, page, per_page))
}

/// Every preset, newest first.
pub fn views(catalog: &StyleCatalog) -> Vec<PresetView> {
    let mut presets: Vec<&MeituPreset> = catalog.presets.iter().collect();
    presets.sort_by_key(|preset| std::cmp::Reverse(preset.id));
    presets.into_iter().map(|preset| PresetView::of(preset, catalog)).collect()
}

/// One preset (预设详情).
#[utoipa::path(
    get, path = "/admin/meitu/api/presets/{preset_id}", tag = "管理后台",
    params(("preset_id" = u64, Path, description = "The preset's number (its `id`)")),
    responses(
        (status = 200, description = "The preset", body = Success<PresetView>),
        (status = 404, description = "预设不存在"),
    ),
    security(("session" = []))
)]
async fn get_preset(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Path(preset_id): Path<String>,
) -> Result<Success<PresetView>, Failure> {
    let id = preset_number(&preset_id)?;
    let catalog = state.engine.style_catalog().await?;
    let preset = catalog.preset(id).ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, PRESET_NOT_FOUND))?;
    Ok(Success::of(PresetView::of(preset, &catalog)))
}

/// Creates a preset (创建预设): exactly one of `style_category_id` and `style_image_id`.
#[utoipa::path(
    post, path = "/admin/meitu/api/presets", tag = "管理后台",
    request_body(content = MeituPresetInput, example = json!({"preset_id": "MTyunxiu1234", "preset_name": "人像精修",
        "style_image_id": 2, "is_active": true})),
    responses(
        (status = 200, description = "预设创建成功", body = Success<PresetView>),
        (status = 400, description = "必须指定风格分类或风格图片 / 不能同时指定风格分类和风格图片，请选择其一"),
        (status = 403, description = "权限不足"),
    ),
    security(("session" = []))
)]
async fn create_preset(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    JsonBody(input): JsonBody<MeituPresetInput>,
) -> Result<Success<PresetView>, Failure> {
    let preset = state.engine.change_style_catalog(|catalog| catalog.add_preset(input.clone())).await?;
    let catalog = state.engine.style_catalog().await?;
    Ok(Success::saying("预设创建成功", PresetView::of(&preset, &catalog)))
}

/// Replaces a preset (更新预设).
#[utoipa::path(
    put, path = "/admin/meitu/api/presets/{preset_id}", tag = "管理后台",
    params(("preset_id" = u64, Path, description = "The preset's number (its `id`)")),
    request_body(content = MeituPresetInput),
    responses(
        (status = 200, description = "预设更新成功", body = Success<PresetView>),
        (status = 400, description = "A field is wrong"),
        (status = 404, description = "预设不存在"),
    ),
    security(("session" = []))
)]
async fn update_preset(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Path(preset_id): Path<String>,
    JsonBody(input): JsonBody<MeituPresetInput>,
) -> Result<Success<PresetView>, Failure> {
    let id = preset_number(&preset_id)?;
    let preset = state.engine.change_style_catalog(|catalog| catalog.replace_preset(id, input.clone())).await?;
    let catalog = state.engine.style_catalog().await?;
    Ok(Success::saying("预设更新成功", PresetView::of(&preset, &catalog)))
}

/// Deletes a preset (删除预设).
#[utoipa::path(
    delete, path = "/admin/meitu/api/presets/{preset_id}", tag = "管理后台",
    params(("preset_id" = u64, Path, description = "The preset's number (its `id`)")),
    responses(
        (status = 200, description = "预设删除成功"),
        (status = 404, description = "预设不存在"),
    ),
    security(("session" = []))
)]
async fn delete_preset(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Path(preset_id): Path<String>,
) -> Result<Success<Option<()>>, Failure> {
    let id = preset_number(&preset_id)?;
    state.engine.change_style_catalog(|catalog| catalog.remove_preset(id)).await?;
    Ok(Success::saying("预设删除成功", None))
}
