//! Where asset records are kept (their bytes are in the blob store).

use async_trait::async_trait;

use crate::asset::Asset;
use crate::error::Result;
use crate::ids::{AssetId, ClientId};
use crate::page::{Cursor, Page};

#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

#[async_trait]
pub trait AssetStore: Send + Sync {
    /// Writes new assets, all or none; fails with `Conflict` if an id exists.
    async fn insert(&self, assets: &[Asset]) -> Result<()>;

    /// Replaces an existing asset record (a completed upload).
    async fn update(&self, asset: &Asset) -> Result<()>;

    /// Removes asset records (those that exist); used to undo a write that lost a race.
    async fn delete(&self, assets: &[Asset]) -> Result<()>;

    /// The asset, if it exists and belongs to `client`.
    async fn get(&self, client: &ClientId, id: &AssetId) -> Result<Option<Asset>>;

    /// A client's assets, newest first.
    async fn list(&self, client: &ClientId, query: &AssetQuery) -> Result<Page<Asset>>;
}
