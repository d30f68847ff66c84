//! Where jobs and their idempotency records are kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::capability::Capability;
use crate::error::Result;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{ClientId, JobId};
use crate::job::{InputImageType, Job, JobStatus};
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

/// The back office's job list: every client's jobs, newest first, filtered, one page of them.
#[derive(Debug, Clone, Default)]
pub struct AdminJobQuery {
    /// Jobs in any of these statuses; every status when empty.
    pub statuses: Vec<JobStatus>,
    /// Jobs whose order number contains this.
    pub order_number: Option<String>,
    pub image_type: Option<InputImageType>,
    /// Only the playground jobs of this back-office user.
    pub playground_of: Option<String>,
    /// Only jobs offered to one of these channels, whether it took them or not (any job when
    /// empty).
    pub channels: Vec<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub created_to: Option<DateTime<Utc>>,
    /// Matching jobs to pass over (the pages before this one).
    pub skip: usize,
    pub limit: usize,
    /// Where an earlier answer stopped reading: counting and skipping start there.
    pub cursor: Option<Cursor>,
}

impl AdminJobQuery {
    /// Whether `job` passes the filters (the time range included).
    pub fn matches(&self, job: &Job) -> bool {
        let labels = &job.labels;
        (self.statuses.is_empty() || self.statuses.contains(&job.status))
            && self.order_number.as_ref().is_none_or(|part| {
                labels.order_number.as_ref().is_some_and(|number| number.to_lowercase().contains(&part.to_lowercase()))
            })
            && self.image_type.is_none_or(|kind| labels.image_type == Some(kind))
            && self.playground_of.as_ref().is_none_or(|user| labels.playground_of.as_ref() == Some(user))
            && (self.channels.is_empty() || job.attempts.iter().any(|attempt| self.channels.contains(&attempt.channel)))
            && self.created_from.is_none_or(|from| job.created_at >= from)
            && self.created_to.is_none_or(|to| job.created_at <= to)
    }
}

/// The most jobs one back-office list call reads from a store that filters as it reads
/// (DynamoDB): past it the answer stops, counts what it read, and says where to continue.
pub const ADMIN_READ_BUDGET: usize = 1000;

/// One page of the back office's list.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminJobPage {
    pub jobs: Vec<Job>,
    /// The matching jobs counted, from the query's cursor on.
    pub total: usize,
    /// Set when reading stopped before the end of the range (the read budget was spent):
    /// `total` then counts only the jobs read, and this cursor continues from there.
    pub next: Option<Cursor>,
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

    /// How many of a client's jobs have `status`, counted up to `up_to` (counting stops there),
    /// without reading the jobs themselves.
    async fn count_with_status(&self, client: &ClientId, status: JobStatus, up_to: usize) -> Result<usize>;

    /// The job, whoever's it is (the back office reads every client's jobs).
    async fn find(&self, id: &JobId) -> Result<Option<Job>>;

    /// Every client's jobs that match, newest first, skipping `query.skip` of them: the back
    /// office's list. Its cost is bounded whatever the table holds.
    async fn admin_list(&self, query: &AdminJobQuery) -> Result<AdminJobPage>;

    /// Running jobs whose `next_poll_at` is at or before `now`, soonest first.
    async fn due_polls(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>>;

    /// Jobs still `queued` whose last dispatch was at or before `cutoff`, longest waiting first.
    async fn queued_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Job>>;
}
