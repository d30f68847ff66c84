//! The back office's one mapping from errors to responses: a status and
//! `{"status":"error","message":"..."}`, with seed 000's messages for the answers it names.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use genrelay_http::surface::{ErrorFormat, SurfaceError};
use serde::Serialize;
use utoipa::ToSchema;

/// Every back-office answer that is not a success.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackOfficeError {
    #[schema(example = "error")]
    pub status: &'static str,
    #[schema(example = "未登录")]
    pub message: String,
}

pub struct BackOfficeFormat;

impl ErrorFormat for BackOfficeFormat {
    type Body = BackOfficeError;

    fn body(_: StatusCode, message: String) -> BackOfficeError {
        BackOfficeError { status: "error", message }
    }
}

pub type Failure = SurfaceError<BackOfficeFormat>;

/// Seed 000's answer to a call without a session.
pub const NOT_SIGNED_IN: &str = "未登录";
/// Seed 000's answer to an action the user's role does not allow.
pub const NOT_ALLOWED: &str = "权限不足";

pub fn not_signed_in() -> Failure {
    Failure::new(StatusCode::UNAUTHORIZED, NOT_SIGNED_IN)
}

pub fn not_allowed() -> Failure {
    Failure::new(StatusCode::FORBIDDEN, NOT_ALLOWED)
}

/// A success: `{"status":"success","data":…}` (and a message when there is one to show).
#[derive(Debug, Serialize, ToSchema)]
pub struct Success<T> {
    #[schema(example = "success")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub data: T,
}

impl<T: Serialize> Success<T> {
    pub fn of(data: T) -> Self {
        Self { status: "success", message: None, data }
    }

    pub fn saying(message: impl Into<String>, data: T) -> Self {
        Self { status: "success", message: Some(message.into()), data }
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        ([(axum::http::header::CACHE_CONTROL, "no-store")], Json(self)).into_response()
    }
}

/// A page of a list, as the original's paged lists answer: `{"status":"success","data":[…],
/// "pagination":{…}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    #[schema(example = "success")]
    pub status: &'static str,
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
    pub total: usize,
    pub pages: usize,
    pub has_next: bool,
    pub has_prev: bool,
}

impl<T: Serialize> Paged<T> {
    /// Page `page` (from 1) of `items`, `per_page` at a time.
    pub fn of(items: Vec<T>, page: u32, per_page: u32) -> Self {
        let total = items.len();
        let size = per_page.max(1) as usize;
        let pages = total.div_ceil(size);
        let start = (page.max(1) as usize - 1).saturating_mul(size);
        let data = items.into_iter().skip(start).take(size).collect();
        let pagination =
            Pagination { page, per_page, total, pages, has_next: (page as usize) < pages, has_prev: page > 1 };
        Self { status: "success", data, pagination }
    }
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        ([(axum::http::header::CACHE_CONTROL, "no-store")], Json(self)).into_response()
    }
}

/// A JSON body. One that cannot be read answers in the back office's format: 400 for bad JSON
/// or fields, 413 and 415 as axum finds them.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &S) -> Result<Self, Failure> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(body)) => Ok(Self(body)),
            Err(rejection) => {
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                Err(Failure::new(status, rejection.body_text()))
            }
        }
    }
}
