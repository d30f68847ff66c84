//! The style catalog: seed 000's two reads (`GET /admin/meitu/api/style-categories`, active
//! categories as `[{id, name}]`; `GET /admin/meitu/api/style-images`, active images by sort
//! order, paged, optionally of one category) for everyone signed in, and its management (the
//! whole catalog, add, replace and remove categories and images) for admins.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use genrelay_core::styles::{
    CATEGORY_NOT_FOUND, IMAGE_NOT_FOUND, StyleCatalog, StyleCategory, StyleCategoryInput, StyleImage, StyleImageInput,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, JsonBody, Paged, Success};
use crate::session::{AdminOnly, SignedIn};
use crate::tasks::positive;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories, add_category))
        .routes(routes!(replace_category, remove_category))
        .routes(routes!(list_images, add_image))
        .routes(routes!(replace_image, remove_image))
        .routes(routes!(catalog))
}

/// A category as seed 000's list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryItem {
    pub id: u64,
    pub name: String,
}

/// A style image as seed 000's list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageItem {
    pub id: u64,
    pub name: String,
    pub category_id: u64,
    pub category_name: String,
}

/// The style images list's parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageFilters {
    /// Only the images of this category.
    pub category_id: Option<String>,
    /// Page number, from 1 (default 1).
    pub page: Option<String>,
    /// Images per page, 1-100 (default 20).
    pub per_page: Option<String>,
}

/// The whole catalog, inactive entries too, for the console.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogView {
    pub categories: Vec<StyleCategory>,
    pub images: Vec<StyleImage>,
}

fn number(raw: &str, missing: &str) -> Result<u64, Failure> {
    raw.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, missing))
}

fn sorted<T: Clone>(items: &[T], key: impl Fn(&T) -> (i64, u64)) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort_by_key(key);
    items
}

/// The active style categories (风格分类列表).
#[utoipa::path(
    get, path = "/admin/meitu/api/style-categories", tag = "管理后台",
    responses(
        (status = 200, description = "`[{id, name}]`", body = Success<Vec<CategoryItem>>),
        (status = 401, description = "未登录"),
    ),
    security(("session" = []))
)]
async fn list_categories(
    State(state): State<BackOfficeState>,
    _: SignedIn,
) -> Result<Success<Vec<CategoryItem>>, Failure> {
    let catalog = state.engine.style_catalog().await?;
    let active = catalog.categories.iter().filter(|c| c.is_active);
    let mut items: Vec<&StyleCategory> = active.collect();
    items.sort_by_key(|c| (c.sort_order, c.id));
    Ok(Success::of(items.into_iter().map(|c| CategoryItem { id: c.id, name: c.name.clone() }).collect()))
}

/// The active style images by sort order, paged (风格图片列表).
#[utoipa::path(
    get, path = "/admin/meitu/api/style-images", tag = "管理后台", params(ImageFilters),
    responses(
        (status = 200, description = "`[{id, name, category_id, category_name}]` and the pagination", body = Paged<ImageItem>),
        (status = 401, description = "未登录"),
    ),
    security(("session" = []))
)]
async fn list_images(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    Query(filters): Query<ImageFilters>,
) -> Result<Paged<ImageItem>, Failure> {
    let page = positive(&filters.page, "page", 1, usize::MAX)? as u32;
    let per_page = positive(&filters.per_page, "per_page", 20, 100)? as u32;
    let category = match filters.category_id.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(raw) => Some(
            raw.parse::<u64>()
                .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, format!("category_id: a number, got {raw:?}")))?,
        ),
        None => None,
    };
    let catalog = state.engine.style_catalog().await?;
    let images = sorted(&catalog.images, |i| (i.sort_order, i.id));
    let items = images
        .iter()
        .filter(|i| i.is_active && category.is_none_or(|c| i.category_id == c))
        .map(|i| ImageItem {
            id: i.id,
            name: i.name.clone(),
            category_id: i.category_id,
            category_name: catalog.category(i.category_id).map(|c| c.name.clone()).unwrap_or_else(|| "N/A".into()),
        })
        .collect();
    Ok(Paged::of(items, page, per_page))
}

/// The whole catalog, inactive entries too (admins).
#[utoipa::path(
    get, path = "/admin/meitu/api/styles", tag = "管理后台",
    responses((status = 200, description = "Every category and style image", body = Success<CatalogView>)),
    security(("session" = []))
)]
async fn catalog(State(state): State<BackOfficeState>, _: AdminOnly) -> Result<Success<CatalogView>, Failure> {
    Ok(Success::of(catalog_view(&state.engine.style_catalog().await?)))
}

pub fn catalog_view(catalog: &StyleCatalog) -> CatalogView {
    CatalogView {
        categories: sorted(&catalog.categories, |c| (c.sort_order, c.id)),
        images: sorted(&catalog.images, |i| (i.sort_order, i.id)),
    }
}

