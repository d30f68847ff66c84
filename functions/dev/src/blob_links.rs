//! The dev server's stand-in for S3 presigned URLs, at `/blobs/<key>?expires=…&signature=…`:
//! GET serves a stored file, streamed, with its content type; PUT stores an upload, streamed to
//! disk. Each only with a valid, unexpired signature for that method.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::TryStreamExt;
use genrelay_core::asset::content_disposition;
use genrelay_embedded::{FileBlobStore, LinkMethod, SignedBlob};
use tokio_util::io::{ReaderStream, StreamReader};

pub fn router(blobs: FileBlobStore) -> Router {
    Router::new().route("/blobs/{*key}", get(serve).put(store)).with_state(blobs)
}

fn verified(blobs: &FileBlobStore, method: LinkMethod, key: &str, query: Option<String>) -> Option<SignedBlob> {
    blobs.verify(method, key, query.as_deref().unwrap_or(""), chrono::Utc::now())
}

fn refused() -> Response {
    let body = serde_json::json!({"error": "The link is invalid or has expired."});
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

async fn serve(State(blobs): State<FileBlobStore>, Path(key): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(blob) = verified(&blobs, LinkMethod::Get, &key, query) else {
        return refused();
    };
    let Ok(file) = tokio::fs::File::open(&blob.path).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let length = file.metadata().await.map(|m| m.len()).unwrap_or_default();
    let disposition = content_disposition(&blob.content_type, &blob.file_name);
    let headers = [
        (header::CONTENT_TYPE, blob.content_type),
        (header::CONTENT_LENGTH, length.to_string()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, "private, max-age=300".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    (headers, Body::from_stream(ReaderStream::new(file))).into_response()
}

async fn store(
    State(blobs): State<FileBlobStore>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let Some(blob) = verified(&blobs, LinkMethod::Put, &key, query) else {
        return refused();
    };
    let reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    match blobs.write_from(&blob.key, reader).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(error) => {
            tracing::warn!(error = %error.chain(), "upload failed");
            (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": error.to_string()}))).into_response()
        }
    }
}
