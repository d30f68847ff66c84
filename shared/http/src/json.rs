//! JSON request bodies: size-limited, with errors that name the offending field, and the raw
//! value kept for request fingerprints.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::MAX_JSON_BYTES;
use crate::error::ApiError;

/// A JSON body parsed as `T`, with the value it was parsed from.
pub struct JsonBody<T> {
    pub body: T,
    pub value: serde_json::Value,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json."));
        }
        let bytes = read_limited(request, state, MAX_JSON_BYTES).await?;
        parse(&bytes)
    }
}

pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|v| {
        let v = v.trim();
        v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
    })
}

/// Reads a body of at most `limit` bytes (413 beyond).
pub async fn read_limited<S: Send + Sync>(request: Request, state: &S, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("The request body exceeds {limit} bytes."));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("The request body could not be read: {}", rejection.body_text()))
        }
    })?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<JsonBody<T>, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}.")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("The request body must be a JSON object."));
    }
    let body = serde_path_to_error::deserialize(&integral_numbers_as_integers(value.clone())).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(format!("{inner}."))
        } else {
            ApiError::bad_request(format!("{path}: {inner}."))
        }
    })?;
    Ok(JsonBody { body, value })
}

/// `4.0` as `4`: JSON Schema (and so the OpenAPI document) counts a number without a fraction
/// as an integer, and clients that only have floats send integers so; serde's integer fields
/// would refuse them.
fn integral_numbers_as_integers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().expect("an f64");
            let integral = f.fract() == 0.0 && f.abs() < 9.0e15;
            Value::Number(if integral { serde_json::Number::from(f as i64) } else { n })
        }
        Value::Array(items) => Value::Array(items.into_iter().map(integral_numbers_as_integers).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, integral_numbers_as_integers(v))).collect())
        }
        other => other,
    }
}
