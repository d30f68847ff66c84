//! Webhook deliveries in the table. A delivery lives in its job's partition (`JOB#<job>` /
//! `DELIVERY#<event>`), so a job's deliveries are one Query and the job's stream filter
//! (`sk = JOB`) never sees them; while pending it carries the due-work index keys under the
//! `WEBHOOK` partition, by next attempt. A URL a receiver disabled (410) is the item
//! `WEBHOOKURL#<client>#<sha256 of the URL>` / `DISABLED`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use genrelay_core::ports::WebhookStore;
use genrelay_core::{ClientId, Error, JobId, Result, WebhookDelivery, WebhookEvent};
use sha2::{Digest, Sha256};

use crate::dynamo::DynamoStore;
use crate::errors::{sdk, service};
use crate::items::{
    DOC, DUE_POLLS, EXPIRES_AT, FINISHED_JOB_RETENTION_DAYS, Item, PK, REVISION, SK, from_doc, job_pk, s, time_key,
};

/// The due-work index partition of pending deliveries.
pub const DUE_WEBHOOKS_PARTITION: &str = "WEBHOOK";

fn delivery_key(job: &JobId, event: WebhookEvent) -> Item {
    HashMap::from([(PK.to_owned(), s(job_pk(job.as_str()))), (SK.to_owned(), s(format!("DELIVERY#{event}")))])
}

fn delivery_item(delivery: &WebhookDelivery) -> Result<Item> {
    let mut item = delivery_key(&delivery.job_id, delivery.event);
    item.insert(DOC.to_owned(), s(serde_json::to_string(delivery).map_err(Error::internal)?));
    item.insert("clientId".to_owned(), s(delivery.client_id.as_str()));
    item.insert(REVISION.to_owned(), AttributeValue::N(delivery.revision.to_string()));
    match delivery.next_attempt_at {
        Some(due) => {
            item.insert(DUE_POLLS.pk.to_owned(), s(DUE_WEBHOOKS_PARTITION));
            item.insert(DUE_POLLS.sk.to_owned(), s(format!("{}#{}", time_key(due), delivery.id)));
        }
        None => {
            // Settled: kept as long as the job is.
            let expires = delivery.updated_at + chrono::Duration::days(FINISHED_JOB_RETENTION_DAYS);
            item.insert(EXPIRES_AT.to_owned(), AttributeValue::N(expires.timestamp().to_string()));
        }
    }
    Ok(item)
}

const URL_SK: &str = "DISABLED";

fn url_pk(client: &ClientId, url: &str) -> String {
    format!("WEBHOOKURL#{}#{}", client.as_str(), hex::encode(Sha256::digest(url.as_bytes())))
}

fn url_key(client: &ClientId, url: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(url_pk(client, url))), (SK.to_owned(), s(URL_SK))])
}

impl DynamoStore {
    async fn put_delivery(&self, item: Item, condition: &str, values: &[(&str, AttributeValue)]) -> Result<bool> {
        let mut request =
            self.client.put_item().table_name(&self.table).set_item(Some(item)).condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(service("PutItem", other)),
            },
        }
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> Result<bool> {
        self.put_delivery(delivery_item(delivery)?, "attribute_not_exists(pk)", &[]).await
    }

    async fn replace_delivery(&self, current: &WebhookDelivery, next: &WebhookDelivery) -> Result<bool> {
        let values = [
            (":revision", AttributeValue::N(current.revision.to_string())),
            (":client", s(current.client_id.as_str())),
        ];
        self.put_delivery(delivery_item(next)?, "revision = :revision AND clientId = :client", &values).await
    }

    async fn delivery(&self, client: &ClientId, job: &JobId, event: WebhookEvent) -> Result<Option<WebhookDelivery>> {
        let Some(item) = self.get_item(job_pk(job.as_str()), &format!("DELIVERY#{event}")).await? else {
            return Ok(None);
        };
        let delivery: WebhookDelivery = from_doc(&item)?;
        Ok((delivery.client_id == *client).then_some(delivery))
    }

    async fn deliveries(&self, client: &ClientId, job: &JobId) -> Result<Vec<WebhookDelivery>> {
        let answer = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :delivery)")
            .expression_attribute_values(":pk", s(job_pk(job.as_str())))
            .expression_attribute_values(":delivery", s("DELIVERY#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("Query", e))?;
        let mut deliveries: Vec<WebhookDelivery> =
            answer.items.unwrap_or_default().iter().map(from_doc).collect::<Result<_>>()?;
        deliveries.retain(|d| d.client_id == *client);
        deliveries.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(deliveries)
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<WebhookDelivery>> {
        let answer = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_POLLS.name)
            .key_condition_expression("#pk = :pk AND #sk < :below")
            .expression_attribute_names("#pk", DUE_POLLS.pk)
            .expression_attribute_names("#sk", DUE_POLLS.sk)
            .expression_attribute_values(":pk", s(DUE_WEBHOOKS_PARTITION))
            .expression_attribute_values(":below", s(time_key(now + chrono::Duration::microseconds(1))))
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| sdk("Query", e))?;
        let deliveries: Vec<WebhookDelivery> =
            answer.items.unwrap_or_default().iter().map(from_doc).collect::<Result<_>>()?;
        // The index is eventually consistent: keep what is still pending and due.
        Ok(deliveries.into_iter().filter(|d| d.is_due(now)).collect())
    }

    async fn set_url_disabled(&self, client: &ClientId, url: &str, disabled: bool) -> Result<()> {
        if disabled {
            let mut item = url_key(client, url);
            item.insert("url".to_owned(), s(url));
            self.put_item(item).await?;
        } else {
            let key = url_key(client, url);
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(|e| sdk("DeleteItem", e))?;
        }
        Ok(())
    }

    async fn is_url_disabled(&self, client: &ClientId, url: &str) -> Result<bool> {
        Ok(self.get_item(url_pk(client, url), URL_SK).await?.is_some())
    }
}
