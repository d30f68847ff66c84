//! The OpenAPI 3.1 document, generated from the handlers' annotations and the route groups, and
//! served from `openapi.json` beside this crate: the file is written from the generated document
//! (a test fails when the two differ; `GENRELAY_WRITE_OPENAPI=1 cargo test openapi` rewrites it,
//! and the back office's part beside that crate). Generating the document takes every surface's
//! routes, handlers and all; serving the file keeps them out of the functions that only serve it
//! (api-meta, /docs).

use std::sync::OnceLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::OpenApiFormat;
use crate::inference::InferenceFormat;
use crate::jimeng_async::JimengFormat;
use crate::ps_tasks::PsTasksFormat;
use crate::surface::document as document_of;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "genrelay open API",
        description = "AIGC job gateway: submit image and video generation jobs, poll them or \
                       receive a webhook, download outputs. Errors answer `{\"error\": \"...\"}`.",
    ),
    modifiers(&Security),
    components(schemas(genrelay_wire::webhook::WebhookPayload)),
    tags(
        (name = "jobs", description = "Generation jobs"),
        (name = "webhooks", description = "What a job's webhook sent: every attempt, and sending again. \
            Each attempt is signed with `X-Zhinian-Signature: sha256=<hex HMAC-SHA256 of the raw body>` and the \
            Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature`; the body is a \
            `WebhookPayload`"),
        (name = "assets", description = "Input and output files"),
        (name = "meta", description = "Capabilities and this document"),
        (name = "ps tasks (seed 001)", description = "The PS task API, served on the same engine as \
            image.edit jobs; answers are `{code, msg, data}`"),
        (name = "jimeng async (seed 002)", description = "The Jimeng async API, served on the same engine; \
            errors are `{\"error\": {message, type, code}}`"),
        (name = "inference (seed 003)", description = "The inference backend API, served on the same engine: \
            an index selects a configured preset; errors are `{\"detail\": ...}`"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Zhinian-Api-Key"))),
        );
    }
}

/// The document as served ([`openapi`] as indented JSON, so that a change to the API shows in review).
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// The document as the routes make it, built once.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = ApiDoc::openapi();
        merge_into(&mut document, document_of::<OpenApiFormat, _>(crate::all_routes()));
        merge_into(&mut document, document_of::<InferenceFormat, _>(crate::inference::routes()));
        merge_into(&mut document, document_of::<PsTasksFormat, _>(crate::ps_tasks::routes()));
        merge_into(&mut document, document_of::<JimengFormat, _>(crate::jimeng_async::routes()));
        document
    })
}

/// Merges a surface's part into the document. Two surfaces naming different schemas alike would
/// have one silently replace the other in the document: that stops the build of the document.
/// Schemas are compared as JSON, as a document read back from its file holds them.
pub fn merge_into(document: &mut utoipa::openapi::OpenApi, part: utoipa::openapi::OpenApi) {
    let existing = document.components.as_ref().map(|c| &c.schemas);
    let json = |schema| serde_json::to_value(schema).expect("a schema serializes");
    for (name, schema) in part.components.as_ref().map(|c| &c.schemas).into_iter().flatten() {
        let clash = existing.and_then(|schemas| schemas.get(name)).is_some_and(|other| json(other) != json(schema));
        assert!(!clash, "two different schemas are named {name} in the OpenAPI document");
    }
    document.merge(part);
}

/// Checks a crate's committed document (`openapi.json` in `manifest_dir`) against the one its
/// routes generate, for its tests: with `GENRELAY_WRITE_OPENAPI` set, rewrites the file instead.
pub fn check_committed(generated: &utoipa::openapi::OpenApi, committed: &str, manifest_dir: &str) {
    let generated = serde_json::to_string_pretty(generated).expect("a document serializes") + "\n";
    if generated != committed {
        let path = format!("{manifest_dir}/openapi.json");
        if std::env::var_os("GENRELAY_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).expect("the crate's folder is writable");
        } else {
            panic!("{path} is out of date: GENRELAY_WRITE_OPENAPI=1 cargo test openapi rewrites it");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_served_openapi_document_is_the_generated_one() {
        super::check_committed(super::openapi(), super::DOCUMENT, env!("CARGO_MANIFEST_DIR"));
    }
}
