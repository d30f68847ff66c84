//! Jobs, assets and idempotency records in SQLite. The whole item is stored as JSON; the columns
//! beside it are the keys and index attributes the queries need, as in the DynamoDB table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use genrelay_core::ports::{
    ADMIN_READ_BUDGET, AdminJobPage, AdminJobQuery, AssetQuery, AssetStore, Created, JobQuery, JobStore,
};
use genrelay_core::{
    Asset, AssetId, ClientId, Cursor, Error, IdempotencyKey, IdempotencyRecord, Job, JobId, JobStatus, Page,
    RequestFingerprint, Result,
};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::db::{Database, micros, sql};

#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) db: Database,
    admin_read_budget: usize,
}

impl SqliteStore {
    pub fn new(db: Database) -> Self {
        Self { db, admin_read_budget: ADMIN_READ_BUDGET }
    }

    /// How many matching jobs one back-office list call counts at most (`ADMIN_READ_BUDGET`).
    pub fn with_admin_read_budget(mut self, jobs: usize) -> Self {
        self.admin_read_budget = jobs.max(1);
        self
    }
}

/// Where a page of a client's list stopped: the sort key of its last item.
#[derive(Serialize, Deserialize)]
struct Position {
    created_at: i64,
    id: String,
    /// The filters of the query the page belongs to: a cursor only continues its own query.
    #[serde(default)]
    query: String,
}

impl Position {
    fn continuing(cursor: Option<&Cursor>, query: &str) -> Result<Option<Position>> {
        let Some(position) = cursor.map(Cursor::decode::<Position>).transpose()? else {
            return Ok(None);
        };
        if position.query != query {
            return Err(Error::invalid("cursor: it belongs to another query; repeat the same filters"));
        }
        Ok(Some(position))
    }
}

/// The query tag of the back office's list: its filters change from call to call (pages of a
/// filtered list are addressed by `skip`), so a cursor only marks where counting starts.
const ADMIN_LIST: &str = "admin";

pub(crate) fn to_json<T: Serialize>(item: &T) -> Result<String> {
    serde_json::to_string(item).map_err(Error::internal)
}

pub(crate) fn from_json<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(Error::internal)
}

/// Reads up to `limit + 1` rows of a newest-first list; the extra row tells whether there is a
/// next page, whose cursor is the position of the last row returned.
fn page_of<T>(mut items: Vec<(T, Position)>, limit: usize) -> Page<T> {
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        Cursor::encode(&items.last().expect("limit is at least 1").1)
    });
    Page { items: items.into_iter().map(|(item, _)| item).collect(), next }
}

// The poller's and the reconciler's queries, each on its partial index: without statistics,
// SQLite prefers the equality on `status` (jobs_by_status_time), then sorts every running or
// queued job, which grows with the load.
const DUE_POLLS: &str = "SELECT body FROM jobs INDEXED BY jobs_due_polls
     WHERE next_poll_at IS NOT NULL AND next_poll_at <= ?1 AND status = 'running' ORDER BY next_poll_at LIMIT ?2";
const QUEUED_BEFORE: &str = "SELECT body FROM jobs INDEXED BY jobs_queued
     WHERE status = 'queued' AND dispatched_at <= ?1 ORDER BY dispatched_at LIMIT ?2";

