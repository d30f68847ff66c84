//! `/admin/playground`: run any capability with chosen parameters and input images, and watch
//! the result arrive. Playground jobs belong to the client `playground` and carry the
//! signed-in user's name (what `playground_only=true` lists).

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use genrelay_core::{ClientId, NewJob};
use genrelay_engine::NewFile;
use genrelay_wire::job_body::CreateJobBody;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::BackOfficeState;
use crate::error::{Failure, JsonBody, Success};
use crate::session::SignedIn;
use crate::views::AiTask;

/// The client playground jobs and their input files belong to.
pub const PLAYGROUND_CLIENT: &str = "playground";
/// Largest upload of input files at once.
const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

pub fn routes() -> OpenApiRouter<BackOfficeState> {
    OpenApiRouter::new()
        .routes(routes!(run))
        .routes(routes!(upload_inputs).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
}

fn playground_client() -> ClientId {
    ClientId::parse(PLAYGROUND_CLIENT).expect("a valid client id")
}

/// Run a job from the playground: the body of `POST /api/v1/jobs`. It is the signed-in user's.
#[utoipa::path(
    post, path = "/admin/playground/api/run", tag = "管理后台",
    request_body = CreateJobBody,
    responses(
        (status = 201, description = "The task, queued", body = Success<AiTask>),
        (status = 400, description = "The job body is invalid"),
        (status = 401, description = "未登录"),
    ),
    security(("session" = []))
)]
async fn run(
    State(state): State<BackOfficeState>,
    signed_in: SignedIn,
    JsonBody(body): JsonBody<CreateJobBody>,
) -> Result<Response, Failure> {
    let style = state.engine.style_choice(body.style.as_deref()).await?;
    let mut new: NewJob = body.in_style(style)?;
    new.labels.playground_of = Some(signed_in.name().to_owned());
    let job = state.engine.submit(&playground_client(), new, None).await?.job;
    tracing::info!(job_id = %job.id, user = %signed_in.name(), "playground job submitted");
    Ok((StatusCode::CREATED, Success::of(AiTask::from(&job))).into_response())
}

/// An input file stored for playground jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaygroundFile {
    /// Pass it in `inputAssetIds` (or a material's `assetId`).
    pub asset_id: String,
    pub name: String,
    pub kind: String,
}

/// Store input files (multipart, any field name) for playground jobs.
#[utoipa::path(
    post, path = "/admin/playground/api/files", tag = "管理后台",
    request_body(content_type = "multipart/form-data", description = "One or more files"),
    responses(
        (status = 201, description = "Stored", body = Success<Vec<PlaygroundFile>>),
        (status = 400, description = "No file, or one that is not a supported image, video or audio"),
        (status = 401, description = "未登录"),
        (status = 413, description = "More than 20 MiB"),
    ),
    security(("session" = []))
)]
async fn upload_inputs(
    State(state): State<BackOfficeState>,
    _: SignedIn,
    mut form: Multipart,
) -> Result<Response, Failure> {
    let unreadable = |e: axum::extract::multipart::MultipartError| Failure::new(e.status(), e.body_text());
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        let Some(name) = field.file_name().map(str::to_owned) else { continue };
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(unreadable)?.to_vec();
        files.push(NewFile { name, content_type, bytes });
    }
    let stored = state.engine.upload(&playground_client(), files).await?;
    let stored: Vec<PlaygroundFile> = stored
        .into_iter()
        .map(|asset| PlaygroundFile { asset_id: asset.id.to_string(), name: asset.name, kind: asset.kind.to_string() })
        .collect();
    Ok((StatusCode::CREATED, Success::of(stored)).into_response())
}
