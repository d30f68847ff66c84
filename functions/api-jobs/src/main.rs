//! genrelay-api-jobs: create, read, list and cancel jobs, behind API Gateway (HTTP API, payload 2.0).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_http_function(genrelay_http::jobs_router, genrelay_bootstrap::Channels::Used).await
}
