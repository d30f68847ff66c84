//! One batch, from either source: DynamoDB stream records of job items (the template's filter
//! passes only those), each a job that may have entered a status its webhook announces; or SQS
//! wake-ups of deliveries whose retry fell due. Failed records are reported, so only they come
//! again (the stream retries them in order; SQS redelivers, then dead-letters).

use aws_lambda_events::event::dynamodb::{self, EventRecord};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use genrelay_core::{Error, Result, Wakeup};
use genrelay_engine::Engine;
use serde::{Deserialize, Serialize};

/// What invoked the function, told apart by the records' `eventSource`.
pub enum Trigger {
    Stream(dynamodb::Event),
    Wakeups(SqsEvent),
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let event = serde_json::Value::deserialize(deserializer)?;
        let source = event["Records"][0]["eventSource"].as_str().unwrap_or("aws:sqs").to_owned();
        match source.as_str() {
            "aws:dynamodb" => serde_json::from_value(event).map(Trigger::Stream).map_err(D::Error::custom),
            "aws:sqs" => serde_json::from_value(event).map(Trigger::Wakeups).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!("an event from {other}: expected aws:dynamodb or aws:sqs"))),
        }
    }
}

/// Partial batch failures: stream sequence numbers or SQS message ids.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

pub async fn handle(engine: &Engine, trigger: Trigger) -> Result<BatchResponse, lambda_runtime::Error> {
    let mut response = BatchResponse::default();
    match trigger {
        Trigger::Stream(event) => {
            for record in event.records {
                if let Err(error) = job_changed(engine, &record).await {
                    let sequence = record.change.sequence_number.clone().unwrap_or_default();
                    tracing::warn!(sequence, error = %error.chain(), "webhook trigger failed; the stream will retry it");
                    response.batch_item_failures.push(ItemFailure { item_identifier: sequence });
                    // Stream records are ordered: stop at the first failure; the rest come again.
                    break;
                }
            }
        }
        Trigger::Wakeups(event) => {
            for message in event.records {
                if let Err(error) = wake(engine, &message).await {
                    let message_id = message.message_id.unwrap_or_default();
                    tracing::warn!(message_id, error = %error.chain(), "webhook retry failed; SQS will deliver it again");
                    response.batch_item_failures.push(ItemFailure { item_identifier: message_id });
                }
            }
        }
    }
    Ok(response)
}

/// A job item changed: when its status changed, the engine delivers what the webhook announces.
async fn job_changed(engine: &Engine, record: &EventRecord) -> Result<()> {
    let change = &record.change;
    match genrelay_aws::stream::job_entering_status(&change.new_image, &change.old_image)? {
        Some(job) => engine.job_entered(&job, job.status).await,
        None => Ok(()),
    }
}

async fn wake(engine: &Engine, message: &SqsMessage) -> Result<()> {
    let body = message.body.as_deref().unwrap_or_default();
    let wakeup: Wakeup =
        serde_json::from_str(body).map_err(|e| Error::invalid(format!("not a webhook wake-up: {e}")))?;
    engine.wake_delivery(&wakeup).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use genrelay_core::ports::{JobStore, WebhookStore};
    use genrelay_core::{Job, JobStatus, WebhookEvent};

    fn sample(file: &str) -> String {
        let path = format!("{}/../../events/webhooks/{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    /// The sample job, finished, with a webhook.
    fn finished_job() -> Job {
        let job = genrelay_tests::app::sample_job();
        Job { status: JobStatus::Succeeded, webhook_url: Some("https://receiver.invalid/hook".to_owned()), ..job }
    }

    #[tokio::test]
    async fn the_sample_stream_batch_creates_the_jobs_delivery_and_attempts_it() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = genrelay_bootstrap::Embedded::open(dir.path(), "http://dev.test").unwrap();
        let engine = embedded.engine(Default::default(), Default::default());
        let job = finished_job();
        embedded.store.create(&job, None).await.unwrap();
        let doc = serde_json::to_string(&serde_json::to_string(&job).unwrap()).unwrap();
        let event = sample("job-changes.json").replace("\"SAMPLE_JOB_DOC\"", &doc);
        let trigger: Trigger = serde_json::from_str(&event).unwrap();
        assert!(matches!(trigger, Trigger::Stream(_)));

        let response = handle(&engine, trigger).await.unwrap();
        assert_eq!(response, BatchResponse::default());
        let delivery =
            embedded.store.delivery(&job.client_id, &job.id, WebhookEvent::Succeeded).await.unwrap().unwrap();
        // The receiver's name does not resolve offline: the attempt is logged and retried later.
        assert_eq!(delivery.attempts.len(), 1);
        assert!(delivery.next_attempt_at.is_some());
    }

    #[tokio::test]
    async fn the_sample_wakeups_report_only_the_corrupted_message() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = genrelay_bootstrap::Embedded::open(dir.path(), "http://dev.test").unwrap();
        let engine = embedded.engine(Default::default(), Default::default());
        let trigger: Trigger = serde_json::from_str(&sample("retry-wakeups.json")).unwrap();
        assert!(matches!(trigger, Trigger::Wakeups(_)));
        let response = handle(&engine, trigger).await.unwrap();
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["5b2c1d3e-7f60-4e8a-9b1c-0d2e3f4a5b62"]);
    }
}
