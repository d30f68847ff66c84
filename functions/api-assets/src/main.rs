//! genrelay-api-assets: upload, register, read, list and download assets, behind API Gateway (HTTP API, payload 2.0).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_http_function(genrelay_http::assets_router, genrelay_bootstrap::Channels::Unused).await
}
