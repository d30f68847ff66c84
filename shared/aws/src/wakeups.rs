//! Webhook retries on SQS: a delayed message wakes the webhook function when a retry falls due.
//! SQS delays at most 15 minutes, so a longer wait is a chain: the function, woken early,
//! sends the message again for the rest of the wait. The body is the core `Wakeup`.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use genrelay_core::ports::DeliveryScheduler;
use genrelay_core::{Error, Result, WebhookDelivery};

use crate::errors::sdk;

/// SQS's longest delay.
pub const MAX_DELAY_SECONDS: i64 = 900;

#[derive(Clone)]
pub struct SqsDeliveryScheduler {
    client: Client,
    url: String,
}

impl SqsDeliveryScheduler {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

#[async_trait]
impl DeliveryScheduler for SqsDeliveryScheduler {
    async fn schedule(&self, delivery: &WebhookDelivery, due: DateTime<Utc>) -> Result<()> {
        let wakeup = delivery.wakeup(due);
        // Rounded up, so the message never arrives before the retry is due.
        let wait_ms = (due - Utc::now()).num_milliseconds();
        let delay = ((wait_ms + 999) / 1000).clamp(0, MAX_DELAY_SECONDS) as i32;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(&wakeup).map_err(Error::internal)?)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| sdk("SendMessage", e))?;
        Ok(())
    }
}
