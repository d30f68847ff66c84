//! Jobs, assets and idempotency records in one DynamoDB table. Every request path is a GetItem,
//! a conditional PutItem or TransactWriteItems, or a Query on a key or index: never a Scan.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, Select, TransactWriteItem};
use chrono::{DateTime, Utc};
use genrelay_core::ports::{
    ADMIN_READ_BUDGET, AdminJobPage, AdminJobQuery, AssetQuery, AssetStore, Created, JobQuery, JobStore,
};
use genrelay_core::{Asset, AssetId, ClientId, Cursor, Error, IdempotencyRecord, Job, JobId, JobStatus, Page, Result};

use crate::errors::{sdk, service};
use crate::items::*;

const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";
const TRANSACTION_CONFLICT: &str = "TransactionConflict";
/// Query calls one page may cost before it is answered short.
const MAX_QUERIES_PER_PAGE: usize = 5;
/// Attempts of a transaction that collides with a concurrent one on the same item.
const TRANSACTION_ATTEMPTS: u32 = 4;
/// DynamoDB's limit on the items of one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// Where a page stopped, as a cursor: the index and partition it belongs to, and the key to
/// continue after. A cursor is only accepted back for the same query.
#[derive(serde::Serialize, serde::Deserialize)]
struct PagePosition {
    index: String,
    partition: String,
    key: HashMap<String, String>,
}

impl PagePosition {
    fn of(item: &Item, range: &RangeQuery<'_>) -> Cursor {
        Cursor::encode(&PagePosition {
            index: range.index.name.to_owned(),
            partition: range.partition.clone(),
            key: index_position(item, range.index),
        })
    }

    fn decode(cursor: &Cursor, range: &RangeQuery<'_>) -> Result<Item> {
        let position: PagePosition = cursor.decode()?;
        let sort_key = position.key.get(range.index.sk);
        let in_range = match (&range.below, sort_key) {
            (Some(below), Some(sort_key)) => sort_key < below,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if position.index != range.index.name || position.partition != range.partition || !in_range {
            return Err(Error::invalid("cursor: it belongs to another query; repeat the same filters"));
        }
        Ok(start_key(position.key))
    }
}

/// Where a back-office list stopped reading, and the creation range it read.
#[derive(serde::Serialize, serde::Deserialize)]
struct AdminPosition {
    key: HashMap<String, String>,
    from: String,
    to: String,
}

/// The key a back-office list continues after; only for the same creation range.
fn admin_start_key(cursor: &Cursor, from: &str, to: &str) -> Result<Item> {
    let position: AdminPosition = cursor.decode()?;
    if position.from != from || position.to != to {
        return Err(Error::invalid("cursor: it belongs to another date range; repeat the same dates"));
    }
    Ok(start_key(position.key))
}

#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    output_retention: chrono::Duration,
    admin_read_budget: usize,
}

/// The default of the template's `OutputRetentionDays`.
pub const DEFAULT_OUTPUT_RETENTION_DAYS: i64 = 30;

