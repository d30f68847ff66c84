//! How domain objects are laid out as items of the single table (see this crate's README.md):
//! the whole object as JSON in `doc`, beside the key and index attributes that the access
//! patterns query.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use genrelay_core::{Asset, AssetSource, AssetStatus, Error, IdempotencyRecord, Job, JobStatus, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const DOC: &str = "doc";
pub const STATUS: &str = "status";
pub const EXPIRES_AT: &str = "expiresAt";
/// The sort key of a job's item.
pub const JOB_SK: &str = "JOB";

/// The global secondary indexes: name, partition key attribute, sort key attribute.
pub struct Index {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

/// A client's jobs (and, under another key, assets), newest first.
pub const BY_CLIENT: Index = Index { name: "byClient", pk: "gsi1pk", sk: "gsi1sk" };
/// A client's jobs in one status, newest first.
pub const BY_CLIENT_STATUS: Index = Index { name: "byClientStatus", pk: "gsi2pk", sk: "gsi2sk" };
/// A client's jobs of one capability, newest first.
pub const BY_CLIENT_CAPABILITY: Index = Index { name: "byClientCapability", pk: "gsi3pk", sk: "gsi3sk" };
/// Every client's jobs by creation time, in one partition (`JOBS`): the back office's list.
pub const BY_TIME: Index = Index { name: "byTime", pk: "gsi4pk", sk: "gsi4sk" };
/// The partition of `BY_TIME`.
pub const ALL_JOBS_PARTITION: &str = "JOBS";
/// Work that falls due, by due time, in two partitions: `POLL` (running jobs waiting on a poll)
/// and `DISPATCH` (queued jobs, by last dispatch, for the reconciler). Sparse: finished jobs
/// carry no keys of it.
pub const DUE_POLLS: Index = Index { name: "duePolls", pk: "gsi5pk", sk: "gsi5sk" };

pub const INDEXES: [&Index; 5] = [&BY_CLIENT, &BY_CLIENT_STATUS, &BY_CLIENT_CAPABILITY, &BY_TIME, &DUE_POLLS];

/// The single partition of the due-polls index.
pub const DUE_POLLS_PARTITION: &str = "POLL";
pub const DUE_DISPATCH_PARTITION: &str = "DISPATCH";
pub const REVISION: &str = "revision";
/// How long a finished job stays before DynamoDB's TTL removes it.
pub const FINISHED_JOB_RETENTION_DAYS: i64 = 90;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A time as a sort-key fragment: zero-padded microseconds, so strings sort like times.
pub fn time_key(time: DateTime<Utc>) -> String {
    format!("{:020}", time.timestamp_micros().max(0))
}

pub fn job_pk(id: &str) -> String {
    format!("JOB#{id}")
}

pub fn asset_pk(id: &str) -> String {
    format!("ASSET#{id}")
}

pub fn idempotency_pk(client: &str, key: &str) -> String {
    format!("IDEM#{client}#{key}")
}

pub fn client_jobs(client: &str) -> String {
    format!("CLIENT#{client}#JOBS")
}

pub fn client_assets(client: &str) -> String {
    format!("CLIENT#{client}#ASSETS")
}

pub fn client_status(client: &str, status: &str) -> String {
    format!("CLIENT#{client}#STATUS#{status}")
}

pub fn client_capability(client: &str, capability: &str) -> String {
    format!("CLIENT#{client}#CAPABILITY#{capability}")
}

fn doc<T: Serialize>(value: &T) -> Result<AttributeValue> {
    Ok(s(serde_json::to_string(value).map_err(Error::internal)?))
}

pub fn from_doc<T: DeserializeOwned>(item: &Item) -> Result<T> {
    match item.get(DOC) {
        Some(AttributeValue::S(json)) => serde_json::from_str(json).map_err(Error::internal),
        _ => Err(Error::internal("item without a doc attribute")),
    }
}

pub fn job_item(job: &Job) -> Result<Item> {
    let (client, status, capability) = (job.client_id.as_str(), job.status.as_str(), job.capability().as_str());
    let created = format!("{}#{}", time_key(job.created_at), job.id);
    let mut item = Item::from([
        (PK.to_owned(), s(job_pk(job.id.as_str()))),
        (SK.to_owned(), s(JOB_SK)),
        (DOC.to_owned(), doc(job)?),
        (STATUS.to_owned(), s(status)),
        ("clientId".to_owned(), s(client)),
        ("capability".to_owned(), s(capability)),
        ("createdAt".to_owned(), s(job.created_at.to_rfc3339())),
        (BY_CLIENT.pk.to_owned(), s(client_jobs(client))),
        (BY_CLIENT.sk.to_owned(), s(&created)),
        (BY_CLIENT_STATUS.pk.to_owned(), s(client_status(client, status))),
        (BY_CLIENT_STATUS.sk.to_owned(), s(&created)),
        (BY_CLIENT_CAPABILITY.pk.to_owned(), s(client_capability(client, capability))),
        (BY_CLIENT_CAPABILITY.sk.to_owned(), s(&created)),
        (BY_TIME.pk.to_owned(), s(ALL_JOBS_PARTITION)),
        (BY_TIME.sk.to_owned(), s(&created)),
    ]);
    item.insert(REVISION.to_owned(), AttributeValue::N(job.revision.to_string()));
    let due = match job.status {
        JobStatus::Queued => Some((DUE_DISPATCH_PARTITION, job.dispatched_at.unwrap_or(job.created_at))),
        JobStatus::Running => job.next_poll_at.map(|at| (DUE_POLLS_PARTITION, at)),
        _ => None,
    };
    if let Some((partition, at)) = due {
        item.insert(DUE_POLLS.pk.to_owned(), s(partition));
        item.insert(DUE_POLLS.sk.to_owned(), s(format!("{}#{}", time_key(at), job.id)));
    }
    if let Some(finished) = job.finished_at {
        let expires = finished + chrono::Duration::days(FINISHED_JOB_RETENTION_DAYS);
        item.insert(EXPIRES_AT.to_owned(), AttributeValue::N(expires.timestamp().to_string()));
    }
    Ok(item)
}

/// How long a pending upload waits to be completed before its record expires.
pub const PENDING_UPLOAD_RETENTION_DAYS: i64 = 1;

/// An asset item. Outputs expire with the bucket's lifecycle rule (`output_retention`), pending
/// uploads after a day; uploaded files stay.
pub fn asset_item(asset: &Asset, output_retention: chrono::Duration) -> Result<Item> {
    let client = asset.client_id.as_str();
    let mut item = Item::from([
        (PK.to_owned(), s(asset_pk(asset.id.as_str()))),
        (SK.to_owned(), s("ASSET")),
        (DOC.to_owned(), doc(asset)?),
        ("clientId".to_owned(), s(client)),
        (BY_CLIENT.pk.to_owned(), s(client_assets(client))),
        (BY_CLIENT.sk.to_owned(), s(format!("{}#{}", time_key(asset.created_at), asset.id))),
    ]);
    let lifetime = match (asset.source, asset.status) {
        (_, AssetStatus::Pending) => Some(chrono::Duration::days(PENDING_UPLOAD_RETENTION_DAYS)),
        (AssetSource::Output, _) => Some(output_retention),
        _ => None,
    };
    if let Some(lifetime) = lifetime {
        let expires = asset.created_at + lifetime;
        item.insert(EXPIRES_AT.to_owned(), AttributeValue::N(expires.timestamp().to_string()));
    }
    Ok(item)
}

pub fn idempotency_item(record: &IdempotencyRecord) -> Result<Item> {
    Ok(Item::from([
        (PK.to_owned(), s(idempotency_pk(record.client_id.as_str(), record.key.as_str()))),
        (SK.to_owned(), s("IDEM")),
        (DOC.to_owned(), doc(record)?),
        (EXPIRES_AT.to_owned(), AttributeValue::N(record.expires_at.timestamp().to_string())),
        ("expiresAtMicros".to_owned(), AttributeValue::N(record.expires_at.timestamp_micros().to_string())),
    ]))
}

/// The primary key of an item.
pub fn key_of(pk: String, sk: &str) -> Item {
    Item::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// The attributes that position an item in an index: its table key and the index key, which is
/// what DynamoDB's `ExclusiveStartKey` needs to continue after it.
pub fn index_position(item: &Item, index: &Index) -> HashMap<String, String> {
    [PK, SK, index.pk, index.sk]
        .into_iter()
        .filter_map(|name| match item.get(name) {
            Some(AttributeValue::S(value)) => Some((name.to_owned(), value.clone())),
            _ => None,
        })
        .collect()
}

pub fn start_key(position: HashMap<String, String>) -> Item {
    position.into_iter().map(|(name, value)| (name, s(value))).collect()
}
