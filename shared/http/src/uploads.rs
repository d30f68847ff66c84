//! `/api/v1/assets/uploads` and `/api/v1/assets/{id}/complete`: presigned uploads, for files
//! larger than an API request may carry.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use genrelay_core::shapes::FileName;
use genrelay_core::{AssetId, AssetKind};
use genrelay_engine::NewUpload;
use genrelay_wire::views::{AssetEnvelope, AssetView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{PublicBase, ResourceId};
use crate::json::JsonBody;
use crate::surface::Caller;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start_upload)).routes(routes!(complete_upload))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartUploadBody {
    /// The file name.
    #[schema(value_type = FileName, required = true, example = "product-video.mp4")]
    pub name: Option<String>,
    /// The type the file will be uploaded with; guessed from the name when absent.
    #[schema(example = "video/mp4")]
    pub content_type: Option<String>,
    /// image, video, audio or file; from the content type when absent.
    #[schema(value_type = Option<AssetKind>)]
    pub kind: Option<String>,
}

/// Where to upload: PUT the bytes to `uploadUrl` with `headers` before `expiresAt`, then call
/// `POST /api/v1/assets/{assetId}/complete`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicketView {
    pub asset_id: String,
    pub upload_url: String,
    #[schema(example = "PUT")]
    pub method: &'static str,
    /// Headers the upload must carry (they are signed).
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
    /// The asset, `pending` until the upload is completed.
    pub asset: AssetView,
}

/// Start a presigned upload: creates a pending asset and answers a URL to PUT its file to.
#[utoipa::path(
    post, path = "/api/v1/assets/uploads", tag = "assets",
    request_body = StartUploadBody,
    responses(
        (status = 201, body = UploadTicketView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn start_upload(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    PublicBase(base): PublicBase,
    JsonBody { body, .. }: JsonBody<StartUploadBody>,
) -> Result<(StatusCode, Json<UploadTicketView>), ApiError> {
    let upload = NewUpload {
        name: body.name.ok_or_else(|| ApiError::bad_request("name: required"))?,
        content_type: body.content_type,
        kind: body.kind.map(|k| AssetKind::parse(&k, "kind")).transpose()?,
    };
    let ticket = state.engine.start_upload(&client, upload).await?;
    let view = UploadTicketView {
        asset_id: ticket.asset.id.to_string(),
        upload_url: ticket.url,
        method: "PUT",
        headers: ticket.headers.into_iter().collect(),
        expires_at: ticket.expires_at,
        asset: AssetView::new(ticket.asset, &base),
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Complete a presigned upload: checks the file is there and records its size, type and
/// SHA-256. Completing a complete asset answers it unchanged.
#[utoipa::path(
    post, path = "/api/v1/assets/{id}/complete", tag = "assets",
    params(("id" = String, Path, description = "Asset id")),
    responses(
        (status = 200, body = AssetEnvelope),
        (status = 400, description = "The uploaded content is not what was declared", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Nothing was uploaded yet", body = ErrorBody),
    ),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn complete_upload(
    State(state): State<AppState>,
    Caller(client, _): Caller,
    PublicBase(base): PublicBase,
    ResourceId(id): ResourceId,
) -> Result<Json<AssetEnvelope>, ApiError> {
    let asset = state.engine.complete_upload(&client, &AssetId::parse(&id)?).await?;
    Ok(Json(AssetEnvelope { asset: AssetView::new(asset, &base) }))
}
