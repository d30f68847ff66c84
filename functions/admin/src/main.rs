//! genrelay-admin: the back office (seed 000: sign-in, the AI task console and API) under /admin,
//! behind API Gateway (HTTP API, payload 2.0).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_admin_function().await
}
