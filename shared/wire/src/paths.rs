//! The open API's paths that answers carry, and the way back from one.

use genrelay_core::AssetId;

/// The open API's download route of an asset.
pub fn download_path(id: &AssetId) -> String {
    format!("/api/v1/assets/{id}/download")
}

/// The asset a URL points at when it is one of our own download URLs (whatever the host), so
/// a client may pass an asset's `url` wherever URLs are accepted.
pub fn asset_of_download_url(url: &str) -> Option<AssetId> {
    let path = url::Url::parse(url).ok()?.path().to_owned();
    let id = path.strip_prefix("/api/v1/assets/")?.strip_suffix("/download")?;
    AssetId::parse(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_download_urls_name_their_asset() {
        let id = AssetId::parse("asset_01abc").unwrap();
        assert_eq!(asset_of_download_url(&format!("https://gw.example.com{}", download_path(&id))), Some(id));
        assert_eq!(asset_of_download_url("https://example.com/reference.png"), None);
        assert_eq!(asset_of_download_url("https://e.com/api/v1/assets/job_1/download"), None);
    }
}
