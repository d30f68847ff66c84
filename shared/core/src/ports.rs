//! The ports: everything the engine needs from the outside world, shaped after what DynamoDB,
//! S3 and SQS offer (conditional writes, key-range queries with cursors, presigned URLs,
//! at-least-once delivery), so the embedded and the AWS adapters are interchangeable.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::asset::{Asset, BlobKey};
use crate::capability::Capability;
use crate::error::Result;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{AssetId, ClientId, JobId};
use crate::job::{Job, JobStatus};
use crate::page::{Cursor, Page};
use crate::webhook::{SendOutcome, WebhookDelivery, WebhookEvent};

/// What `JobStore::create` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The job (and its idempotency record) were written.
    Inserted,
    /// A live idempotency record for the same client and key exists; nothing was written.
    KeyTaken(IdempotencyRecord),
}

/// A client's job list: newest first, optionally filtered, continued by a cursor.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub status: Option<JobStatus>,
    pub capability: Option<Capability>,
    /// Only jobs created strictly before this time.
    pub before: Option<DateTime<Utc>>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Writes a new job, and its idempotency record if given, as one atomic step: put-if-absent
    /// on the job id and on the (client, key) record. An expired record is replaced.
    async fn create(&self, job: &Job, idempotency: Option<&IdempotencyRecord>) -> Result<Created>;

    /// The job, if it exists and belongs to `client`.
    async fn get(&self, client: &ClientId, id: &JobId) -> Result<Option<Job>>;

    /// Replaces `current` with `next` (its `revise()`d successor) if the stored job is still
    /// `current`: same status and revision. Returns whether the write happened; a lost condition
    /// is not an error, it means another writer changed the job first.
    async fn replace(&self, current: &Job, next: &Job) -> Result<bool>;

    /// A client's jobs, newest first.
    async fn list(&self, client: &ClientId, query: &JobQuery) -> Result<Page<Job>>;

    /// Running jobs whose `next_poll_at` is at or before `now`, soonest first.
    async fn due_polls(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>>;

    /// Jobs still `queued` whose last dispatch was at or before `cutoff`, longest waiting first.
    async fn queued_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Job>>;
}

/// What the channels share across every worker and poller: the concurrency slots jobs hold on a
/// channel, and when a channel that refused its credentials or quota may be tried again.
#[async_trait]
pub trait ChannelLedger: Send + Sync {
    /// Takes one of `limit` slots of `channel` for `job`, held until `lease_until` (so a crash
    /// cannot leak it). Slots whose lease ended at or before `now` are free again. Taking a slot
    /// the job already holds renews it. Returns whether the job holds a slot.
    async fn take_slot(
        &self,
        channel: &str,
        job: &JobId,
        limit: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Gives back the job's slot on the channel, if it holds one.
    async fn release_slot(&self, channel: &str, job: &JobId) -> Result<()>;

    /// Skips `channel` until `until`, for `reason` (what the upstream refused, for clients).
    async fn cool_down(&self, channel: &str, until: DateTime<Utc>, reason: &str) -> Result<()>;

    /// Of `channels`, those cooling down at `now`, with the reason each cools down.
    async fn cooling(&self, channels: &[&str], now: DateTime<Utc>)
    -> Result<std::collections::HashMap<String, String>>;
}

/// Webhook deliveries and the URLs receivers disabled.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Writes a new delivery unless one with its id exists (the same event of the same job was
    /// triggered before). Returns whether it was written.
    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> Result<bool>;

    /// Replaces `current` with `next` if the stored delivery is still at `current`'s revision.
    async fn replace_delivery(&self, current: &WebhookDelivery, next: &WebhookDelivery) -> Result<bool>;

    /// The delivery of `event` about a job, if it exists and belongs to `client`.
    async fn delivery(&self, client: &ClientId, job: &JobId, event: WebhookEvent) -> Result<Option<WebhookDelivery>>;

    /// A job's deliveries, oldest first.
    async fn deliveries(&self, client: &ClientId, job: &JobId) -> Result<Vec<WebhookDelivery>>;

    /// Pending deliveries whose next attempt is due at or before `now`, soonest first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<WebhookDelivery>>;

    /// Stops deliveries to `url` for `client` (the receiver answered 410), or, with `false`,
    /// allows them again.
    async fn set_url_disabled(&self, client: &ClientId, url: &str, disabled: bool) -> Result<()>;

    async fn is_url_disabled(&self, client: &ClientId, url: &str) -> Result<bool>;
}

/// Signs and sends one attempt of a webhook: the event about the job, as the job reads now, to
/// the delivery's URL (through the SSRF guard; redirects are not followed).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, delivery: &WebhookDelivery, job: &Job) -> SendOutcome;

    /// Whether a webhook URL may be registered: http(s), and not an internal address (checked
    /// again at every delivery, after DNS resolution). The reason is for the client.
    fn check_url(&self, url: &str) -> std::result::Result<(), String>;
}

