//! Idempotency keys: the same client, key and body give back the same job; the same key with
//! another body is a conflict. Records expire after `IDEMPOTENCY_TTL_HOURS`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ids::{ClientId, JobId};

pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > IDEMPOTENCY_KEY_MAX_CHARS || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(format!(
                "Idempotency-Key: must be 1-{IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a request body in canonical form (object keys sorted, no insignificant
/// whitespace), so bodies that differ only in formatting count as the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestFingerprint(String);

impl RequestFingerprint {
    pub fn of_json(body: &serde_json::Value) -> Self {
        let mut hasher = Sha256::new();
        write_canonical(body, &mut hasher);
        Self(hex::encode(hasher.finalize()))
    }

    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Feeds `value` to the hasher with object keys sorted, whatever order the map keeps them in.
fn write_canonical(value: &serde_json::Value, hasher: &mut Sha256) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::to_string(key).expect("a string serializes").as_bytes());
                hasher.update(b":");
                write_canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                write_canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pub client_id: ClientId,
    pub key: IdempotencyKey,
    pub fingerprint: RequestFingerprint,
    pub job_id: JobId,
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_ignore_key_order_and_whitespace() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).unwrap();
        assert_eq!(RequestFingerprint::of_json(&a), RequestFingerprint::of_json(&b));
        assert_ne!(RequestFingerprint::of_json(&a), RequestFingerprint::of_json(&json!({"a": 2})));
    }

    #[test]
    fn keys_are_bounded_printable_ascii() {
        assert!(IdempotencyKey::parse("demo-job-001").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("with space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
