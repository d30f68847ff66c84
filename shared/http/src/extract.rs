//! Extractors for what handlers read besides the body, each rejecting in the API's error format.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use genrelay_core::IdempotencyKey;

use crate::error::ApiError;

/// The `{id}` of a route. A path that cannot be decoded names nothing: 404.
pub struct ResourceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "Not found."))
    }
}

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The `Idempotency-Key` header, if given.
pub struct Idempotency(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = parts.headers.get(IDEMPOTENCY_HEADER) else {
            return Ok(Self(None));
        };
        let raw = raw.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key: must be printable ASCII"))?;
        Ok(Self(Some(IdempotencyKey::parse(raw)?)))
    }
}

/// The address the client called, `scheme://host`, for absolute URLs in answers. Behind API
/// Gateway or a proxy, `X-Forwarded-Proto` gives the scheme.
pub struct PublicBase(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PublicBase {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let host =
            header(header::HOST.as_str()).or_else(|| parts.uri.authority().map(|a| a.as_str())).unwrap_or("localhost");
        let scheme = match header("x-forwarded-proto") {
            Some("https") => "https",
            _ => "http",
        };
        Ok(Self(format!("{scheme}://{host}")))
    }
}
