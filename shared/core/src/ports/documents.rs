//! Configuration documents operators change at run time (the AI config, the channels), kept in
//! the store so that every function instance reads the same.

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Result;

#[async_trait]
pub trait ConfigDocuments: Send + Sync {
    /// The document named `name`, if one was stored.
    async fn document(&self, name: &str) -> Result<Option<Value>>;

    /// The documents named `names`, in their order (`None` for one not stored), in one request
    /// where the store can: a function's init reads the providers and AI config documents so.
    async fn documents(&self, names: &[&str]) -> Result<Vec<Option<Value>>> {
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            found.push(self.document(name).await?);
        }
        Ok(found)
    }

    /// Stores the document, replacing the previous one.
    async fn put_document(&self, name: &str, document: &Value) -> Result<()>;

    /// Stores `after` only if the stored document is still `before` (`None`: none is stored),
    /// so that two operators editing at once never lose a change. Returns whether it was
    /// stored.
    async fn replace_document(&self, name: &str, before: Option<&Value>, after: &Value) -> Result<bool>;
}

/// The providers document: the channels, their credentials named as SSM references.
pub const PROVIDERS_DOCUMENT: &str = "providers";
