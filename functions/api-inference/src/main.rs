//! genrelay-api-inference: seed 003's inference backend API (`/api/inference`, `/api/task…`,
//! `/api/tasks`, `/api/system/status`, `/api/health`), behind API Gateway (HTTP API, payload 2.0).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_configured_http_function(
        genrelay_bootstrap::inference_router_from_env,
        genrelay_bootstrap::Channels::Used,
    )
    .await
}