#[async_trait]
impl JobStore for SqliteStore {
    async fn create(&self, job: &Job, idempotency: Option<&IdempotencyRecord>) -> Result<Created> {
        let job = job.clone();
        let record = idempotency.cloned();
        self.db
            .write(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                if let Some(record) = &record {
                    let existing = tx
                        .query_row(
                            "SELECT fingerprint, job_id, expires_at FROM idempotency
                             WHERE client_id = ?1 AND key = ?2 AND expires_at > ?3",
                            params![record.client_id.as_str(), record.key.as_str(), micros(job.created_at)],
                            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?)),
                        )
                        .optional()
                        .map_err(sql)?;
                    if let Some((fingerprint, job_id, expires_at)) = existing {
                        return Ok(Created::KeyTaken(IdempotencyRecord {
                            client_id: record.client_id.clone(),
                            key: IdempotencyKey::parse(record.key.as_str())?,
                            fingerprint: RequestFingerprint::from_stored(fingerprint),
                            job_id: JobId::parse(&job_id)?,
                            expires_at: DateTime::<Utc>::from_timestamp_micros(expires_at).unwrap_or_default(),
                        }));
                    }
                    tx.execute(
                        "INSERT OR REPLACE INTO idempotency (client_id, key, fingerprint, job_id, expires_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            record.client_id.as_str(),
                            record.key.as_str(),
                            record.fingerprint.as_str(),
                            record.job_id.as_str(),
                            micros(record.expires_at)
                        ],
                    )
                    .map_err(sql)?;
                }
                let inserted = tx
                    .execute(
                        "INSERT OR IGNORE INTO jobs
                         (id, client_id, status, capability, created_at, next_poll_at, dispatched_at, revision, body,
                          order_number, image_type, playground_of)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                        params![
                            job.id.as_str(),
                            job.client_id.as_str(),
                            job.status.as_str(),
                            job.capability().as_str(),
                            micros(job.created_at),
                            job.next_poll_at.map(micros),
                            micros(job.dispatched_at.unwrap_or(job.created_at)),
                            job.revision as i64,
                            to_json(&job)?,
                            job.labels.order_number,
                            job.labels.image_type.map(|t| t.as_str()),
                            job.labels.playground_of,
                        ],
                    )
                    .map_err(sql)?;
                if inserted == 0 {
                    return Err(Error::Conflict(format!("Job {} already exists.", job.id)));
                }
                tx.commit().map_err(sql)?;
                Ok(Created::Inserted)
            })
            .await
    }

    async fn get(&self, client: &ClientId, id: &JobId) -> Result<Option<Job>> {
        self.body_by_key("SELECT body FROM jobs WHERE id = ?1 AND client_id = ?2", &[id.as_str(), client.as_str()])
            .await
    }

    async fn replace(&self, current: &Job, next: &Job) -> Result<bool> {
        let (expected_status, expected_revision) = (current.status, current.revision as i64);
        let job = next.clone();
        self.db
            .write(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                let changed = tx
                    .execute(
                        "UPDATE jobs SET status = ?1, next_poll_at = ?2, dispatched_at = ?3, revision = ?4, body = ?5
                         WHERE id = ?6 AND client_id = ?7 AND status = ?8 AND revision = ?9",
                        params![
                            job.status.as_str(),
                            job.next_poll_at.map(micros),
                            micros(job.dispatched_at.unwrap_or(job.created_at)),
                            job.revision as i64,
                            to_json(&job)?,
                            job.id.as_str(),
                            job.client_id.as_str(),
                            expected_status.as_str(),
                            expected_revision
                        ],
                    )
                    .map_err(sql)?;
                // The change feed (what DynamoDB Streams is on AWS): a status change a webhook
                // announces, written in the same transaction.
                if changed == 1 && job.status != expected_status && job.announces(job.status).is_some() {
                    tx.execute(
                        "INSERT INTO job_changes (client_id, job_id, status) VALUES (?1, ?2, ?3)",
                        params![job.client_id.as_str(), job.id.as_str(), job.status.as_str()],
                    )
                    .map_err(sql)?;
                }
                tx.commit().map_err(sql)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn list(&self, client: &ClientId, query: &JobQuery) -> Result<Page<Job>> {
        let tag = format!("jobs:{:?}:{:?}", query.status, query.capability);
        let position = Position::continuing(query.cursor.as_ref(), &tag)?;
        let mut conditions = vec!["client_id = ?".to_owned()];
        let mut values: Vec<Value> = vec![client.as_str().to_owned().into()];
        if let Some(status) = query.status {
            conditions.push("status = ?".into());
            values.push(status.as_str().to_owned().into());
        }
        if let Some(capability) = query.capability {
            conditions.push("capability = ?".into());
            values.push(capability.as_str().to_owned().into());
        }
        if let Some(before) = query.before {
            conditions.push("created_at < ?".into());
            values.push(micros(before).into());
        }
        if let Some(position) = position {
            conditions.push("(created_at, id) < (?, ?)".into());
            values.push(position.created_at.into());
            values.push(position.id.into());
        }
        let limit = query.limit;
        values.push(((limit + 1) as i64).into());
        let statement = format!(
            "SELECT body, created_at, id FROM jobs WHERE {} ORDER BY created_at DESC, id DESC LIMIT ?",
            conditions.join(" AND ")
        );
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare(&statement).map_err(sql)?;
                let rows = stmt
                    .query_map(params_from_iter(values), |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            Position { created_at: row.get(1)?, id: row.get(2)?, query: tag.clone() },
                        ))
                    })
                    .map_err(sql)?;
                let mut items = Vec::new();
                for row in rows {
                    let (body, position) = row.map_err(sql)?;
                    items.push((from_json::<Job>(&body)?, position));
                }
                Ok(page_of(items, limit))
            })
            .await
    }

    async fn count_with_status(&self, client: &ClientId, status: JobStatus, up_to: usize) -> Result<usize> {
        let client = client.as_str().to_owned();
        self.db
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT COUNT(*) FROM
                     (SELECT 1 FROM jobs WHERE client_id = ?1 AND status = ?2 LIMIT ?3)",
                )
                .and_then(|mut statement| {
                    statement.query_row(params![client, status.as_str(), up_to as i64], |row| row.get::<_, i64>(0))
                })
                .map(|count| count as usize)
                .map_err(sql)
            })
            .await
    }

    async fn find(&self, id: &JobId) -> Result<Option<Job>> {
        self.body_by_key("SELECT body FROM jobs WHERE id = ?1", &[id.as_str()]).await
    }

    /// Counts at most its budget of matching jobs, newest first from the cursor on (as on
    /// DynamoDB, whatever the table holds), and hands back a cursor after the last one counted
    /// when more match.
    async fn admin_list(&self, query: &AdminJobQuery) -> Result<AdminJobPage> {
        let position = Position::continuing(query.cursor.as_ref(), ADMIN_LIST)?;
        let mut conditions = vec!["1 = 1".to_owned()];
        let mut values: Vec<Value> = Vec::new();
        if !query.statuses.is_empty() {
            conditions.push(format!("status IN ({})", vec!["?"; query.statuses.len()].join(", ")));
            values.extend(query.statuses.iter().map(|status| Value::from(status.as_str().to_owned())));
        }
        if let Some(part) = &query.order_number {
            conditions.push(r"order_number LIKE ? ESCAPE '\'".into());
            let escaped = part.replace('\\', r"\\").replace('%', r"\%").replace('_', r"\_");
            values.push(format!("%{escaped}%").into());
        }
        if let Some(kind) = query.image_type {
            conditions.push("image_type = ?".into());
            values.push(kind.as_str().to_owned().into());
        }
        if let Some(user) = &query.playground_of {
            conditions.push("playground_of = ?".into());
            values.push(user.clone().into());
        }
        if !query.channels.is_empty() {
            // Read from the body: few lists ask for it (the Meitu tasks), none on a hot path.
            let names = vec!["?"; query.channels.len()].join(", ");
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM json_each(body, '$.attempts') WHERE json_extract(value, '$.channel') IN ({names}))"
            ));
            values.extend(query.channels.iter().map(|channel| Value::from(channel.clone())));
        }
        if let Some(from) = query.created_from {
            conditions.push("created_at >= ?".into());
            values.push(micros(from).into());
        }
        if let Some(to) = query.created_to {
            conditions.push("created_at <= ?".into());
            values.push(micros(to).into());
        }
        if let Some(position) = position {
            conditions.push("(created_at, id) < (?, ?)".into());
            values.push(position.created_at.into());
            values.push(position.id.into());
        }
        let matching = format!("FROM jobs WHERE {} ORDER BY created_at DESC, id DESC", conditions.join(" AND "));
        let count = format!("SELECT COUNT(*) FROM (SELECT 1 {matching} LIMIT ?)");
        let last_counted = format!("SELECT created_at, id {matching} LIMIT 1 OFFSET ?");
        let select = format!("SELECT body {matching} LIMIT ? OFFSET ?");
        let budget = self.admin_read_budget;
        let (limit, skip) = (query.limit, query.skip);
        self.db
            .read(move |conn| {
                let with = |extra: &[i64]| {
                    let extra = extra.iter().map(|&value| Value::from(value));
                    params_from_iter(values.iter().cloned().chain(extra).collect::<Vec<_>>())
                };
                let counted: i64 = conn.query_row(&count, with(&[budget as i64 + 1]), |row| row.get(0)).map_err(sql)?;
                let total = (counted as usize).min(budget);
                let next = if counted as usize > budget {
                    let (created_at, id) = conn
                        .query_row(&last_counted, with(&[budget as i64 - 1]), |row| Ok((row.get(0)?, row.get(1)?)))
                        .map_err(sql)?;
                    Some(Cursor::encode(&Position { created_at, id, query: ADMIN_LIST.to_owned() }))
                } else {
                    None
                };
                let on_page = limit.min(total.saturating_sub(skip)) as i64;
                let mut stmt = conn.prepare(&select).map_err(sql)?;
                let rows = stmt.query_map(with(&[on_page, skip as i64]), |row| row.get::<_, String>(0)).map_err(sql)?;
                let mut jobs = Vec::new();
                for body in rows {
                    jobs.push(from_json(&body.map_err(sql)?)?);
                }
                Ok(AdminJobPage { jobs, total, next })
            })
            .await
    }

    async fn due_polls(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        self.select_jobs(DUE_POLLS, micros(now), limit).await
    }

    async fn queued_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        self.select_jobs(QUEUED_BEFORE, micros(cutoff), limit).await
    }
}

