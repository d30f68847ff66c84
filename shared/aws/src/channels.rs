//! The channel ledger in the table. A channel's slots are one item, `CHANNEL#<name>` / `SLOTS`,
//! holding a map of job id → lease end (epoch microseconds) and a `version`: taking a slot reads
//! the item, drops ended leases, and writes it back on condition that `version` is unchanged
//! (optimistic concurrency, retried on a lost race). A cooldown is the item `CHANNEL#<name>` /
//! `COOLDOWN` with its end in `until`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use genrelay_core::ports::ChannelLedger;
use genrelay_core::{Error, JobId, Result};

use crate::dynamo::DynamoStore;
use crate::errors::service;
use crate::items::{Item, PK, SK, s};

const SLOTS: &str = "SLOTS";
const COOLDOWN: &str = "COOLDOWN";
/// Attempts of a slot write that loses its race to another writer.
const SLOT_ATTEMPTS: u32 = 8;

fn channel_pk(channel: &str) -> String {
    format!("CHANNEL#{channel}")
}

fn key(channel: &str, sort: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(channel_pk(channel))), (SK.to_owned(), s(sort))])
}

fn number(value: Option<&AttributeValue>) -> i64 {
    value.and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[async_trait]
impl ChannelLedger for DynamoStore {
    async fn take_slot(
        &self,
        channel: &str,
        job: &JobId,
        limit: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        for _ in 0..SLOT_ATTEMPTS {
            let stored = self.get_item(channel_pk(channel), SLOTS).await?;
            let version = number(stored.as_ref().and_then(|item| item.get("version")));
            let mut slots: HashMap<String, AttributeValue> = stored
                .as_ref()
                .and_then(|item| item.get("slots"))
                .and_then(|slots| slots.as_m().ok())
                .cloned()
                .unwrap_or_default();
            slots.retain(|_, lease| number(Some(lease)) > now.timestamp_micros());
            let held = slots.remove(job.as_str()).is_some();
            if !held && slots.len() >= limit as usize {
                return Ok(false);
            }
            slots.insert(job.as_str().to_owned(), AttributeValue::N(lease_until.timestamp_micros().to_string()));
            let mut item = key(channel, SLOTS);
            item.insert("slots".into(), AttributeValue::M(slots));
            item.insert("version".into(), AttributeValue::N((version + 1).to_string()));
            let write = self.client.put_item().table_name(&self.table).set_item(Some(item));
            let write = match stored {
                None => write.condition_expression("attribute_not_exists(pk)"),
                Some(_) => write
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
            };
            match write.send().await {
                Ok(_) => return Ok(true),
                Err(error) => match error.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(_) => continue,
                    other => return Err(service("PutItem", other)),
                },
            }
        }
        Err(Error::Unavailable(format!("the slots of channel {channel} are contended; try again")))
    }

    async fn release_slot(&self, channel: &str, job: &JobId) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(channel, SLOTS)))
            .update_expression("REMOVE slots.#job ADD version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#job", job.as_str())
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(()), // no slot was ever taken
                other => Err(service("UpdateItem", other)),
            },
        }
    }

    async fn slots_in_use(&self, channel: &str, now: DateTime<Utc>) -> Result<u32> {
        let stored = self.get_item(channel_pk(channel), SLOTS).await?;
        let slots = stored.as_ref().and_then(|item| item.get("slots")).and_then(|slots| slots.as_m().ok());
        let held = slots.into_iter().flatten().filter(|(_, lease)| number(Some(lease)) > now.timestamp_micros());
        Ok(held.count() as u32)
    }

    async fn cool_down(&self, channel: &str, until: DateTime<Utc>, reason: &str) -> Result<()> {
        let mut item = key(channel, COOLDOWN);
        item.insert("until".into(), AttributeValue::N(until.timestamp_micros().to_string()));
        item.insert("reason".into(), AttributeValue::S(reason.to_owned()));
        self.put_item(item).await
    }

    async fn cooling(&self, channels: &[&str], now: DateTime<Utc>) -> Result<HashMap<String, String>> {
        let mut cooling = HashMap::new();
        // BatchGetItem takes up to 100 keys.
        for group in channels.chunks(100) {
            let keys = group.iter().map(|channel| key(channel, COOLDOWN)).collect();
            for item in self.batch_get_items(keys, false).await? {
                let channel = item.get(PK).and_then(|pk| pk.as_s().ok()).and_then(|pk| pk.strip_prefix("CHANNEL#"));
                if let Some(channel) = channel.filter(|_| number(item.get("until")) > now.timestamp_micros()) {
                    let reason = item.get("reason").and_then(|r| r.as_s().ok()).cloned().unwrap_or_default();
                    cooling.insert(channel.to_owned(), reason);
                }
            }
        }
        Ok(cooling)
    }
}
