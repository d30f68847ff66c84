//! genrelay-api-jimeng-async: seed 002's Jimeng async API (`/v1/async/images/generations`,
//! `/v1/async/images/compositions`, `/v1/async/videos/generations`, `/v1/async/tasks/…`), behind
//! API Gateway (HTTP API, payload 2.0).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_http_function(genrelay_http::jimeng_async_router, genrelay_bootstrap::Channels::Used).await
}
