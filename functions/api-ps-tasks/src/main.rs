//! genrelay-api-ps-tasks: seed 001's PS task API (`/ps_tasks/submit`, `/ps_tasks/result/{task_id}`),
//! behind API Gateway (HTTP API, payload 2.0).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_http_function(genrelay_http::ps_tasks_router, genrelay_bootstrap::Channels::Used).await
}