impl SqliteStore {
    /// The JSON body `statement` selects for one key (`?1`, `?2`… in order), if a row has it.
    pub(crate) async fn body_by_key<T>(&self, statement: &'static str, key: &[&str]) -> Result<Option<T>>
    where
        T: for<'de> Deserialize<'de> + Send + 'static,
    {
        let key: Vec<String> = key.iter().map(|part| (*part).to_owned()).collect();
        self.db
            .read(move |conn| {
                let mut get = conn.prepare_cached(statement).map_err(sql)?;
                get.query_row(params_from_iter(key), |row| row.get::<_, String>(0))
                    .optional()
                    .map_err(sql)?
                    .map(|body| from_json(&body))
                    .transpose()
            })
            .await
    }

    async fn select_jobs(&self, statement: &'static str, time: i64, limit: usize) -> Result<Vec<Job>> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(statement).map_err(sql)?;
                let rows = stmt.query_map(params![time, limit as i64], |row| row.get::<_, String>(0)).map_err(sql)?;
                let mut jobs = Vec::new();
                for body in rows {
                    jobs.push(from_json(&body.map_err(sql)?)?);
                }
                Ok(jobs)
            })
            .await
    }
}

#[async_trait]
impl AssetStore for SqliteStore {
    async fn insert(&self, assets: &[Asset]) -> Result<()> {
        let assets = assets.to_vec();
        self.db
            .write(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                for asset in &assets {
                    let inserted = tx
                        .execute(
                            "INSERT OR IGNORE INTO assets (id, client_id, created_at, body) VALUES (?1, ?2, ?3, ?4)",
                            params![
                                asset.id.as_str(),
                                asset.client_id.as_str(),
                                micros(asset.created_at),
                                to_json(asset)?
                            ],
                        )
                        .map_err(sql)?;
                    if inserted == 0 {
                        return Err(Error::Conflict(format!("Asset {} already exists.", asset.id)));
                    }
                }
                tx.commit().map_err(sql)
            })
            .await
    }

    async fn update(&self, asset: &Asset) -> Result<()> {
        let asset = asset.clone();
        self.db
            .write(move |conn| {
                let changed = conn
                    .execute(
                        "UPDATE assets SET body = ?1 WHERE id = ?2 AND client_id = ?3",
                        params![to_json(&asset)?, asset.id.as_str(), asset.client_id.as_str()],
                    )
                    .map_err(sql)?;
                if changed == 0 {
                    return Err(Error::NotFound(format!("Asset {} not found.", asset.id)));
                }
                Ok(())
            })
            .await
    }

    async fn delete(&self, assets: &[Asset]) -> Result<()> {
        let ids: Vec<String> = assets.iter().map(|a| a.id.to_string()).collect();
        self.db
            .write(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                for id in &ids {
                    tx.execute("DELETE FROM assets WHERE id = ?1", params![id]).map_err(sql)?;
                }
                tx.commit().map_err(sql)
            })
            .await
    }

    async fn get(&self, client: &ClientId, id: &AssetId) -> Result<Option<Asset>> {
        self.body_by_key("SELECT body FROM assets WHERE id = ?1 AND client_id = ?2", &[id.as_str(), client.as_str()])
            .await
    }

    async fn list(&self, client: &ClientId, query: &AssetQuery) -> Result<Page<Asset>> {
        let position = Position::continuing(query.cursor.as_ref(), "")?;
        let (after_time, after_id) = position.map_or((i64::MAX, String::new()), |p| (p.created_at, p.id));
        let unbounded = after_id.is_empty();
        let (client, limit) = (client.clone(), query.limit);
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT body, created_at, id FROM assets WHERE client_id = ?1
                         AND (?2 OR (created_at, id) < (?3, ?4))
                         ORDER BY created_at DESC, id DESC LIMIT ?5",
                    )
                    .map_err(sql)?;
                let rows = stmt
                    .query_map(params![client.as_str(), unbounded, after_time, after_id, (limit + 1) as i64], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            Position { created_at: row.get(1)?, id: row.get(2)?, query: String::new() },
                        ))
                    })
                    .map_err(sql)?;
                let mut items = Vec::new();
                for row in rows {
                    let (body, position) = row.map_err(sql)?;
                    items.push((from_json::<Asset>(&body)?, position));
                }
                Ok(page_of(items, limit))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_poller_and_the_reconciler_read_their_partial_indexes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("plans.db")).unwrap();
        for (query, index) in [(DUE_POLLS, "jobs_due_polls"), (QUEUED_BEFORE, "jobs_queued")] {
            let plan: Vec<String> = db
                .read(move |conn| {
                    let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {query}")).map_err(sql)?;
                    let rows = explain.query_map([0, 10], |row| row.get::<_, String>(3)).map_err(sql)?;
                    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)
                })
                .await
                .unwrap();
            assert!(plan.iter().any(|step| step.contains(&format!("USING INDEX {index}"))), "{plan:?}");
            assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "no sort: {plan:?}");
        }
    }
}
