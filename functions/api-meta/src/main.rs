//! genrelay-api-meta: the OpenAPI document and the capability list, behind API Gateway (HTTP API,
//! payload 2.0). It lists what the stored channels serve, never reading their credentials.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_http_function(genrelay_http::meta_router, genrelay_bootstrap::Channels::Listed).await
}