/// Wakes webhook delivery when a retry falls due. The dev server sweeps due deliveries itself;
/// on AWS a delayed SQS message carries the wake-up (re-sent while the wait exceeds SQS's
/// 15-minute limit).
#[async_trait]
pub trait DeliveryScheduler: Send + Sync {
    async fn schedule(&self, delivery: &WebhookDelivery, due: DateTime<Utc>) -> Result<()>;
}

/// Nothing to schedule: due deliveries are swept.
pub struct SweptDeliveries;

#[async_trait]
impl DeliveryScheduler for SweptDeliveries {
    async fn schedule(&self, _: &WebhookDelivery, _: DateTime<Utc>) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
pub trait AssetStore: Send + Sync {
    /// Writes new assets, all or none; fails with `Conflict` if an id exists.
    async fn insert(&self, assets: &[Asset]) -> Result<()>;

    /// Replaces an existing asset record (a completed upload).
    async fn update(&self, asset: &Asset) -> Result<()>;

    /// Removes asset records (those that exist); used to undo a write that lost a race.
    async fn delete(&self, assets: &[Asset]) -> Result<()>;

    /// The asset, if it exists and belongs to `client`.
    async fn get(&self, client: &ClientId, id: &AssetId) -> Result<Option<Asset>>;

    /// A client's assets, newest first.
    async fn list(&self, client: &ClientId, query: &AssetQuery) -> Result<Page<Asset>>;
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()>;

    async fn delete(&self, key: &BlobKey) -> Result<()>;

    /// A URL that serves the bytes, with `content_type` and a download file name, to anyone
    /// holding it until it expires after `ttl`.
    async fn presign_get(&self, key: &BlobKey, content_type: &str, file_name: &str, ttl: Duration) -> Result<String>;

    /// A URL to which a client PUTs the bytes of `key` (with the returned headers) until it
    /// expires after `ttl`.
    async fn presign_put(&self, key: &BlobKey, content_type: &str, ttl: Duration) -> Result<PresignedUpload>;

    /// Stores what `body` yields under `key`, streamed (in parts above a threshold), and
    /// answers what was stored. More than `max_bytes` is refused with `Invalid` and nothing
    /// stays stored.
    async fn put_stream(
        &self,
        key: &BlobKey,
        body: ByteStream,
        content_type: &str,
        max_bytes: u64,
    ) -> Result<StoredBlob>;

    /// What is stored under `key`, read as a stream (memory does not grow with the size), or
    /// `None` if nothing is.
    async fn describe(&self, key: &BlobKey) -> Result<Option<StoredBlob>>;
}

/// Where and how to upload a file directly to blob storage.
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    pub url: String,
    /// Headers the upload request must carry (they are part of the signature).
    pub headers: Vec<(String, String)>,
}

/// A stored blob as found in storage.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBlob {
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// The first bytes (up to `STORED_BLOB_HEAD`), to recognise the content type.
    pub head: Vec<u8>,
}

/// How many leading bytes `BlobStore::describe` returns.
pub const STORED_BLOB_HEAD: usize = 8192;

/// Follows bytes as they stream by: size, SHA-256 and the first `STORED_BLOB_HEAD` bytes, in
/// constant memory.
#[derive(Default)]
pub struct Digester {
    hasher: sha2::Sha256,
    head: Vec<u8>,
    size: u64,
}

impl Digester {
    /// Takes the next chunk; refuses to go past `max_bytes`.
    pub fn update(&mut self, chunk: &[u8], max_bytes: u64) -> Result<()> {
        use sha2::Digest;
        self.size += chunk.len() as u64;
        if self.size > max_bytes {
            return Err(crate::Error::invalid(format!("the file is larger than {max_bytes} bytes")));
        }
        self.hasher.update(chunk);
        let room = STORED_BLOB_HEAD.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        Ok(())
    }

    pub fn finish(self) -> StoredBlob {
        use sha2::Digest;
        StoredBlob { size: self.size, sha256: hex::encode(self.hasher.finalize()), head: self.head }
    }
}

/// The message that asks a worker to start a job. It carries ids, never the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchMessage {
    pub job_id: JobId,
    pub client_id: ClientId,
}

/// One received message; `receipt` acknowledges it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: DispatchMessage,
    pub receipt: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
}

/// An at-least-once queue: a received message that is not acknowledged within its visibility
/// timeout is delivered again; after too many receives it moves to a dead-letter queue.
#[async_trait]
pub trait DispatchQueue: Send + Sync {
    async fn send(&self, message: &DispatchMessage) -> Result<()>;

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>>;

    async fn ack(&self, receipt: &str) -> Result<()>;
}

