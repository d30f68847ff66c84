//! genrelay-api-meta: the OpenAPI document and the capability list, behind API Gateway (HTTP API, payload 2.0).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_http_function(genrelay_http::meta_router, genrelay_bootstrap::Channels::Used).await
}
