//! Pages of a key-range query and the opaque cursor that continues one.

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// One page of results, newest first, and the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

/// An opaque continuation token. Adapters put whatever position they need in it (the last key
/// read); clients only hand it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps an adapter's position as a token that is safe in a query string.
    pub fn encode<P: Serialize>(position: &P) -> Self {
        let json = serde_json::to_vec(position).expect("cursor positions serialize");
        // Hex keeps the token free of characters that need escaping in a query string.
        Self(hex::encode(json))
    }

    /// Reads a position back from a token a client sent.
    pub fn decode<P: DeserializeOwned>(&self) -> Result<P> {
        hex::decode(&self.0)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| Error::invalid("cursor: not a cursor returned by this API"))
    }

    pub fn from_client(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
