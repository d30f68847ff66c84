//! The dispatch queue on SQS. Messages carry ids only; a message that fails too often moves to
//! the dead-letter queue by the queue's redrive policy.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use genrelay_core::ports::{Delivery, DispatchMessage, DispatchQueue};
use genrelay_core::{Error, Result};

use crate::errors::sdk;

/// SQS returns at most ten messages per receive.
const MAX_BATCH: usize = 10;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

#[async_trait]
impl DispatchQueue for SqsQueue {
    async fn send(&self, message: &DispatchMessage) -> Result<()> {
        let body = serde_json::to_string(message).map_err(Error::internal)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk("SendMessage", e))?;
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk("ReceiveMessage", e))?;
        let mut deliveries = Vec::new();
        for message in output.messages.unwrap_or_default() {
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            let (Some(body), Some(receipt)) = (message.body, message.receipt_handle) else {
                continue;
            };
            match serde_json::from_str(&body) {
                Ok(message) => deliveries.push(Delivery { message, receipt, receive_count }),
                // Left unacknowledged, it comes back until the redrive policy dead-letters it.
                Err(error) => {
                    tracing::error!(%error, receive_count, "undecodable dispatch message")
                }
            }
        }
        Ok(deliveries)
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk("DeleteMessage", e))?;
        Ok(())
    }
}
