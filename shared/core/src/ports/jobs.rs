//! Where jobs and their idempotency records are kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::capability::Capability;
use crate::error::Result;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{ClientId, JobId};
use crate::job::{Job, JobStatus};
use crate::page::{Cursor, Page};

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
