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
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(crate::openapi::openapi())
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
            parameters: parameters_of(capability),
        })
        .collect();
    Json(CapabilityList { capabilities })
}

/// The JSON Schema of `POST /api/v1/jobs` for one capability, cut from the document's
/// `CreateJobBody` (the schema of what the parser reads): the fields the capability reads, its
/// name fixed, what it requires, references inlined so the schema stands alone. `null`, which
/// counts as not given, is left out.
fn parameters_of(capability: Capability) -> serde_json::Value {
    use serde_json::{Value, json};
    static BODY: std::sync::OnceLock<(Value, Value)> = std::sync::OnceLock::new();
    let (body, components) = BODY.get_or_init(|| {
        let document = serde_json::to_value(crate::openapi::openapi()).expect("the document serializes");
        let components = document["components"]["schemas"].clone();
        (components["CreateJobBody"].clone(), components)
    });
    let fields = crate::jobs::fields_of(capability);
    let properties: serde_json::Map<String, Value> = crate::jobs::COMMON_FIELDS
        .iter()
        .chain(fields.own)
        .map(|name| (name.to_string(), standalone(&body["properties"][*name], components)))
        .collect();
    let mut schema = json!({"type": "object", "properties": properties, "required": fields.required});
    schema["properties"]["capability"] = json!({"const": capability.as_str()});
    if let Some(note) = fields.note {
        schema["description"] = Value::from(note);
    }
    schema
}

/// `schema` with every `#/components/schemas/…` reference replaced by what it names, and the
/// `null` alternative of an optional value dropped.
fn standalone(schema: &serde_json::Value, components: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match schema {
        Value::Object(fields) => {
            if let Some(Value::String(reference)) = fields.get("$ref") {
                let name = reference.trim_start_matches("#/components/schemas/");
                return standalone(&components[name], components);
            }
            if let Some(Value::Array(alternatives)) = fields.get("oneOf") {
                let kept: Vec<&Value> =
                    alternatives.iter().filter(|a| a.get("type") != Some(&Value::from("null"))).collect();
                if let [only] = kept.as_slice() {
                    let mut merged = standalone(only, components);
                    for (key, value) in fields.iter().filter(|(key, _)| *key != "oneOf") {
                        merged[key] = standalone(value, components);
                    }
                    return merged;
                }
            }
            let mut out = serde_json::Map::new();
            for (key, value) in fields {
                let value = match (key.as_str(), value) {
                    ("type", Value::Array(types)) => {
                        let kept: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                        match kept.as_slice() {
                            [only] => (*only).clone(),
                            _ => value.clone(),
                        }
                    }
                    _ => standalone(value, components),
                };
                out.insert(key.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| standalone(item, components)).collect()),
        other => other.clone(),
    }
}
