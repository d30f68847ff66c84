//! The dev server's stand-in for S3 presigned GETs: `/blobs/<key>?expires=…&signature=…`
//! serves a stored file, streamed, with its content type, if the signature holds and the link
//! has not expired.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use genrelay_core::asset::content_disposition;
use genrelay_embedded::FileBlobStore;
use tokio_util::io::ReaderStream;

pub fn router(blobs: FileBlobStore) -> Router {
    Router::new().route("/blobs/{*key}", get(serve)).with_state(blobs)
}

async fn serve(State(blobs): State<FileBlobStore>, Path(key): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(blob) = blobs.verify(&key, query.as_deref().unwrap_or(""), chrono::Utc::now()) else {
        let body = serde_json::json!({"error": "The link is invalid or has expired."});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    };
    let file = match tokio::fs::File::open(&blob.path).await {
        Ok(file) => file,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    let length = file.metadata().await.map(|m| m.len()).unwrap_or_default();
    let disposition = content_disposition(&blob.content_type, &blob.file_name);
    (
        [
            (header::CONTENT_TYPE, blob.content_type),
            (header::CONTENT_LENGTH, length.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, max-age=300".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        Body::from_stream(ReaderStream::new(file)),
    )
        .into_response()
}
