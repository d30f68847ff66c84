//! An asset: a file a job reads or writes. Uploaded and generated files live in blob storage
//! under a key scoped by client; registered URLs stay where they are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::ids::{AssetId, ClientId, JobId};

pub const ASSET_NAME_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    Image,
    Video,
    Audio,
    File,
}

impl AssetKind {
    pub const NAMES: [&'static str; 4] = ["image", "video", "audio", "file"];

    pub fn parse(raw: &str, field: &str) -> Result<Self> {
        match raw {
            "image" => Ok(Self::Image),
            "video" => Ok(Self::Video),
            "audio" => Ok(Self::Audio),
            "file" => Ok(Self::File),
            _ => Err(Error::invalid(format!(
                "{field}: {raw:?} is not allowed; expected one of {}",
                Self::NAMES.join(", ")
            ))),
        }
    }

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

/// Where an asset's bytes are in blob storage: `<client>/<asset id>/<file name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn for_asset(client: &ClientId, asset: &AssetId, file_name: &str) -> Self {
        Self(format!("{client}/{asset}/{file_name}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a key back from a signed URL. Only keys of the shape `for_asset` makes are accepted,
    /// so a key can never climb out of its client's folder.
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.split('/').collect();
        let safe = |p: &&str| !p.is_empty() && *p != "." && *p != ".." && !p.contains('\\');
        (parts.len() == 3 && parts.iter().all(safe)).then(|| Self(raw.to_owned()))
    }
}

/// A file name as a client gave it, checked: no path, no control characters, bounded length.
pub fn parse_file_name(raw: &str, field: &str) -> Result<String> {
    let bad = raw.is_empty()
        || raw.chars().count() > ASSET_NAME_MAX_CHARS
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
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_with_paths_are_rejected() {
        assert!(parse_file_name("reference.png", "files[0]").is_ok());
        for bad in ["../x.png", "a/b.png", "..", "a\\b", "x\u{0}.png", ""] {
            let err = parse_file_name(bad, "files[0]").unwrap_err();
            assert!(err.to_string().starts_with("files[0]"), "{bad:?}");
        }
    }

    #[test]
    fn blob_keys_stay_inside_their_client_folder() {
        let key = BlobKey::for_asset(
            &ClientId::parse("a").unwrap(),
            &AssetId::parse("asset_1").unwrap(),
            "x.png",
        );
        assert_eq!(BlobKey::parse(key.as_str()), Some(key));
        assert_eq!(BlobKey::parse("a/../b/x.png"), None);
        assert_eq!(BlobKey::parse("a/asset_1/x/y.png"), None);
    }
}
