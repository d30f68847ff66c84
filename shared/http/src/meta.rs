//! `/api/v1/openapi.json` and `/api/v1/capabilities`.

use axum::Json;
use axum::extract::State;
use genrelay_core::{AssetKind, Capability};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ErrorBody;
use crate::surface::Caller;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json)).routes(routes!(capabilities))
}

/// This API's OpenAPI 3.1 document. Public: it holds no client data.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityView {
    pub capability: Capability,
    pub description: &'static str,
    /// What the job's outputs are.
    pub output_kind: AssetKind,
    /// JSON Schema of the `POST /api/v1/jobs` body for this capability.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapabilityList {
    pub capabilities: Vec<CapabilityView>,
}

/// The capabilities this gateway serves (those some channel is configured for) and the
/// parameters each accepts.
#[utoipa::path(
    get, path = "/api/v1/capabilities", tag = "meta",
    responses((status = 200, body = CapabilityList), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("apiKey" = []))
)]
async fn capabilities(_caller: Caller, State(state): State<AppState>) -> Json<CapabilityList> {
    let capabilities = state
        .engine
        .served_capabilities()
        .into_iter()
        .map(|capability| CapabilityView {
            capability,
            description: capability.description(),
            output_kind: capability.output_kind(),
            parameters: genrelay_wire::job_body::parameters_of(capability),
        })
        .collect();
    Json(CapabilityList { capabilities })
}
