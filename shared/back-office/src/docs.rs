//! `/docs`: the interactive documentation of every surface (Swagger UI, served from files
//! built into the binary), over one document: the open API, the seed APIs and the back office
//! (tag 管理后台). It is served without a session, as the API reference is public.

use std::sync::OnceLock;

use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa_swagger_ui::SwaggerUi;

pub const DOCUMENT_PATH: &str = "/docs/openapi.json";

/// The whole document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document: utoipa::openapi::OpenApi =
            serde_json::from_str(genrelay_http::OPENAPI_DOCUMENT).expect("the served document is an OpenAPI document");
        let mut back_office = crate::openapi();
        back_office.tags = Some(vec![
            TagBuilder::new()
                .name("管理后台")
                .description(Some(
                    "The back office (seed 000): sign in with POST /admin/login, then every call carries the \
                     `session` cookie. Answers are `{\"status\":\"success\",\"data\":…}` or \
                     `{\"status\":\"error\",\"message\":…}`; 401 未登录 without a session, 403 权限不足 for an \
                     action the role does not allow.",
                ))
                .build(),
        ]);
        let components = back_office.components.get_or_insert_with(Default::default);
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("session"))));
        genrelay_http::merge_openapi(&mut document, back_office);
        document
    })
}

/// Where Swagger UI's files are served.
const UI_PATH: &str = "/docs/ui";

/// The page at `/docs` loads Swagger UI's files by absolute path, so it works at `/docs` itself
/// (API Gateway routes `/docs` and `/docs/{proxy+}`; a trailing slash is neither).
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>genrelay API documentation</title>
<link rel="stylesheet" href="/docs/ui/swagger-ui.css">
<link rel="stylesheet" href="/docs/ui/index.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/ui/swagger-ui-bundle.js"></script>
<script src="/docs/ui/swagger-ui-standalone-preset.js"></script>
<script src="/docs/ui/swagger-initializer.js"></script>
</body>
</html>
"#;

/// The page, Swagger UI's files, and the document, built on its first request (building it
/// takes milliseconds that a function's init does not spend).
pub fn router() -> Router {
    let page = axum::routing::get(|| async { axum::response::Html(PAGE) });
    let document = axum::routing::get(|| async { axum::Json(document()) });
    let ui = SwaggerUi::new(UI_PATH).config(utoipa_swagger_ui::Config::from(DOCUMENT_PATH));
    Router::new().route("/docs", page).route(DOCUMENT_PATH, document).merge(ui)
}
