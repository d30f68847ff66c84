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
use crate::items::{DOC, key_of};

const CONFIG_SK: &str = "CONFIG";

fn config_pk(name: &str) -> String {
    format!("CONFIG#{name}")
}

#[async_trait]
impl ConfigDocuments for DynamoStore {
    async fn document(&self, name: &str) -> Result<Option<Value>> {
        let item = self.get_item(config_pk(name), CONFIG_SK).await?;
        let Some(text) = item.as_ref().and_then(|item| item.get(DOC)).and_then(|doc| doc.as_s().ok()) else {
            return Ok(None);
        };
        serde_json::from_str(text).map(Some).map_err(|e| Error::internal(format!("the stored {name} document: {e}")))
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
