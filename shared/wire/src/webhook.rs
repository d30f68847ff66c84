//! What a webhook delivery sends: seed 004's payload.

use genrelay_core::{Job, WebhookEvent};
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::JobView;

/// The body of every webhook attempt: the event and the job as `GET /api/v1/jobs/{id}` shows it
/// at the time of the attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPayload {
    pub event: WebhookEvent,
    pub job: JobView,
}

impl WebhookPayload {
    pub fn new(event: WebhookEvent, job: Job) -> Self {
        Self { event, job: JobView::from(job) }
    }

    /// The bytes sent (and signed).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a payload serialises")
    }
}
