//! Webhook deliveries on SQLite, and the change feed the dev server reads to trigger them (rows
//! `replace` writes in the job's own transaction, as DynamoDB Streams records job changes).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use genrelay_core::ports::{JobStore, WebhookStore};
use genrelay_core::{ClientId, Job, JobId, JobStatus, Result, WebhookDelivery, WebhookEvent};
use rusqlite::{OptionalExtension, params};

use crate::db::{micros, sql};
use crate::store::{SqliteStore, from_json, to_json};

/// A job's status change from the feed.
#[derive(Debug, Clone, PartialEq)]
struct JobChange {
    seq: i64,
    client_id: ClientId,
    job_id: JobId,
    status: JobStatus,
}

impl SqliteStore {
    /// Hands the oldest unconsumed job changes, up to `limit`, to `entered` (webhook delivery:
    /// what DynamoDB Streams and the webhook function do on AWS), each with the job as it reads
    /// now; a change is consumed once `entered` succeeds, so one that fails is fed again next
    /// time. Returns how many were handled.
    pub async fn feed_job_changes<F, Fut>(&self, limit: usize, mut entered: F) -> Result<usize>
    where
        F: FnMut(Job, JobStatus) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let changes = self.job_changes(limit).await?;
        for change in &changes {
            if let Some(job) = JobStore::get(self, &change.client_id, &change.job_id).await? {
                entered(job, change.status).await?;
            }
            self.consume_job_change(change).await?;
        }
        Ok(changes.len())
    }

    /// The oldest unconsumed changes, up to `limit`.
    async fn job_changes(&self, limit: usize) -> Result<Vec<JobChange>> {
        self.db
            .read(move |conn| {
                let mut statement = conn
                    .prepare("SELECT seq, client_id, job_id, status FROM job_changes ORDER BY seq LIMIT ?1")
                    .map_err(sql)?;
                let rows = statement
                    .query_map(params![limit as i64], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                        ))
                    })
                    .map_err(sql)?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(sql)?;
                rows.into_iter()
                    .map(|(seq, client, job, status)| {
                        Ok(JobChange {
                            seq,
                            client_id: ClientId::parse(&client)?,
                            job_id: JobId::parse(&job)?,
                            status: JobStatus::parse(&status, "status")?,
                        })
                    })
                    .collect()
            })
            .await
    }

    /// Marks a change consumed.
    async fn consume_job_change(&self, change: &JobChange) -> Result<()> {
        let seq = change.seq;
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM job_changes WHERE seq = ?1", params![seq]).map_err(sql)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> Result<bool> {
        let delivery = delivery.clone();
        self.db
            .write(move |conn| {
                let inserted = conn
                    .execute(
                        "INSERT OR IGNORE INTO webhook_deliveries
                         (id, client_id, job_id, revision, next_attempt_at, created_at, body)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            delivery.id,
                            delivery.client_id.as_str(),
                            delivery.job_id.as_str(),
                            delivery.revision as i64,
                            delivery.next_attempt_at.map(micros),
                            micros(delivery.created_at),
                            to_json(&delivery)?
                        ],
                    )
                    .map_err(sql)?;
                Ok(inserted == 1)
            })
            .await
    }

    async fn replace_delivery(&self, current: &WebhookDelivery, next: &WebhookDelivery) -> Result<bool> {
        let (expected, next) = (current.revision as i64, next.clone());
        self.db
            .write(move |conn| {
                let changed = conn
                    .execute(
                        "UPDATE webhook_deliveries SET revision = ?1, next_attempt_at = ?2, body = ?3
                         WHERE id = ?4 AND client_id = ?5 AND revision = ?6",
                        params![
                            next.revision as i64,
                            next.next_attempt_at.map(micros),
                            to_json(&next)?,
                            next.id,
                            next.client_id.as_str(),
                            expected
                        ],
                    )
                    .map_err(sql)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn delivery(&self, client: &ClientId, job: &JobId, event: WebhookEvent) -> Result<Option<WebhookDelivery>> {
        let (client, id) = (client.as_str().to_owned(), WebhookDelivery::id_for(job, event));
        self.db
            .read(move |conn| {
                let body: Option<String> = conn
                    .query_row(
                        "SELECT body FROM webhook_deliveries WHERE id = ?1 AND client_id = ?2",
                        params![id, client],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(sql)?;
                body.map(|b| from_json(&b)).transpose()
            })
            .await
    }

    async fn deliveries(&self, client: &ClientId, job: &JobId) -> Result<Vec<WebhookDelivery>> {
        let (client, job) = (client.as_str().to_owned(), job.as_str().to_owned());
        self.db
            .read(move |conn| {
                let mut statement = conn
                    .prepare(
                        "SELECT body FROM webhook_deliveries WHERE job_id = ?1 AND client_id = ?2
                         ORDER BY created_at, id",
                    )
                    .map_err(sql)?;
                let bodies = statement
                    .query_map(params![job, client], |row| row.get::<_, String>(0))
                    .map_err(sql)?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(sql)?;
                bodies.iter().map(|b| from_json(b)).collect()
            })
            .await
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<WebhookDelivery>> {
        self.db
            .read(move |conn| {
                let mut statement = conn
                    .prepare(
                        "SELECT body FROM webhook_deliveries WHERE next_attempt_at <= ?1
                         ORDER BY next_attempt_at LIMIT ?2",
                    )
                    .map_err(sql)?;
                let bodies = statement
                    .query_map(params![micros(now), limit as i64], |row| row.get::<_, String>(0))
                    .map_err(sql)?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(sql)?;
                bodies.iter().map(|b| from_json(b)).collect()
            })
            .await
    }

    async fn set_url_disabled(&self, client: &ClientId, url: &str, disabled: bool) -> Result<()> {
        let (client, url) = (client.as_str().to_owned(), url.to_owned());
        self.db
            .write(move |conn| {
                let statement = if disabled {
                    "INSERT OR IGNORE INTO disabled_webhook_urls (client_id, url) VALUES (?1, ?2)"
                } else {
                    "DELETE FROM disabled_webhook_urls WHERE client_id = ?1 AND url = ?2"
                };
                conn.execute(statement, params![client, url]).map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn is_url_disabled(&self, client: &ClientId, url: &str) -> Result<bool> {
        let (client, url) = (client.as_str().to_owned(), url.to_owned());
        self.db
            .read(move |conn| {
                let found: Option<i64> = conn
                    .query_row(
                        "SELECT 1 FROM disabled_webhook_urls WHERE client_id = ?1 AND url = ?2",
                        params![client, url],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(sql)?;
                Ok(found.is_some())
            })
            .await
    }
}
