//! The AWS adapters of genrelay's ports: one DynamoDB table (single-table design, see
//! this crate's README.md), one S3 bucket, SQS dispatch queues. SDK errors are translated
//! precisely: a lost condition is a domain conflict, throttling is `Unavailable`, anything else
//! is `Internal` with its cause kept for the log.

mod back_office;
mod channels;
mod clients;
mod documents;
mod dynamo;
mod errors;
mod https;
mod items;
mod metrics;
mod s3;
pub mod schema;
mod secrets;
mod sqs;
pub mod stream;
mod wakeups;
mod webhooks;

pub use clients::{AWS_CALLS_TARGET, AwsClients};
pub use dynamo::{DEFAULT_OUTPUT_RETENTION_DAYS, DynamoStore};
pub use https::https_client;
/// The item a job is stored as, e.g. to load jobs in bulk with `BatchWriteItem`.
pub use items::job_item;
pub use metrics::EmbeddedMetrics;
pub use s3::{PART_SIZE, S3BlobStore};
pub use secrets::SsmSecrets;
pub use sqs::SqsQueue;
pub use wakeups::SqsDeliveryScheduler;

/// Where the adapters find their resources (from the function's environment).
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub table: String,
    pub bucket: String,
    /// The standard lane's dispatch queue.
    pub dispatch_queue_url: String,
    /// The priority lane's dispatch queue.
    pub priority_queue_url: String,
    /// The queue whose delayed messages wake webhook retries; without one the poller sends
    /// overdue retries.
    pub webhook_queue_url: Option<String>,
}
