//! Adapters that fail as an unavailable dependency does (throttled, timed out, busy): each wraps
//! an embedded adapter and, while its part is down, answers every call with
//! `Error::Unavailable`, as the AWS adapters answer throttling and timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use genrelay_core::ports::{
    AdminJobPage, AdminJobQuery, AssetQuery, AssetStore, BlobStore, ByteStream, Created, Delivery, DispatchMessage,
    DispatchQueue, JobQuery, JobStore, PresignedUpload, StoredBlob,
};
use genrelay_core::{Asset, AssetId, BlobKey, ClientId, Error, IdempotencyRecord, Job, JobId, JobStatus, Page, Result};

/// A dependency of the engine that can be taken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The job and asset records (DynamoDB, SQLite).
    Store,
    /// The dispatch queues (SQS).
    Queue,
    /// The files (S3).
    Blobs,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Store, Part::Queue, Part::Blobs];

    fn index(self) -> usize {
        self as usize
    }
}

/// Which parts are down; shared by the adapters it wraps.
#[derive(Clone, Default)]
pub struct Outage(Arc<[AtomicBool; 3]>);

impl Outage {
    pub fn take_down(&self, part: Part) {
        self.0[part.index()].store(true, Ordering::SeqCst);
    }

    pub fn restore(&self, part: Part) {
        self.0[part.index()].store(false, Ordering::SeqCst);
    }

    /// `inner`, failing while `part` is down.
    pub fn wrap<T>(&self, part: Part, inner: T) -> Unavailable<T> {
        Unavailable { inner, part, outage: self.clone() }
    }

    /// Puts `embedded`'s store, dispatch queues and blob store in `deps`, each failing while
    /// its part is down.
    pub fn wrap_embedded(&self, deps: &mut genrelay_engine::Deps, embedded: &genrelay_bootstrap::Embedded) {
        let store = Arc::new(self.wrap(Part::Store, embedded.store.clone()));
        (deps.jobs, deps.assets) = (store.clone(), store);
        deps.queues = genrelay_engine::DispatchQueues {
            priority: Arc::new(self.wrap(Part::Queue, embedded.priority_queue.clone())),
            standard: Arc::new(self.wrap(Part::Queue, embedded.standard_queue.clone())),
        };
        deps.blobs = Arc::new(self.wrap(Part::Blobs, embedded.blobs.clone()));
    }

    fn check(&self, part: Part) -> Result<()> {
        match self.0[part.index()].load(Ordering::SeqCst) {
            true => Err(Error::Unavailable(format!("{part:?} is down (injected outage)"))),
            false => Ok(()),
        }
    }
}

/// An adapter that fails while its part is down.
pub struct Unavailable<T> {
    inner: T,
    part: Part,
    outage: Outage,
}

impl<T> Unavailable<T> {
    fn up(&self) -> Result<&T> {
        self.outage.check(self.part).map(|()| &self.inner)
    }
}

#[async_trait]
impl<T: JobStore> JobStore for Unavailable<T> {
    async fn create(&self, job: &Job, idempotency: Option<&IdempotencyRecord>) -> Result<Created> {
        self.up()?.create(job, idempotency).await
    }

    async fn get(&self, client: &ClientId, id: &JobId) -> Result<Option<Job>> {
        JobStore::get(self.up()?, client, id).await
    }

    async fn replace(&self, current: &Job, next: &Job) -> Result<bool> {
        self.up()?.replace(current, next).await
    }

    async fn list(&self, client: &ClientId, query: &JobQuery) -> Result<Page<Job>> {
        JobStore::list(self.up()?, client, query).await
    }

    async fn count_with_status(&self, client: &ClientId, status: JobStatus, up_to: usize) -> Result<usize> {
        self.up()?.count_with_status(client, status, up_to).await
    }

    async fn find(&self, id: &JobId) -> Result<Option<Job>> {
        self.up()?.find(id).await
    }

    async fn admin_list(&self, query: &AdminJobQuery) -> Result<AdminJobPage> {
        self.up()?.admin_list(query).await
    }

    async fn due_polls(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        self.up()?.due_polls(now, limit).await
    }

    async fn queued_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        self.up()?.queued_before(cutoff, limit).await
    }
}

#[async_trait]
impl<T: AssetStore> AssetStore for Unavailable<T> {
    async fn insert(&self, assets: &[Asset]) -> Result<()> {
        self.up()?.insert(assets).await
    }

    async fn update(&self, asset: &Asset) -> Result<()> {
        self.up()?.update(asset).await
    }

    async fn delete(&self, assets: &[Asset]) -> Result<()> {
        AssetStore::delete(self.up()?, assets).await
    }

    async fn get(&self, client: &ClientId, id: &AssetId) -> Result<Option<Asset>> {
        AssetStore::get(self.up()?, client, id).await
    }

    async fn list(&self, client: &ClientId, query: &AssetQuery) -> Result<Page<Asset>> {
        AssetStore::list(self.up()?, client, query).await
    }
}

#[async_trait]
impl<T: DispatchQueue> DispatchQueue for Unavailable<T> {
    async fn send(&self, message: &DispatchMessage) -> Result<()> {
        self.up()?.send(message).await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>> {
        self.up()?.receive(max, visibility).await
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        self.up()?.ack(receipt).await
    }
}

#[async_trait]
impl<T: BlobStore> BlobStore for Unavailable<T> {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.up()?.put(key, bytes, content_type).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        BlobStore::delete(self.up()?, key).await
    }

    async fn presign_get(&self, key: &BlobKey, content_type: &str, file_name: &str, ttl: Duration) -> Result<String> {
        self.up()?.presign_get(key, content_type, file_name, ttl).await
    }

    async fn presign_put(&self, key: &BlobKey, content_type: &str, ttl: Duration) -> Result<PresignedUpload> {
        self.up()?.presign_put(key, content_type, ttl).await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        body: ByteStream,
        content_type: &str,
        max_bytes: u64,
    ) -> Result<StoredBlob> {
        self.up()?.put_stream(key, body, content_type, max_bytes).await
    }

    async fn describe(&self, key: &BlobKey) -> Result<Option<StoredBlob>> {
        self.up()?.describe(key).await
    }
}