/// Adds a style category (admins).
#[utoipa::path(
    post, path = "/admin/meitu/api/style-categories", tag = "管理后台",
    request_body(content = StyleCategoryInput, example = json!({"name": "人像", "code": "portrait", "sort_order": 1})),
    responses(
        (status = 201, description = "Added", body = Success<StyleCategory>),
        (status = 400, description = "A field is wrong"),
        (status = 409, description = "The code is taken"),
    ),
    security(("session" = []))
)]
async fn add_category(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    JsonBody(input): JsonBody<StyleCategoryInput>,
) -> Result<(StatusCode, Success<StyleCategory>), Failure> {
    let added = state.engine.change_style_catalog(|catalog| catalog.add_category(input.clone())).await?;
    Ok((StatusCode::CREATED, Success::saying("风格分类已添加", added)))
}

/// Replaces a style category (admins).
#[utoipa::path(
    put, path = "/admin/meitu/api/style-categories/{id}", tag = "管理后台",
    params(("id" = u64, Path, description = "The category's id")),
    request_body(content = StyleCategoryInput),
    responses(
        (status = 200, description = "Saved", body = Success<StyleCategory>),
        (status = 404, description = "风格分类不存在"),
    ),
    security(("session" = []))
)]
async fn replace_category(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<StyleCategoryInput>,
) -> Result<Success<StyleCategory>, Failure> {
    let id = number(&id, CATEGORY_NOT_FOUND)?;
    let saved = state.engine.change_style_catalog(|catalog| catalog.replace_category(id, input.clone())).await?;
    Ok(Success::saying("风格分类已保存", saved))
}

/// Removes a style category no image or preset uses (admins).
#[utoipa::path(
    delete, path = "/admin/meitu/api/style-categories/{id}", tag = "管理后台",
    params(("id" = u64, Path, description = "The category's id")),
    responses(
        (status = 200, description = "Removed"),
        (status = 404, description = "风格分类不存在"),
        (status = 409, description = "Style images or presets use it"),
    ),
    security(("session" = []))
)]
async fn remove_category(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Path(id): Path<String>,
) -> Result<Success<Option<()>>, Failure> {
    let id = number(&id, CATEGORY_NOT_FOUND)?;
    state.engine.change_style_catalog(|catalog| catalog.remove_category(id)).await?;
    Ok(Success::saying("风格分类已删除", None))
}

/// Adds a style image to a category (admins).
#[utoipa::path(
    post, path = "/admin/meitu/api/style-images", tag = "管理后台",
    request_body(content = StyleImageInput, example = json!({"category_id": 1, "name": "经典人像", "code": "classic",
        "image_url": "https://example.com/styles/classic.jpg"})),
    responses(
        (status = 201, description = "Added", body = Success<StyleImage>),
        (status = 400, description = "A field is wrong"),
        (status = 409, description = "The code is taken"),
    ),
    security(("session" = []))
)]
async fn add_image(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    JsonBody(input): JsonBody<StyleImageInput>,
) -> Result<(StatusCode, Success<StyleImage>), Failure> {
    let added = state.engine.change_style_catalog(|catalog| catalog.add_image(input.clone())).await?;
    Ok((StatusCode::CREATED, Success::saying("风格图片已添加", added)))
}

/// Replaces a style image (admins).
#[utoipa::path(
    put, path = "/admin/meitu/api/style-images/{id}", tag = "管理后台",
    params(("id" = u64, Path, description = "The style image's id")),
    request_body(content = StyleImageInput),
    responses(
        (status = 200, description = "Saved", body = Success<StyleImage>),
        (status = 404, description = "风格图片不存在"),
    ),
    security(("session" = []))
)]
async fn replace_image(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<StyleImageInput>,
) -> Result<Success<StyleImage>, Failure> {
    let id = number(&id, IMAGE_NOT_FOUND)?;
    let saved = state.engine.change_style_catalog(|catalog| catalog.replace_image(id, input.clone())).await?;
    Ok(Success::saying("风格图片已保存", saved))
}

/// Removes a style image no preset uses (admins).
#[utoipa::path(
    delete, path = "/admin/meitu/api/style-images/{id}", tag = "管理后台",
    params(("id" = u64, Path, description = "The style image's id")),
    responses(
        (status = 200, description = "Removed"),
        (status = 404, description = "风格图片不存在"),
        (status = 409, description = "Presets use it"),
    ),
    security(("session" = []))
)]
async fn remove_image(
    State(state): State<BackOfficeState>,
    _: AdminOnly,
    Path(id): Path<String>,
) -> Result<Success<Option<()>>, Failure> {
    let id = number(&id, IMAGE_NOT_FOUND)?;
    state.engine.change_style_catalog(|catalog| catalog.remove_image(id)).await?;
    Ok(Success::saying("风格图片已删除", None))
}