/// One key-range query of an index, newest (or oldest) first.
struct RangeQuery<'a> {
    index: &'a Index,
    partition: String,
    /// Only sort keys strictly below this.
    below: Option<String>,
    newest_first: bool,
    /// A condition on non-key attributes, with its values (`:f…`).
    filter: Option<(&'static str, Vec<(&'static str, AttributeValue)>)>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            output_retention: chrono::Duration::days(DEFAULT_OUTPUT_RETENTION_DAYS),
            admin_read_budget: ADMIN_READ_BUDGET,
        }
    }

    /// How many items one back-office list call reads at most (`ADMIN_READ_BUDGET`).
    pub fn with_admin_read_budget(mut self, items: usize) -> Self {
        self.admin_read_budget = items.max(1);
        self
    }

    /// How long output asset records live: as long as the bucket keeps their files.
    pub fn with_output_retention(mut self, days: u32) -> Self {
        self.output_retention = chrono::Duration::days(i64::from(days));
        self
    }

    fn put(&self, item: Item, condition: &str) -> Result<Put> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(Error::internal)
    }

    /// Writes an item unconditionally (replacing any with its key).
    pub(crate) async fn put_item(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk("PutItem", e))?;
        Ok(())
    }

    /// One item by key, read consistently.
    /// The items of `keys` (at most 100) that exist, in no particular order: one BatchGetItem,
    /// again for any keys it leaves unprocessed.
    pub(crate) async fn batch_get_items(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>> {
        let keys = KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(consistent).build();
        let mut request = HashMap::from([(self.table.clone(), keys.map_err(Error::internal)?)]);
        let mut items = Vec::new();
        while !request.is_empty() {
            let answer = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(|e| sdk("BatchGetItem", e))?;
            items.extend(answer.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            request = answer.unprocessed_keys.unwrap_or_default();
        }
        Ok(items)
    }

    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("GetItem", e))?;
        Ok(output.item)
    }

    /// Reads up to `limit` items of a range, continuing after `cursor`, plus one more to know
    /// whether a next page exists. A filter may need several calls to fill a page; after
    /// `MAX_QUERIES_PER_PAGE` the page is answered short, with a cursor where reading stopped, so
    /// the cost of a request stays bounded.
    async fn query_page(
        &self,
        range: RangeQuery<'_>,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<Cursor>)> {
        let mut start = cursor.map(|c| PagePosition::decode(c, &range)).transpose()?;
        let mut items: Vec<Item> = Vec::new();
        let mut stopped_at = None;
        for call in 1..=MAX_QUERIES_PER_PAGE {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(range.index.name)
                .expression_attribute_names("#pk", range.index.pk)
                .expression_attribute_values(":pk", s(&range.partition))
                .scan_index_forward(!range.newest_first)
                .limit((limit + 1 - items.len()) as i32)
                .set_exclusive_start_key(start.take());
            request = match &range.below {
                Some(below) => request
                    .key_condition_expression("#pk = :pk AND #sk < :below")
                    .expression_attribute_names("#sk", range.index.sk)
                    .expression_attribute_values(":below", s(below)),
                None => request.key_condition_expression("#pk = :pk"),
            };
            if let Some((expression, values)) = &range.filter {
                request = request.filter_expression(*expression);
                for (name, value) in values {
                    request = request.expression_attribute_values(*name, value.clone());
                }
            }
            let output = request.send().await.map_err(|e| sdk("Query", e))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if items.len() <= limit && call < MAX_QUERIES_PER_PAGE => start = Some(key),
                Some(key) if items.len() <= limit => stopped_at = Some(key),
                _ => break,
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            Some(PagePosition::of(items.last().expect("limit is at least 1"), &range))
        } else {
            stopped_at.map(|key| PagePosition::of(&key, &range))
        };
        Ok((items, next))
    }

    async fn query_jobs(&self, range: RangeQuery<'_>, limit: usize) -> Result<Vec<Job>> {
        let (items, _) = self.query_page(range, None, limit).await?;
        items.iter().map(from_doc).collect()
    }
}

/// Whether a transaction was cancelled because the condition of item `index` failed.
fn condition_failed_at(error: &TransactWriteItemsError, index: usize) -> bool {
    cancellation_codes(error).get(index).is_some_and(|code| *code == Some(CONDITIONAL_CHECK_FAILED))
}

/// Whether a transaction was cancelled because another transaction was writing the same items.
fn collided(error: &TransactWriteItemsError) -> bool {
    cancellation_codes(error).contains(&Some(TRANSACTION_CONFLICT))
}

