//! An asset: a file a job reads or writes. Uploaded and generated files live in blob storage
//! under a key scoped by client; registered URLs stay where they are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{Error, Result};
use crate::ids::{AssetId, ClientId, JobId};

pub const ASSET_NAME_MAX_CHARS: usize = 200;
const ASSET_NAME_MAX_BYTES: usize = 255;

named_values!(
    /// What an asset holds.
    AssetKind { Image = "image", Video = "video", Audio = "audio", File = "file" }
);

impl AssetKind {
    /// The kind a MIME type belongs to.
    pub fn of_content_type(content_type: &str) -> Self {
        match content_type.split('/').next() {
            Some("image") => Self::Image,
            Some("video") => Self::Video,
            Some("audio") => Self::Audio,
            _ => Self::File,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetSource {
    /// Uploaded by the client; the bytes are in blob storage.
    Upload,
    /// An external URL the client registered; nothing is stored.
    Url,
    /// Produced by a job; the bytes are in blob storage.
    Output,
}

/// Where an asset's bytes are in blob storage: `<area>/<client>/<asset id>/original.<ext>`,
/// with area `uploads` or `outputs` (so storage lifecycle rules can tell them apart). The file
/// name a client gave stays in the asset's metadata: it may be long or non-ASCII, which object
/// and file names handle badly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobKey(String);

impl BlobKey {
    const AREAS: [&'static str; 2] = ["uploads", "outputs"];

    pub fn for_asset(source: AssetSource, client: &ClientId, asset: &AssetId, file_name: &str) -> Self {
        let area = match source {
            AssetSource::Output => "outputs",
            AssetSource::Upload | AssetSource::Url => "uploads",
        };
        let extension = file_name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .filter(|ext| (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "bin".to_owned());
        Self(format!("{area}/{client}/{asset}/original.{extension}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a key back from a signed URL. Only keys of the shape `for_asset` makes are accepted,
    /// so a key can never climb out of its client's folder.
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.split('/').collect();
        let safe = |p: &&str| !p.is_empty() && *p != "." && *p != ".." && !p.contains('\\');
        let shaped = parts.len() == 4 && Self::AREAS.contains(&parts[0]) && parts.iter().all(safe);
        shaped.then(|| Self(raw.to_owned()))
    }
}

/// A file name as a client gave it, checked: no path, no control characters, bounded length.
pub fn parse_file_name(raw: &str, field: &str) -> Result<String> {
    let bad = raw.is_empty()
        || raw.chars().count() > ASSET_NAME_MAX_CHARS
        || raw.len() > ASSET_NAME_MAX_BYTES
        || raw == "."
        || raw == ".."
        || raw.contains(['/', '\\'])
        || raw.chars().any(char::is_control);
    if bad {
        return Err(Error::invalid(format!(
            "{field}: file name {raw:?} is not allowed (no paths, no control characters, \
             1-{ASSET_NAME_MAX_CHARS} characters)"
        )));
    }
    Ok(raw.to_owned())
}

/// Characters escaped in an RFC 5987 `filename*` value: all but the unreserved ones.
const FILENAME_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The `Content-Disposition` a download is served with: images, video and audio display inline;
/// anything else is an attachment, so an uploaded HTML page never renders on our origin.
pub fn content_disposition(content_type: &str, file_name: &str) -> String {
    let disposition = match AssetKind::of_content_type(content_type) {
        AssetKind::File => "attachment",
        _ => "inline",
    };
    format!("{disposition}; filename*=UTF-8''{}", utf8_percent_encode(file_name, FILENAME_VALUE))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub id: AssetId,
    pub client_id: ClientId,
    pub kind: AssetKind,
    pub source: AssetSource,
    pub name: String,
    pub content_type: String,
    /// Size in bytes and SHA-256 (hex) of stored files; unknown for registered URLs.
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// The registered URL (source `url`) or the blob key (stored files).
    pub url: Option<String>,
    pub blob_key: Option<BlobKey>,
    /// The job that produced it (source `output`).
    pub job_id: Option<JobId>,
    /// `pending` between a presigned upload's start and its completion.
    #[serde(default = "ready")]
    pub status: AssetStatus,
    pub created_at: DateTime<Utc>,
}

named_values!(
    /// Whether an asset's bytes are there.
    AssetStatus { Ready = "ready", Pending = "pending" }
);

fn ready() -> AssetStatus {
    AssetStatus::Ready
}

impl Asset {
    /// The asset can be read: its bytes were stored, or it is a registered URL.
    pub fn is_ready(&self) -> bool {
        self.status == AssetStatus::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_with_paths_are_rejected() {
        assert!(parse_file_name("reference.png", "files[0]").is_ok());
        let long = "图".repeat(90);
        for bad in ["../x.png", "a/b.png", "..", "a\\b", "x\u{0}.png", "", long.as_str()] {
            let err = parse_file_name(bad, "files[0]").unwrap_err();
            assert!(err.to_string().starts_with("files[0]"), "{bad:?}");
        }
    }

    #[test]
    fn blob_keys_stay_inside_their_client_folder() {
        let client = ClientId::parse("a").unwrap();
        let asset = AssetId::parse("asset_1").unwrap();
        let key = BlobKey::for_asset(AssetSource::Upload, &client, &asset, "参考图.PNG");
        assert_eq!(key.as_str(), "uploads/a/asset_1/original.png");
        assert_eq!(BlobKey::parse(key.as_str()), Some(key));
        assert_eq!(
            BlobKey::for_asset(AssetSource::Output, &client, &asset, "notes").as_str(),
            "outputs/a/asset_1/original.bin"
        );
        assert_eq!(BlobKey::parse("uploads/a/../x.png"), None);
        assert_eq!(BlobKey::parse("uploads/a/asset_1/x/y.png"), None);
        assert_eq!(BlobKey::parse("secrets/a/asset_1/x.png"), None);
    }
}

#[cfg(test)]
mod disposition_tests {
    use super::content_disposition;

    #[test]
    fn only_media_is_served_inline() {
        assert_eq!(content_disposition("image/png", "a b.png"), "inline; filename*=UTF-8''a%20b.png");
        assert!(content_disposition("text/html", "x.html").starts_with("attachment;"));
    }
}