/// Operational metrics: what the engine counts and times.
pub trait Metrics: Send + Sync {
    fn job_created(&self, capability: Capability);
    fn job_finished(&self, capability: Capability, status: JobStatus);
    /// One call to an upstream provider: `operation` is `submit` or `poll`.
    fn upstream_call(&self, provider: &str, operation: &'static str, latency: Duration, succeeded: bool);
    /// One webhook attempt: `outcome` is `delivered`, `retry`, `failed` or `dead_letter` (retries
    /// exhausted).
    fn webhook_attempt(&self, outcome: &'static str);
}

/// Metrics that go nowhere (tests, and the dev server, which logs instead).
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn job_created(&self, _: Capability) {}
    fn job_finished(&self, _: Capability, _: JobStatus) {}
    fn upstream_call(&self, _: &str, _: &'static str, _: Duration, _: bool) {}
    fn webhook_attempt(&self, _: &'static str) {}
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub trait IdGenerator: Send + Sync {
    fn job_id(&self) -> JobId;
    fn asset_id(&self) -> AssetId;
}

/// Random, time-ordered ids (ULIDs).
pub struct UlidGenerator;

impl IdGenerator for UlidGenerator {
    fn job_id(&self) -> JobId {
        JobId::from_ulid(ulid::Ulid::new())
    }

    fn asset_id(&self) -> AssetId {
        AssetId::from_ulid(ulid::Ulid::new())
    }
}

/// Bytes read as they arrive, so a file never has to fit in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A whole buffer as a `ByteStream`.
pub fn stream_of(bytes: Vec<u8>) -> ByteStream {
    Box::pin(futures_util::stream::iter([Ok(Bytes::from(bytes))]))
}

/// A file a provider produced, read (streamed) when the engine ingests it.
pub struct GeneratedFile {
    pub name: String,
    /// The type the provider declared; the bytes decide when they are recognisable.
    pub content_type: Option<String>,
    pub body: ByteStream,
}

impl GeneratedFile {
    pub fn from_bytes(name: impl Into<String>, content_type: &str, bytes: Vec<u8>) -> Self {
        Self { name: name.into(), content_type: Some(content_type.to_owned()), body: stream_of(bytes) }
    }
}

impl std::fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedFile").field("name", &self.name).field("content_type", &self.content_type).finish()
    }
}

/// What happened when a job was handed to a provider.
#[derive(Debug)]
pub enum Submission {
    /// The provider answered at once.
    Finished(Vec<GeneratedFile>),
    /// The provider took the task; ask again after `poll_after`.
    Accepted { task_id: String, poll_after: Duration },
}

/// What a provider said about a task it took. A task that failed, or that the upstream lost, is
/// an `Error::Upstream` whose cause says which.
#[derive(Debug)]
pub enum PollOutcome {
    Running { progress: u8, poll_after: Duration },
    Succeeded(Vec<GeneratedFile>),
}

/// The input files of a job, as URLs the provider can fetch or hand on.
#[derive(Debug, Clone, Default)]
pub struct ResolvedInputs {
    pub images: Vec<String>,
    pub others: Vec<String>,
    /// The URLs genrelay signed for files it stores. Every other URL was named by the client, and
    /// a provider that fetches one itself goes through the egress (SSRF) guard.
    pub signed: std::collections::HashSet<String>,
}

impl ResolvedInputs {
    pub fn is_signed(&self, url: &str) -> bool {
        self.signed.contains(url)
    }
}

/// A channel as routing sees it.
#[derive(Clone)]
pub struct Route {
    pub provider: std::sync::Arc<dyn Provider>,
    pub capabilities: Vec<Capability>,
    /// Higher is tried first (default 0).
    pub priority: i64,
    /// The channel's share of its priority's jobs, when any channel of that priority has one.
    pub weight: Option<u32>,
    /// Jobs the channel runs at once; `None` is unlimited.
    pub max_concurrent: Option<u32>,
    /// The video durations (seconds) the channel's model takes; `None` takes any.
    pub video_durations: Option<Vec<u32>>,
}

impl Route {
    /// A channel with the default priority, no weight, no cap and no limits.
    pub fn new(capabilities: Vec<Capability>, provider: std::sync::Arc<dyn Provider>) -> Self {
        Self { provider, capabilities, priority: 0, weight: None, max_concurrent: None, video_durations: None }
    }

    pub fn name(&self) -> &str {
        self.provider.name()
    }

    /// Whether the channel can run a job of `spec` (its capability, and the values it takes).
    pub fn accepts(&self, spec: &crate::JobSpec) -> bool {
        let duration_fits = match (&spec.params, &self.video_durations) {
            (crate::spec::Params::VideoGenerate(settings), Some(durations)) => durations.contains(&settings.duration),
            _ => true,
        };
        self.capabilities.contains(&spec.capability) && duration_fits
    }
}

/// An upstream generator (or the built-in mock).
#[async_trait]
pub trait Provider: Send + Sync {
    /// The channel name stored on jobs it takes.
    fn name(&self) -> &str;

    async fn submit(&self, job: &Job, inputs: &ResolvedInputs) -> Result<Submission>;

    async fn poll(&self, job: &Job) -> Result<PollOutcome>;

    /// Stops the job's upstream task, where the upstream can (the job was cancelled or expired).
    /// Upstreams without a cancel do nothing.
    async fn cancel(&self, _job: &Job) -> Result<()> {
        Ok(())
    }
}
