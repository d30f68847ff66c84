//! Configuration documents kept in the table, as the item `CONFIG#<name>` / `CONFIG` with the
//! JSON in `doc`: the providers document (channels; its credentials are SSM references) and the
//! AI config operators change from the back office.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use genrelay_core::ports::ConfigDocuments;
use genrelay_core::{Error, Result};
use serde_json::Value;

use crate::dynamo::DynamoStore;
use crate::errors::service;
use crate::items::{DOC, Item, PK, key_of};

const CONFIG_SK: &str = "CONFIG";

fn config_pk(name: &str) -> String {
    format!("CONFIG#{name}")
}

/// The document `name` a stored item holds, if any.
fn parsed(name: &str, item: Option<&Item>) -> Result<Option<Value>> {
    let Some(text) = item.and_then(|item| item.get(DOC)).and_then(|doc| doc.as_s().ok()) else {
        return Ok(None);
    };
    serde_json::from_str(text).map(Some).map_err(|e| Error::internal(format!("the stored {name} document: {e}")))
}

#[async_trait]
impl ConfigDocuments for DynamoStore {
    async fn document(&self, name: &str) -> Result<Option<Value>> {
        parsed(name, self.get_item(config_pk(name), CONFIG_SK).await?.as_ref())
    }

    /// One BatchGetItem (strongly consistent, as `document`'s GetItem), again for any keys it
    /// leaves unprocessed.
    async fn documents(&self, names: &[&str]) -> Result<Vec<Option<Value>>> {
        let keys = names.iter().map(|name| key_of(config_pk(name), CONFIG_SK)).collect();
        let items = self.batch_get_items(keys, true).await?;
        let item_of = |name: &str| {
            let pk = AttributeValue::S(config_pk(name));
            items.iter().find(|item| item.get(PK) == Some(&pk))
        };
        names.iter().map(|name| parsed(name, item_of(name))).collect()
    }

    async fn put_document(&self, name: &str, document: &Value) -> Result<()> {
        self.put_item(document_item(name, document)).await
    }

    async fn replace_document(&self, name: &str, before: Option<&Value>, after: &Value) -> Result<bool> {
        // Documents are written from `Value`s, whose maps are ordered by key: the same document
        // is the same text.
        let request = self.client.put_item().table_name(&self.table).set_item(Some(document_item(name, after)));
        let request = match before {
            Some(before) => request
                .condition_expression("#doc = :before")
                .expression_attribute_names("#doc", DOC)
                .expression_attribute_values(":before", AttributeValue::S(before.to_string())),
            None => request.condition_expression("attribute_not_exists(pk)"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(service("PutItem", other)),
            },
        }
    }
}

fn document_item(name: &str, document: &Value) -> crate::items::Item {
    let mut item = key_of(config_pk(name), CONFIG_SK);
    item.insert(DOC.to_owned(), AttributeValue::S(document.to_string()));
    item
}

impl DynamoStore {
    /// The providers document, if one was stored.
    pub async fn providers_document(&self) -> Result<Option<Value>> {
        self.document(genrelay_core::ports::PROVIDERS_DOCUMENT).await
    }

    /// Stores the providers document (replacing the previous one).
    pub async fn put_providers_document(&self, document: &Value) -> Result<()> {
        self.put_document(genrelay_core::ports::PROVIDERS_DOCUMENT, document).await
    }
}
