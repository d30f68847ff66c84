//! Secrets operators set from the back office (the channels' credentials): SSM SecureStrings
//! on AWS, a table of the embedded database in `genrelay-dev`. Documents only name them.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::error::Result;

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Sets the secret `name` (creating or replacing it).
    async fn put_secret(&self, name: &str, value: &str) -> Result<()>;

    /// The values of those of `names` that exist.
    async fn secrets(&self, names: &[String]) -> Result<HashMap<String, String>>;

    /// Removes the secret `name`; removing one that does not exist is not an error.
    async fn delete_secret(&self, name: &str) -> Result<()>;
}
