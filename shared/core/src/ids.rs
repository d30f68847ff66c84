//! Identifiers. Job and asset ids are ULIDs with a readable prefix (`job_…`, `asset_…`), so they
//! sort by creation time; a client id is the name an operator gave an API key.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id from a ULID.
            pub fn from_ulid(ulid: ulid::Ulid) -> Self {
                Self(format!("{}{}", $prefix, ulid.to_string().to_lowercase()))
            }

            /// Parses an id received from a client. Anything that is not a well-formed id of this
            /// kind cannot name an existing resource, so it is reported as not found.
            pub fn parse(raw: &str) -> Result<Self> {
                let well_formed = raw.len() <= 64
                    && raw.starts_with($prefix)
                    && raw.len() > $prefix.len()
                    && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if well_formed {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(Error::NotFound(format!(concat!($what, " {} not found."), raw)))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(JobId, "job_", "Job");
prefixed_id!(AssetId, "asset_", "Asset");

/// The tenant an API key belongs to. Every stored item is keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Client ids come from operator configuration; they must be short and safe to use in
    /// storage keys and object paths.
    pub fn parse(raw: &str) -> Result<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && raw != "."
            && raw != "..";
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(format!(
                "client id {raw:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_reject_foreign_shapes() {
        let id = JobId::from_ulid(ulid::Ulid::nil());
        assert!(id.as_str().starts_with("job_"));
        assert_eq!(JobId::parse(id.as_str()).unwrap(), id);
        assert!(matches!(JobId::parse("asset_01"), Err(Error::NotFound(_))));
        assert!(matches!(JobId::parse("job_../../etc"), Err(Error::NotFound(_))));
        assert!(matches!(AssetId::parse("asset_"), Err(Error::NotFound(_))));
    }

    #[test]
    fn client_ids_are_safe_for_storage_keys() {
        assert!(ClientId::parse("partner-a").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a/b").is_err());
        assert!(ClientId::parse("..").is_err());
    }
}
