//! One SQS batch: run the dispatch messages (`CONCURRENT_CALLS` at a time, so one slow upstream
//! holds up none of the others); report the ones that failed, so SQS delivers only those again
//! (and, after the redrive limit, moves them to the dead-letter queue).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::StreamExt;
use genrelay_core::ports::DispatchMessage;
use genrelay_core::{Error, Result};
use genrelay_engine::{CONCURRENT_CALLS, Engine};

pub async fn handle(engine: &Engine, event: SqsEvent) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let failed: Vec<BatchItemFailure> = futures_util::stream::iter(event.records)
        .map(|record| async move {
            let error = run(engine, &record).await.err()?;
            let message_id = record.message_id.unwrap_or_default();
            tracing::warn!(message_id, error = %error.chain(), "dispatch failed; SQS will deliver it again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            Some(failure)
        })
        .buffer_unordered(CONCURRENT_CALLS)
        .filter_map(std::future::ready)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed;
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
    use genrelay_core::ports::JobStore;

    /// The sample event `cargo lambda invoke genrelay-worker` replays: one dispatch message for
    /// the sample job, one corrupted message.
    fn sample_event() -> SqsEvent {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/worker/dispatch-batch.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn the_sample_batch_starts_its_job_and_reports_only_the_corrupted_message() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = genrelay_bootstrap::Embedded::open(dir.path(), "http://dev.test").unwrap();
        let mock = genrelay_providers::MockConfig { latency: std::time::Duration::ZERO, failure_rate: 0.0 };
        let engine = embedded.engine(mock, Default::default());
        let job = genrelay_tests::app::sample_job();
        let (client, id) = (job.client_id.clone(), job.id.clone());
        embedded.store.create(&job, None).await.unwrap();

        let response = handle(&engine, sample_event()).await.unwrap();
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["9f4b1c2e-6a55-4a4e-9d1f-2a7c6f1b0a02"]);
        let job = embedded.store.get(&client, &id).await.unwrap().unwrap();
        assert_eq!(job.status, genrelay_core::JobStatus::Succeeded);

        let again = handle(&engine, sample_event()).await.unwrap();
        assert_eq!(again.batch_item_failures.len(), 1, "a duplicate delivery of a started job is done with");
    }
}
