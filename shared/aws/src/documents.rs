//! Configuration documents kept in the table, as the item `CONFIG#<name>` / `CONFIG` with the
//! JSON in `doc`: the providers document (channels; its credentials are SSM references).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use genrelay_core::{Error, Result};
use serde_json::Value;

use crate::dynamo::DynamoStore;
use crate::items::{DOC, Item, PK, SK, s};

const PROVIDERS: &str = "providers";

fn key(name: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(format!("CONFIG#{name}"))), (SK.to_owned(), s("CONFIG"))])
}

impl DynamoStore {
    /// The providers document, if one was stored.
    pub async fn providers_document(&self) -> Result<Option<Value>> {
        let item = self.get_item(format!("CONFIG#{PROVIDERS}"), "CONFIG").await?;
        let Some(text) = item.as_ref().and_then(|item| item.get(DOC)).and_then(|doc| doc.as_s().ok()) else {
            return Ok(None);
        };
        serde_json::from_str(text).map(Some).map_err(|e| Error::internal(format!("the stored providers document: {e}")))
    }

    /// Stores the providers document (replacing the previous one).
    pub async fn put_providers_document(&self, document: &Value) -> Result<()> {
        let mut item = key(PROVIDERS);
        item.insert(DOC.to_owned(), AttributeValue::S(document.to_string()));
        self.put_item(item).await
    }
}