fn cancellation_codes(error: &TransactWriteItemsError) -> Vec<Option<&str>> {
    match error {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            cancelled.cancellation_reasons().iter().map(|reason| reason.code()).collect()
        }
        _ => Vec::new(),
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn create(&self, job: &Job, idempotency: Option<&IdempotencyRecord>) -> Result<Created> {
        let new_job = self.put(job_item(job)?, "attribute_not_exists(pk)")?;
        let Some(record) = idempotency else {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(job_item(job)?))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            return match result.map_err(|e| e.into_service_error()) {
                Ok(_) => Ok(Created::Inserted),
                Err(PutItemError::ConditionalCheckFailedException(_)) => {
                    Err(Error::Conflict(format!("Job {} already exists.", job.id)))
                }
                Err(other) => Err(service("PutItem", other)),
            };
        };
        // The record may replace one that has expired but not yet been removed by TTL.
        let new_record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(idempotency_item(record)?))
            .condition_expression("attribute_not_exists(pk) OR expiresAtMicros <= :now")
            .expression_attribute_values(":now", AttributeValue::N(job.created_at.timestamp_micros().to_string()))
            .build()
            .map_err(Error::internal)?;
        let mut attempt = 1;
        let error = loop {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(new_job.clone()).build())
                .transact_items(TransactWriteItem::builder().put(new_record.clone()).build())
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(Created::Inserted),
                Err(error) => error.into_service_error(),
            };
            // Concurrent requests with the same key collide on its record: the winner's commit
            // decides, so try again (briefly) and then read what won.
            if !collided(&error) || attempt == TRANSACTION_ATTEMPTS {
                break error;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt))).await;
            attempt += 1;
        };
        if condition_failed_at(&error, 0) {
            return Err(Error::Conflict(format!("Job {} already exists.", job.id)));
        }
        if !condition_failed_at(&error, 1) && !collided(&error) {
            return Err(service("TransactWriteItems", error));
        }
        // The key is taken by a live record: answer with it.
        let existing = self
            .get_item(idempotency_pk(record.client_id.as_str(), record.key.as_str()), "IDEM")
            .await?
            .ok_or_else(|| Error::Unavailable("an idempotency record changed concurrently".into()))?;
        Ok(Created::KeyTaken(from_doc(&existing)?))
    }

    async fn get(&self, client: &ClientId, id: &JobId) -> Result<Option<Job>> {
        let Some(item) = self.get_item(job_pk(id.as_str()), JOB_SK).await? else {
            return Ok(None);
        };
        let job: Job = from_doc(&item)?;
        Ok((job.client_id == *client).then_some(job))
    }

    async fn replace(&self, current: &Job, next: &Job) -> Result<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(next)?))
            .condition_expression("#status = :status AND #revision = :revision AND clientId = :client")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#revision", REVISION)
            .expression_attribute_values(":status", s(current.status.as_str()))
            .expression_attribute_values(":revision", AttributeValue::N(current.revision.to_string()))
            .expression_attribute_values(":client", s(current.client_id.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(service("PutItem", other)),
            },
        }
    }

    async fn list(&self, client: &ClientId, query: &JobQuery) -> Result<Page<Job>> {
        let client = client.as_str();
        let (index, partition, filter) = match (query.status, query.capability) {
            (Some(status), capability) => (
                &BY_CLIENT_STATUS,
                client_status(client, status.as_str()),
                capability.map(|c| ("capability = :fcapability", vec![(":fcapability", s(c.as_str()))])),
            ),
            (None, Some(capability)) => (&BY_CLIENT_CAPABILITY, client_capability(client, capability.as_str()), None),
            (None, None) => (&BY_CLIENT, client_jobs(client), None),
        };
        let range = RangeQuery { index, partition, below: query.before.map(time_key), newest_first: true, filter };
        let (items, next) = self.query_page(range, query.cursor.as_ref(), query.limit).await?;
        Ok(Page { items: items.iter().map(from_doc).collect::<Result<_>>()?, next })
    }

    /// A count-only query of the client's jobs of that status (`byClientStatus`), page by page until
    /// `up_to`: it reads the same items a list would, but returns none of them.
    async fn count_with_status(&self, client: &ClientId, status: JobStatus, up_to: usize) -> Result<usize> {
        let partition = client_status(client.as_str(), status.as_str());
        let (mut counted, mut start) = (0, None);
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_CLIENT_STATUS.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", BY_CLIENT_STATUS.pk)
                .expression_attribute_values(":pk", s(&partition))
                .select(Select::Count)
                .limit((up_to - counted).max(1) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk("Query", e))?;
            counted += output.count.max(0) as usize;
            match output.last_evaluated_key {
                Some(key) if counted < up_to => start = Some(key),
                _ => return Ok(counted.min(up_to)),
            }
        }
    }

    async fn find(&self, id: &JobId) -> Result<Option<Job>> {
        self.get_item(job_pk(id.as_str()), JOB_SK).await?.as_ref().map(from_doc).transpose()
    }

    /// Reads the `byTime` index newest first within the creation range, filtering as it reads,
    /// and stops after its read budget (`ADMIN_READ_BUDGET` items) with a cursor where it stopped.
    async fn admin_list(&self, query: &AdminJobQuery) -> Result<AdminJobPage> {
        // A key condition value cannot be empty: "0" sorts before every time key.
        let from = query.created_from.map_or_else(|| "0".to_owned(), time_key);
        // Sort keys are `<time>#<job id>`: `~` sorts after every id character.
        let to = query.created_to.map_or_else(|| "~".to_owned(), |to| format!("{}#~", time_key(to)));
        let mut start = query.cursor.as_ref().map(|cursor| admin_start_key(cursor, &from, &to)).transpose()?;
        let (mut read, mut total, mut jobs) = (0, 0, Vec::new());
        let next = loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_TIME.name)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", BY_TIME.pk)
                .expression_attribute_names("#sk", BY_TIME.sk)
                .expression_attribute_values(":pk", s(ALL_JOBS_PARTITION))
                .expression_attribute_values(":from", s(&from))
                .expression_attribute_values(":to", s(&to))
                .scan_index_forward(false)
                .limit((self.admin_read_budget - read) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk("Query", e))?;
            for item in output.items.unwrap_or_default() {
                read += 1;
                let job: Job = from_doc(&item)?;
                if query.matches(&job) {
                    if total >= query.skip && jobs.len() < query.limit {
                        jobs.push(job);
                    }
                    total += 1;
                }
            }
            match output.last_evaluated_key {
                Some(key) if read >= self.admin_read_budget => break Some(key),
                Some(key) => start = Some(key),
                None => break None,
            }
        };
        let next = next.map(|key| {
            Cursor::encode(&AdminPosition { key: index_position(&key, &BY_TIME), from: from.clone(), to: to.clone() })
        });
        Ok(AdminJobPage { jobs, total, next })
    }

    async fn due_polls(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        let range = RangeQuery {
            index: &DUE_POLLS,
            partition: DUE_POLLS_PARTITION.to_owned(),
            below: Some(time_key(now + chrono::Duration::microseconds(1))),
            newest_first: false,
            filter: None,
        };
        let jobs = self.query_jobs(range, limit).await?;
        Ok(jobs.into_iter().filter(|job| job.status == JobStatus::Running).collect())
    }

    async fn queued_before(&self, cutoff: DateTime<Utc>, limit: usize) -> Result<Vec<Job>> {
        let range = RangeQuery {
            index: &DUE_POLLS,
            partition: DUE_DISPATCH_PARTITION.to_owned(),
            below: Some(time_key(cutoff + chrono::Duration::microseconds(1))),
            newest_first: false,
            filter: None,
        };
        let jobs = self.query_jobs(range, limit).await?;
        // The index is eventually consistent: drop jobs that have moved on since.
        Ok(jobs.into_iter().filter(|job| job.status == JobStatus::Queued).collect())
    }
}

