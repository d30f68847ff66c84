//! Configuration documents operators change at run time (the AI config), kept in the store so
//! that every function instance reads the same.

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Result;

#[async_trait]
pub trait ConfigDocuments: Send + Sync {
    /// The document named `name`, if one was stored.
    async fn document(&self, name: &str) -> Result<Option<Value>>;

    /// Stores the document, replacing the previous one.
    async fn put_document(&self, name: &str, document: &Value) -> Result<()>;
}
