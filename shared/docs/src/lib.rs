//! `/docs`: the interactive documentation of every surface (Swagger UI) over one OpenAPI
//! document: the API's (the open API and the seed APIs) with the back office's part (tag 管理后台)
//! merged in. Public and static: it reads no storage, no configuration and no credential, so it
//! runs as a function of its own, apart from the back office's sessions.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;

pub const DOCUMENT_PATH: &str = "/docs/openapi.json";

/// The page loads its files by absolute path, so it works at `/docs` itself (API Gateway routes
/// `/docs` and `/docs/{proxy+}`; a trailing slash is neither).
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>genrelay API documentation</title>
<link rel="stylesheet" href="/docs/ui/swagger-ui.css">
<style>html { box-sizing: border-box; overflow-y: scroll; } *, *:before, *:after { box-sizing: inherit; } body { margin: 0; background: #fafafa; }</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/ui/swagger-ui-bundle.js"></script>
<script src="/docs/ui/swagger-initializer.js"></script>
</body>
</html>
"#;

/// Swagger UI on the document, in its base layout (no bar to load other documents).
const INITIALIZER: &str = r##"window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  });
};
"##;

/// Swagger UI's files (taken from its release archive by the build script).
const BUNDLE: &str = include_str!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js"));
const STYLES: &str = include_str!(concat!(env!("OUT_DIR"), "/swagger-ui.css"));

/// The page, Swagger UI's files and the document. Anything else under `/docs` is left to the
/// caller's fallback.
pub fn router() -> Router {
    Router::new()
        .route("/docs", get(|| async { Html(PAGE) }))
        .route(DOCUMENT_PATH, get(|| async { ([(CONTENT_TYPE, "application/json")], document()) }))
        .route("/docs/ui/swagger-ui-bundle.js", get(|| async { ui_file("text/javascript; charset=utf-8", BUNDLE) }))
        .route(
            "/docs/ui/swagger-initializer.js",
            get(|| async { ui_file("text/javascript; charset=utf-8", INITIALIZER) }),
        )
        .route("/docs/ui/swagger-ui.css", get(|| async { ui_file("text/css; charset=utf-8", STYLES) }))
}

fn ui_file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=3600")], body)
}

/// The whole document, merged on its first request (a function's init does not spend the
/// milliseconds).
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let read = |json| serde_json::from_str::<utoipa::openapi::OpenApi>(json).expect("a committed OpenAPI document");
        let mut document = read(genrelay_http::OPENAPI_DOCUMENT);
        genrelay_http::merge_openapi(&mut document, read(genrelay_back_office::OPENAPI_DOCUMENT));
        serde_json::to_string(&document).expect("a document serializes")
    })
}
