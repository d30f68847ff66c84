//! genrelay-api-docs: /docs, the interactive documentation of every surface, behind API Gateway
//! (HTTP API, payload 2.0). Static: no storage, configuration or credential is read.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    genrelay_bootstrap::run_docs_function().await
}
