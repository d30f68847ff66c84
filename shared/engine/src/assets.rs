//! Assets as clients see them: upload files, register URLs, read, list, download.

use genrelay_core::asset::parse_file_name;
use genrelay_core::ports::AssetQuery;
use genrelay_core::{Asset, AssetId, AssetKind, AssetSource, AssetStatus, BlobKey, ClientId, Error, Page, Result};
use sha2::{Digest, Sha256};

use crate::Engine;

/// A file received from a client.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub name: String,
    /// The type the client declared, if any.
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// An external URL a client registers as an asset.
#[derive(Debug, Clone)]
pub struct UrlAsset {
    pub url: String,
    pub name: String,
    pub kind: AssetKind,
}

impl Engine {
    /// Stores files as assets, all or none: every file is checked before anything is written,
    /// and blobs already written are removed if a later write fails.
    pub async fn upload(&self, client: &ClientId, files: Vec<NewFile>) -> Result<Vec<Asset>> {
        if files.is_empty() {
            return Err(Error::invalid("files: at least one file is required"));
        }
        let now = self.deps.clock.now();
        let mut staged = Vec::with_capacity(files.len());
        for (i, file) in files.into_iter().enumerate() {
            let field = format!("files[{i}]");
            let name = parse_file_name(&file.name, &field)?;
            let content_type = checked_content_type(&file.name, file.content_type.as_deref(), &file.bytes, &field)?;
            let id = self.deps.ids.asset_id();
            let key = BlobKey::for_asset(AssetSource::Upload, client, &id, &name);
            let asset = Asset {
                kind: AssetKind::of_content_type(&content_type),
                source: AssetSource::Upload,
                size: Some(file.bytes.len() as u64),
                sha256: Some(hex::encode(Sha256::digest(&file.bytes))),
                url: None,
                blob_key: Some(key),
                job_id: None,
                status: AssetStatus::Ready,
                created_at: now,
                id,
                client_id: client.clone(),
                name,
                content_type,
            };
            staged.push((asset, file.bytes));
        }
        self.store_files(staged).await
    }

    /// Writes blobs then the asset records; on any failure removes the blobs it wrote.
    pub(crate) async fn store_files(&self, staged: Vec<(Asset, Vec<u8>)>) -> Result<Vec<Asset>> {
        let mut written: Vec<BlobKey> = Vec::new();
        let mut assets = Vec::with_capacity(staged.len());
        let mut result = Ok(());
        for (asset, bytes) in staged {
            let key = asset.blob_key.clone().expect("stored files have a blob key");
            result = self.deps.blobs.put(&key, bytes, &asset.content_type).await;
            if result.is_err() {
                break;
            }
            written.push(key);
            assets.push(asset);
        }
        if result.is_ok() {
            result = self.deps.assets.insert(&assets).await;
        }
        if let Err(error) = result {
            self.remove_blobs(&written).await;
            return Err(error);
        }
        Ok(assets)
    }

    /// Undoes `store_files`: removes the records, then the blobs. Failures are logged: what is
    /// left is unreachable (no job refers to it) and expires with the bucket's lifecycle.
    pub(crate) async fn remove_assets(&self, assets: &[Asset]) {
        if let Err(error) = self.deps.assets.delete(assets).await {
            tracing::warn!(error = %error.chain(), "orphan asset records left behind");
        }
        let keys: Vec<BlobKey> = assets.iter().filter_map(|a| a.blob_key.clone()).collect();
        self.remove_blobs(&keys).await;
    }

    pub(crate) async fn remove_blobs(&self, keys: &[BlobKey]) {
        for key in keys {
            if let Err(error) = self.deps.blobs.delete(key).await {
                tracing::warn!(key = key.as_str(), error = %error.chain(), "orphan blob left behind");
            }
        }
    }

    pub async fn register_url(&self, client: &ClientId, request: UrlAsset) -> Result<Asset> {
        let name = parse_file_name(&request.name, "name")?;
        let content_type = guess_type(&name).unwrap_or_else(|| "application/octet-stream".to_owned());
        let asset = Asset {
            id: self.deps.ids.asset_id(),
            client_id: client.clone(),
            kind: request.kind,
            source: AssetSource::Url,
            name,
            content_type,
            size: None,
            sha256: None,
            url: Some(request.url),
            blob_key: None,
            job_id: None,
            status: AssetStatus::Ready,
            created_at: self.deps.clock.now(),
        };
        self.deps.assets.insert(std::slice::from_ref(&asset)).await?;
        Ok(asset)
    }

    pub async fn asset(&self, client: &ClientId, id: &AssetId) -> Result<Asset> {
        self.deps.assets.get(client, id).await?.ok_or_else(|| Error::NotFound(format!("Asset {id} not found.")))
    }

    pub async fn assets(&self, client: &ClientId, query: &AssetQuery) -> Result<Page<Asset>> {
        self.deps.assets.list(client, query).await
    }

    /// Where to download an asset: a signed, expiring URL (or the registered URL).
    pub async fn download_url(&self, client: &ClientId, id: &AssetId) -> Result<String> {
        let asset = self.asset(client, id).await?;
        self.fetchable_url(&asset).await
    }

    /// A URL that serves the asset's bytes: a signed, expiring URL for stored files, the
    /// registered URL otherwise.
    pub(crate) async fn fetchable_url(&self, asset: &Asset) -> Result<String> {
        if !asset.is_ready() {
            return Err(Error::Conflict(format!("Asset {} has no file yet: its upload was not completed.", asset.id)));
        }
        match (&asset.blob_key, &asset.url) {
            (Some(key), _) => {
                let ttl = self.settings().presign_ttl;
                self.deps.blobs.presign_get(key, &asset.content_type, &asset.name, ttl).await
            }
            (None, Some(url)) => Ok(url.clone()),
            (None, None) => Err(Error::internal(format!("asset {} has neither blob nor URL", asset.id))),
        }
    }
}

/// The content type of a file, from its first bytes when they are recognisable. A file
/// declared (or named) as an image, video or audio must really be one.
pub(crate) fn checked_content_type(name: &str, declared: Option<&str>, head: &[u8], field: &str) -> Result<String> {
    if head.is_empty() {
        return Err(Error::invalid(format!("{field}: the file is empty")));
    }
    let sniffed = infer::get(head).map(|t| t.mime_type().to_owned());
    let declared =
        declared.filter(|t| *t != "application/octet-stream").map(str::to_owned).or_else(|| guess_type(name));
    match (declared, sniffed) {
        (Some(declared), sniffed) if is_media(&declared) => match sniffed {
            Some(sniffed) if same_family(&declared, &sniffed) => Ok(sniffed),
            _ => Err(Error::invalid(format!(
                "{field}: declared as {declared} but the content is not a {} file",
                family(&declared)
            ))),
        },
        (_, Some(sniffed)) => Ok(sniffed),
        (Some(declared), None) => Ok(declared),
        (None, None) => Ok("application/octet-stream".to_owned()),
    }
}

fn family(mime: &str) -> &str {
    mime.split('/').next().unwrap_or("")
}

fn is_media(mime: &str) -> bool {
    matches!(family(mime), "image" | "video" | "audio")
}

fn same_family(a: &str, b: &str) -> bool {
    family(a) == family(b)
}

pub(crate) fn guess_type(name: &str) -> Option<String> {
    mime_guess::from_path(name).first().map(|mime| mime.essence_str().to_owned())
}
