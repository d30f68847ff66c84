//! One SQS batch: run each dispatch message; report the ones that failed, so SQS delivers only
//! those again (and, after the redrive limit, moves them to the dead-letter queue).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use genrelay_core::ports::DispatchMessage;
use genrelay_core::{Error, Result};
use genrelay_engine::Engine;

pub async fn handle(engine: &Engine, event: SqsEvent) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        if let Err(error) = run(engine, &record).await {
            let message_id = record.message_id.unwrap_or_default();
            tracing::warn!(message_id, error = %error.chain(), "dispatch failed; SQS will deliver it again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

async fn run(engine: &Engine, record: &SqsMessage) -> Result<()> {
    let body = record.body.as_deref().unwrap_or_default();
    let message: DispatchMessage =
        serde_json::from_str(body).map_err(|e| Error::invalid(format!("not a dispatch message: {e}")))?;
    engine.run_dispatch(&message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn undecodable_records_are_reported_failed_and_never_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = genrelay_bootstrap::Embedded::open(dir.path(), "http://dev.test").unwrap();
        let engine = embedded.engine(genrelay_providers::MockConfig::default(), Default::default());
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "good", "body": "{\"jobId\": \"job_unknown\", \"clientId\": \"a\"}"},
            {"messageId": "bad", "body": "not json"},
        ]}))
        .unwrap();
        let response = handle(&engine, event).await.unwrap();
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["bad"], "an unknown job is done with; an undecodable message is not");
    }
}
