//! API keys: `ZHINIAN_API_KEYS=clientId:key,...`, presented as `Authorization: Bearer <key>` or
//! `X-Zhinian-Api-Key: <key>`. Keys are kept only as SHA-256 digests and compared in constant
//! time; a request without a valid key is 401 whatever else is wrong with it.

use genrelay_core::ClientId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const API_KEY_HEADER: &str = "x-zhinian-api-key";

pub struct ApiKeys {
    entries: Vec<(ClientId, [u8; 32])>,
}

impl ApiKeys {
    /// Parses `clientId:key,clientId:key`. Errors never repeat a key.
    pub fn parse(spec: &str) -> Result<Self, KeyListError> {
        let mut entries = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let entry_number = i + 1;
            let (client, key) = entry.split_once(':').ok_or(KeyListError::NoSeparator(entry_number))?;
            let client =
                ClientId::parse(client.trim()).map_err(|error| KeyListError::BadClient(entry_number, error))?;
            if key.trim().is_empty() {
                return Err(KeyListError::EmptyKey(entry_number, client));
            }
            let digest = digest(key.trim());
            if entries.iter().any(|(_, existing)| *existing == digest) {
                return Err(KeyListError::RepeatedKey(entry_number, client));
            }
            entries.push((client, digest));
        }
        if entries.is_empty() {
            return Err(KeyListError::Empty);
        }
        Ok(Self { entries })
    }

    /// The client whose key this is. Every entry is compared, so timing reveals nothing.
    pub fn authenticate(&self, presented: &str) -> Option<ClientId> {
        let presented = digest(presented);
        let mut found = None;
        for (client, key) in &self.entries {
            if bool::from(key.ct_eq(&presented)) {
                found = Some(client.clone());
            }
        }
        found
    }
}

/// Why a key list was refused: never the key itself.
#[derive(Debug, thiserror::Error)]
pub enum KeyListError {
    #[error("entry {0} has no ':' between client id and key")]
    NoSeparator(usize),
    #[error("entry {0}: {1}")]
    BadClient(usize, genrelay_core::Error),
    #[error("entry {0} ({1}) has an empty key")]
    EmptyKey(usize, ClientId),
    #[error("entry {0} ({1}) repeats a key given to an earlier client")]
    RepeatedKey(usize, ClientId),
    #[error("no keys given")]
    Empty,
}

/// Shows the client ids only, never a key digest.
impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(client, _)| client.as_str())).finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The client whose key the request carries (`Authorization: Bearer <key>` or
/// `X-Zhinian-Api-Key: <key>`), recorded on the request's span. Every surface authenticates so.
pub(crate) fn client_of(headers: &axum::http::HeaderMap, keys: &ApiKeys) -> Option<ClientId> {
    // Every key the request presents is tried: a client of another API may already send an
    // `Authorization` header of its own (seed 002's session id) beside genrelay's key.
    let header_keys = headers.get_all(API_KEY_HEADER).iter().filter_map(|v| v.to_str().ok()).map(str::trim);
    let bearer_keys = headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    let client = header_keys.chain(bearer_keys).find_map(|key| keys.authenticate(key))?;
    tracing::Span::current().record("client_id", client.as_str());
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_client() {
        let keys = ApiKeys::parse("partner-a:key-a, partner-b:key-b").unwrap();
        assert_eq!(keys.authenticate("key-b").unwrap().as_str(), "partner-b");
        assert!(keys.authenticate("key-c").is_none());
        assert!(keys.authenticate("").is_none());
    }

    #[test]
    fn malformed_key_lists_are_refused_without_echoing_keys() {
        let error = ApiKeys::parse("partner-a:secret-1,broken").unwrap_err().to_string();
        assert!(error.contains("entry 2"));
        assert!(!error.contains("secret-1"));
        assert!(ApiKeys::parse("").is_err());
        assert!(ApiKeys::parse("a:").is_err());
        assert!(ApiKeys::parse("a:same,b:same").unwrap_err().to_string().contains("repeats"));
    }
}
