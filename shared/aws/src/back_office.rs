//! The back office's users (`USER#<name>` / `USER`) and failed-login counts
//! (`LOGIN#<key>` / `FAILED`, expiring through TTL) in the table.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use genrelay_core::ports::{BackOfficeStore, BackOfficeUser, FailedLogins};
use genrelay_core::{Error, Result};

use crate::dynamo::DynamoStore;
use crate::errors::{sdk, service};
use crate::items::{DOC, EXPIRES_AT, Item, from_doc, key_of, s};

const USER_SK: &str = "USER";
const FAILED_SK: &str = "FAILED";
/// How long a failed-login count is kept after its last failure.
const FAILED_LOGIN_RETENTION_DAYS: i64 = 1;
/// Rounds of a count that races with another login's.
const COUNT_ATTEMPTS: usize = 5;

fn user_pk(name: &str) -> String {
    format!("USER#{name}")
}

fn login_pk(key: &str) -> String {
    format!("LOGIN#{key}")
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|value| value.as_n().ok()).and_then(|n| n.parse().ok())
}

fn micros(time: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(time.timestamp_micros().to_string())
}

#[async_trait]
impl BackOfficeStore for DynamoStore {
    async fn user(&self, name: &str) -> Result<Option<BackOfficeUser>> {
        self.get_item(user_pk(name), USER_SK).await?.as_ref().map(from_doc).transpose()
    }

    async fn add_user(&self, user: &BackOfficeUser) -> Result<bool> {
        let mut item = key_of(user_pk(&user.name), USER_SK);
        item.insert(DOC.to_owned(), s(serde_json::to_string(user).map_err(Error::internal)?));
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(service("PutItem", other)),
            },
        }
    }

    async fn failed_logins(&self, key: &str) -> Result<Option<FailedLogins>> {
        let Some(item) = self.get_item(login_pk(key), FAILED_SK).await? else { return Ok(None) };
        let (Some(since), Some(count)) = (number(&item, "since"), number(&item, "failures")) else {
            return Ok(None);
        };
        let since = DateTime::<Utc>::from_timestamp_micros(since).unwrap_or_default();
        Ok(Some(FailedLogins { since, count: count as u32 }))
    }

    /// One more failure in a window that began after `window_start` (UpdateItem conditional on
    /// it), else a new window (PutItem conditional on there being no current one).
    async fn count_failed_login(&self, key: &str, window_start: DateTime<Utc>, now: DateTime<Utc>) -> Result<u32> {
        let expires = now + chrono::Duration::days(FAILED_LOGIN_RETENTION_DAYS);
        let expires = AttributeValue::N(expires.timestamp().to_string());
        for _ in 0..COUNT_ATTEMPTS {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_of(login_pk(key), FAILED_SK)))
                .update_expression("ADD failures :one SET #expires = :expires")
                .condition_expression("since > :start")
                .expression_attribute_names("#expires", EXPIRES_AT)
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":expires", expires.clone())
                .expression_attribute_values(":start", micros(window_start))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match counted {
                Ok(output) => {
                    let count = output.attributes.as_ref().and_then(|item| number(item, "failures")).unwrap_or(1);
                    return Ok(count as u32);
                }
                Err(error) => match error.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(_) => {}
                    other => return Err(service("UpdateItem", other)),
                },
            }
            let mut item = key_of(login_pk(key), FAILED_SK);
            item.insert("since".into(), micros(now));
            item.insert("failures".into(), AttributeValue::N("1".into()));
            item.insert(EXPIRES_AT.into(), expires.clone());
            let started = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR since <= :start")
                .expression_attribute_values(":start", micros(window_start))
                .send()
                .await;
            match started {
                Ok(_) => return Ok(1),
                Err(error) => match error.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(_) => continue,
                    other => return Err(service("PutItem", other)),
                },
            }
        }
        Err(Error::Unavailable("failed logins are being counted concurrently; try again".into()))
    }

    async fn clear_failed_logins(&self, key: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(login_pk(key), FAILED_SK)))
            .send()
            .await
            .map_err(|e| sdk("DeleteItem", e))?;
        Ok(())
    }
}
