//! What every HTTP surface shares. A surface (the open API, each seed API, the back office) is
//! its handlers and one [`ErrorFormat`]; from that format come its error answers
//! ([`SurfaceError`]), its 401 ([`Caller`]), its answers to unknown routes ([`standalone`]) and
//! the error answers its OpenAPI operations document ([`document`]).

use std::marker::PhantomData;

use axum::Json;
use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use genrelay_core::ClientId;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{Ref, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::error::{ApiError, OVER_CAPACITY_RETRY_AFTER_SECONDS, OpenApiFormat, UNAVAILABLE_RETRY_AFTER_SECONDS};

/// How a surface writes an error: the body its clients parse, and that body's schema.
pub trait ErrorFormat: Send + Sync + 'static {
    type Body: Serialize + ToSchema;

    fn body(status: StatusCode, message: String) -> Self::Body;
}

/// An error answered in surface `F`'s format, with the status the engine's error maps to.
pub struct SurfaceError<F> {
    error: ApiError,
    format: PhantomData<F>,
}

impl<F> SurfaceError<F> {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::new(status, message).into()
    }

    /// What the answer will say.
    pub fn message(&self) -> &str {
        &self.error.message
    }
}

impl<F, E: Into<ApiError>> From<E> for SurfaceError<F> {
    fn from(error: E) -> Self {
        Self { error: error.into(), format: PhantomData }
    }
}

impl<F: ErrorFormat> IntoResponse for SurfaceError<F> {
    fn into_response(self) -> Response {
        let ApiError { status, message } = self.error;
        let mut response = (status, Json(F::body(status, message))).into_response();
        let wait = match status {
            StatusCode::SERVICE_UNAVAILABLE => Some(UNAVAILABLE_RETRY_AFTER_SECONDS),
            StatusCode::TOO_MANY_REQUESTS => Some(OVER_CAPACITY_RETRY_AFTER_SECONDS),
            _ => None,
        };
        if let Some(seconds) = wait {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// The client whose API key a request to surface `F` carries; without a valid key, 401 in
/// `F`'s format.
pub struct Caller<F = OpenApiFormat>(pub ClientId, pub PhantomData<F>);

impl<S, F> FromRequestParts<S> for Caller<F>
where
    S: Send + Sync,
    F: ErrorFormat,
    AppState: FromRef<S>,
{
    type Rejection = SurfaceError<F>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = AppState::from_ref(state).keys;
        crate::auth::client_of(&parts.headers, &keys)
            .map(|client| Caller(client, PhantomData))
            .ok_or_else(|| SurfaceError::new(StatusCode::UNAUTHORIZED, "Invalid API key."))
    }
}

/// A surface's router on its own: unknown routes and methods answer in its error format.
pub fn standalone<F: ErrorFormat>(router: Router) -> Router {
    router
        .fallback(|method: Method, uri: Uri| async move {
            SurfaceError::<F>::new(StatusCode::NOT_FOUND, format!("No route for {method} {}.", uri.path()))
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            SurfaceError::<F>::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed on {}.", uri.path()),
            )
        })
}

/// A surface's part of the OpenAPI document, with the error answers every operation of it may
/// give whatever its handler says: 401 where a key is needed, 400/413/415 where a body is read,
/// 500/503 where the store is. Each in `F`'s format; what a handler documents itself stays.
/// Every 503 and 429 says `Retry-After`.
/// Optional query parameters say that an empty value counts as not given, as `QueryPairs`
/// reads them.
pub fn document<F: ErrorFormat, S: Clone + Send + Sync + 'static>(
    routes: OpenApiRouter<S>,
) -> utoipa::openapi::OpenApi {
    let (_, mut document) = routes.split_for_parts();
    let name = F::Body::name();
    let mut schemas = vec![(name.to_string(), F::Body::schema())];
    F::Body::schemas(&mut schemas);
    let components = document.components.get_or_insert_with(Default::default);
    components.schemas.extend(schemas);
    for item in document.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            add_error_answers(operation, &name);
            allow_empty_optional_queries(operation);
        }
    }
    document
}

fn add_error_answers(operation: &mut Operation, schema: &str) {
    let error_body = || utoipa::openapi::Content::new(Some(Ref::from_schema_name(schema)));
    // An error answer a handler documents without a body has the surface's.
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (true, utoipa::openapi::RefOr::T(response)) = (status.starts_with(['4', '5']), response)
            && response.content.is_empty()
        {
            response.content.insert("application/json".to_owned(), error_body());
        }
    }
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let reads_body = operation.request_body.is_some();
    let answers: [(bool, u16, &str); 6] = [
        (secured, 401, "Missing or wrong API key"),
        (reads_body, 400, "Invalid request"),
        (reads_body, 413, "Body too large"),
        (reads_body, 415, "Content-Type is not one this operation reads"),
        (secured, 500, "Internal error (logged with the request id)"),
        (secured, 503, "The store is temporarily unavailable; try again"),
    ];
    for (applies, status, description) in answers {
        if applies {
            operation.responses.responses.entry(status.to_string()).or_insert_with(|| {
                ResponseBuilder::new().description(description).content("application/json", error_body()).build().into()
            });
        }
    }
    for status in ["429", "503"] {
        if let Some(utoipa::openapi::RefOr::T(answer)) = operation.responses.responses.get_mut(status) {
            let seconds = utoipa::openapi::HeaderBuilder::new()
                .schema(u64::schema())
                .description(Some("Seconds to wait before trying again."))
                .build();
            answer.headers.insert("Retry-After".to_owned(), seconds);
        }
    }
}

fn allow_empty_optional_queries(operation: &mut Operation) {
    use utoipa::openapi::Required;
    use utoipa::openapi::path::ParameterIn;
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.parameter_in == ParameterIn::Query && parameter.required == Required::False {
            // utoipa has no field for OpenAPI's `allowEmptyValue`; its extensions are written as is.
            parameter.extensions.get_or_insert_with(Default::default).insert("allowEmptyValue".into(), true.into());
        }
    }
}
