//! One log line per request: method, path, status, latency and the job it concerned. Never the
//! body, never a header (keys travel in headers).

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use genrelay_core::JobId;
use tracing::Instrument;

/// Set on a response by handlers that concern one job, for the request log.
#[derive(Debug, Clone)]
pub struct LoggedJob(pub JobId);

/// Runs the request in a span that handlers fill in (`client_id` once authenticated), so every
/// line logged while serving it carries them, then logs the request line.
pub async fn log_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", client_id = tracing::field::Empty);
    let response = next.run(request).instrument(span.clone()).await;
    let job_id = response.extensions().get::<LoggedJob>().map(|j| j.0.to_string());
    let _entered = span.enter();
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
        job_id = job_id.as_deref(),
        "request"
    );
    response
}
