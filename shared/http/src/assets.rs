//! `/api/v1/assets`: upload files (multipart) or register URLs (JSON), read, list, download.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use genrelay_core::ports::AssetQuery;
use genrelay_core::shapes::{FileName, HttpUrl};
use genrelay_core::spec::parse_url;
use genrelay_core::{AssetId, AssetKind};
use genrelay_engine::{NewFile, UrlAsset};
use genrelay_wire::views::{AssetEnvelope, AssetPage, AssetView, CreatedAssets};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{PublicBase, ResourceId};
use crate::json::{JsonBody, is_json};
use crate::query::{QueryPairs, new_paging, unknown_parameter};
use crate::surface::Caller;
use crate::{AppState, MAX_UPLOAD_BYTES};

/// Multipart field names that carry files.
const FILE_FIELDS: [&str; 3] = ["files", "files[]", "file"];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_assets, list_assets))
        .routes(routes!(get_asset))
        .routes(routes!(download_asset))
        .merge(crate::uploads::routes())
}

/// Registers an external URL as an asset.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterUrlBody {
    #[schema(value_type = HttpUrl, required = true, example = "https://example.com/reference.png")]
    pub url: Option<String>,
    /// File name; defaults to the last segment of the URL path.
    #[schema(value_type = Option<FileName>, example = "reference.png")]
    pub name: Option<String>,
    /// image (default), video, audio or file.
    #[schema(value_type = Option<AssetKind>, example = "image")]
    pub kind: Option<String>,
}

/// The multipart form of an upload: one or more `files` parts, none empty, and nothing else.
pub struct UploadForm;

impl utoipa::PartialSchema for UploadForm {
    fn schema() -> RefOr<Schema> {
        let file = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1));
        ObjectBuilder::new()
            .property("files", ArrayBuilder::new().items(file).min_items(Some(1)))
            .required("files")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for UploadForm {}

/// Upload files (`multipart/form-data`, field `files`, one or more) or register an external URL
/// (`application/json` `{url, name, kind}`). All files are stored or none.
#[utoipa::path(
    post, path = "/api/v1/assets", tag = "assets",
    request_body(
        description = "multipart/form-data with `files`, or application/json `{url, name, kind}`",
        content(
            (UploadForm = "multipart/form-data"),
            (RegisterUrlBody = "application/json"),
        )
    ),
    responses(
        (status = 201, description = "Assets created", body = CreatedAssets),
        (status = 400, description = "Invalid upload or URL", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, description = "Upload larger than 20 MiB", body = ErrorBody),
        (status = 415, description = "Neither multipart nor JSON", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn create_assets(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    PublicBase(base): PublicBase,
    request: Request,
) -> Result<Response, ApiError> {
    let assets = if is_json(request.headers()) {
        let JsonBody { body, .. } = JsonBody::<RegisterUrlBody>::from_request(request, &state).await?;
        vec![state.engine.register_url(&client, url_asset(body)?).await?]
    } else if is_multipart(&request) {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request(format!("files: {}", e.body_text())))?;
        state.engine.upload(&client, read_files(multipart).await?).await?
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be multipart/form-data (field files) or application/json ({url, name, kind}).",
        ));
    };
    let views: Vec<AssetView> = assets.into_iter().map(|asset| AssetView::new(asset, &base)).collect();
    let asset = views.first().cloned().expect("an upload creates at least one asset");
    Ok((StatusCode::CREATED, Json(CreatedAssets { asset, assets: views })).into_response())
}

fn is_multipart(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

fn url_asset(body: RegisterUrlBody) -> Result<UrlAsset, ApiError> {
    let raw = body.url.ok_or_else(|| ApiError::bad_request("url: required"))?;
    let url = parse_url(&raw, "url")?;
    let name = match body.name {
        Some(name) => name,
        None => url
            .rsplit('/')
            .next()
            .and_then(|last| last.split(['?', '#']).next())
            .filter(|last| !last.is_empty())
            .unwrap_or("asset")
            .to_owned(),
    };
    let kind = body.kind.map(|k| AssetKind::parse(&k, "kind")).transpose()?.unwrap_or(AssetKind::Image);
    Ok(UrlAsset { url, name, kind })
}

/// Reads every file part into memory (bounded by the body limit) so nothing is written until
/// the whole upload has been checked.
async fn read_files(mut multipart: Multipart) -> Result<Vec<NewFile>, ApiError> {
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let part = field.name().unwrap_or_default();
        if !FILE_FIELDS.contains(&part) {
            return Err(ApiError::bad_request(format!(
                "files: {part:?} is not a field of this form; send files as `files`"
            )));
        }
        let index = files.len();
        let name = field
            .file_name()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::bad_request(format!("files[{index}]: a file name is required")))?;
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(multipart_error)?;
        files.push(NewFile { name, content_type, bytes: bytes.to_vec() });
    }
    Ok(files)
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("The upload exceeds {MAX_UPLOAD_BYTES} bytes."))
    } else {
        ApiError::bad_request(format!("files: malformed multipart body ({})", error.body_text()))
    }
}

/// An asset of the calling client.
#[utoipa::path(
    get, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = String, Path, description = "Asset id")),
    responses(
        (status = 200, body = AssetEnvelope),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such asset for this client", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn get_asset(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    PublicBase(base): PublicBase,
    ResourceId(id): ResourceId,
) -> Result<Json<AssetEnvelope>, ApiError> {
    let asset = state.engine.asset(&client, &AssetId::parse(&id)?).await?;
    Ok(Json(AssetEnvelope { asset: AssetView::new(asset, &base) }))
}

/// Download an asset: a redirect to a short-lived signed URL that serves the bytes with their
/// content type (or to the registered URL).
#[utoipa::path(
    get, path = "/api/v1/assets/{id}/download", tag = "assets",
    params(("id" = String, Path, description = "Asset id")),
    responses(
        (status = 302, description = "Location: a signed URL valid for 15 minutes"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A presigned upload not completed yet: no file to download", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn download_asset(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    ResourceId(id): ResourceId,
) -> Result<Response, ApiError> {
    let location = state.engine.download_url(&client, &AssetId::parse(&id)?).await?;
    let headers = [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store".to_owned())];
    Ok((StatusCode::FOUND, headers).into_response())
}

const LIST_PARAMETERS: [&str; 2] = ["limit", "cursor"];

/// The calling client's assets, newest first.
#[utoipa::path(
    get, path = "/api/v1/assets", tag = "assets",
    params(
        ("limit" = Option<u32>, Query, description = "1-200, default 20", minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, body = AssetPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn list_assets(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    PublicBase(base): PublicBase,
    query: QueryPairs,
) -> Result<Json<AssetPage>, ApiError> {
    let mut paging = new_paging();
    for (name, value) in query.unique()? {
        if !paging.accept(name, value)? {
            return Err(unknown_parameter(name, &LIST_PARAMETERS));
        }
    }
    let page = state.engine.assets(&client, &AssetQuery { limit: paging.limit, cursor: paging.cursor }).await?;
    Ok(Json(AssetPage {
        assets: page.items.into_iter().map(|asset| AssetView::new(asset, &base)).collect(),
        next: page.next.map(|c| c.as_str().to_owned()),
    }))
}
