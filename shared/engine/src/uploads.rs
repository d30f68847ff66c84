//! Presigned uploads, for files too large to pass through the API: the client asks for an
//! upload URL, PUTs the bytes straight to blob storage, then completes the upload, which checks
//! the file is there and records its size, type and checksum.

use chrono::{DateTime, Utc};
use genrelay_core::asset::parse_file_name;
use genrelay_core::{Asset, AssetId, AssetKind, AssetSource, AssetStatus, BlobKey, ClientId, Error, Result};

use crate::assets::{checked_content_type, guess_type};
use crate::{Engine, span};

/// A file a client is about to upload.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub name: String,
    pub content_type: Option<String>,
    pub kind: Option<AssetKind>,
}

/// Where to PUT the file of a pending asset, and until when.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub asset: Asset,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

impl Engine {
    /// Records a pending asset and returns a presigned URL to upload its file to.
    pub async fn start_upload(&self, client: &ClientId, upload: NewUpload) -> Result<UploadTicket> {
        let name = parse_file_name(&upload.name, "name")?;
        let content_type =
            upload.content_type.or_else(|| guess_type(&name)).unwrap_or_else(|| "application/octet-stream".to_owned());
        let now = self.deps.clock.now();
        let id = self.deps.ids.asset_id();
        let key = BlobKey::for_asset(AssetSource::Upload, client, &id, &name);
        let asset = Asset {
            kind: upload.kind.unwrap_or_else(|| AssetKind::of_content_type(&content_type)),
            source: AssetSource::Upload,
            size: None,
            sha256: None,
            url: None,
            blob_key: Some(key.clone()),
            job_id: None,
            status: AssetStatus::Pending,
            created_at: now,
            id,
            client_id: client.clone(),
            name,
            content_type: content_type.clone(),
        };
        let ttl = self.settings().presign_ttl;
        let presigned = self.deps.blobs.presign_put(&key, &content_type, ttl).await?;
        self.deps.assets.insert(std::slice::from_ref(&asset)).await?;
        Ok(UploadTicket { asset, url: presigned.url, headers: presigned.headers, expires_at: now + span(ttl) })
    }

    /// Checks that the file of a pending asset was uploaded and records what it is. Completing
    /// an asset that is already complete answers it as it is.
    pub async fn complete_upload(&self, client: &ClientId, id: &AssetId) -> Result<Asset> {
        let mut asset = self.asset(client, id).await?;
        if asset.is_ready() {
            return Ok(asset);
        }
        let key = asset.blob_key.clone().ok_or_else(|| Error::internal(format!("pending asset {id} has no key")))?;
        let Some(stored) = self.deps.blobs.describe(&key).await? else {
            return Err(Error::Conflict(format!(
                "Asset {id} has no file yet: PUT it to the uploadUrl first, then complete the upload."
            )));
        };
        let checked = checked_content_type(&asset.name, Some(&asset.content_type), &stored.head, "file");
        let content_type = match checked {
            Ok(content_type) => content_type,
            Err(error) => {
                // Remove the bad file so the client can upload again to the same URL.
                self.deps.blobs.delete(&key).await?;
                return Err(error);
            }
        };
        asset.kind = AssetKind::of_content_type(&content_type);
        asset.content_type = content_type;
        asset.size = Some(stored.size);
        asset.sha256 = Some(stored.sha256);
        asset.status = AssetStatus::Ready;
        self.deps.assets.update(&asset).await?;
        Ok(asset)
    }
}