#[async_trait]
impl AssetStore for DynamoStore {
    async fn insert(&self, assets: &[Asset]) -> Result<()> {
        if assets.is_empty() {
            return Ok(());
        }
        if assets.len() > MAX_TRANSACTION_ITEMS {
            return Err(Error::invalid(format!("at most {MAX_TRANSACTION_ITEMS} files can be stored at once")));
        }
        let mut request = self.client.transact_write_items();
        for asset in assets {
            let put = self.put(asset_item(asset, self.output_retention)?, "attribute_not_exists(pk)")?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) => {
                let error = error.into_service_error();
                match (0..assets.len()).find(|i| condition_failed_at(&error, *i)) {
                    Some(i) => Err(Error::Conflict(format!("Asset {} already exists.", assets[i].id))),
                    None => Err(service("TransactWriteItems", error)),
                }
            }
        }
    }

    async fn update(&self, asset: &Asset) -> Result<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(asset_item(asset, self.output_retention)?))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result.map_err(|e| e.into_service_error()) {
            Ok(_) => Ok(()),
            Err(PutItemError::ConditionalCheckFailedException(_)) => {
                Err(Error::NotFound(format!("Asset {} not found.", asset.id)))
            }
            Err(other) => Err(service("PutItem", other)),
        }
    }

    async fn delete(&self, assets: &[Asset]) -> Result<()> {
        for asset in assets {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key_of(asset_pk(asset.id.as_str()), "ASSET")))
                .send()
                .await
                .map_err(|e| sdk("DeleteItem", e))?;
        }
        Ok(())
    }

    async fn get(&self, client: &ClientId, id: &AssetId) -> Result<Option<Asset>> {
        let Some(item) = self.get_item(asset_pk(id.as_str()), "ASSET").await? else {
            return Ok(None);
        };
        let asset: Asset = from_doc(&item)?;
        Ok((asset.client_id == *client).then_some(asset))
    }

    async fn list(&self, client: &ClientId, query: &AssetQuery) -> Result<Page<Asset>> {
        let range = RangeQuery {
            index: &BY_CLIENT,
            partition: client_assets(client.as_str()),
            below: None,
            newest_first: true,
            filter: None,
        };
        let (items, next) = self.query_page(range, query.cursor.as_ref(), query.limit).await?;
        Ok(Page { items: items.iter().map(from_doc).collect::<Result<_>>()?, next })
    }
}
