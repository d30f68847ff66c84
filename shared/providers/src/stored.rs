//! The channels operators edit from the back office: the providers document in the store (the
//! configuration document `providers`), its credentials in the secret store (SSM SecureStrings
//! on AWS), each named from the document as `{"ssmParameter": "<path>/<channel>/<field>"}`.
//! Every instance reads them again within a minute of a change (as a [`ChannelSource`]).
//!
//! Credentials are write-only: they are shown as [`MASK`], and a blank (or the mask itself)
//! keeps the stored one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use genrelay_core::ports::{ChannelSet, ChannelSource, ConfigDocuments, PROVIDERS_DOCUMENT, SecretStore};
use genrelay_core::{Error, Result};
use genrelay_egress::Egress;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::{CREDENTIAL_FIELDS, ProvidersConfig, ssm_references, with_secrets};

/// What a credential is shown as.
pub const MASK: &str = "••••••••";
/// Tries of a change that raced another operator's.
const EDIT_ATTEMPTS: usize = 3;

/// What a connection test found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub channel: String,
    /// Whether the upstream answered and took the channel's credentials.
    pub accepted: bool,
    /// Its HTTP status, when it answered.
    pub status: Option<u16>,
    /// What it answered (shortened, credentials blanked out), or why it could not be reached.
    pub answer: String,
    pub latency_ms: u64,
}

#[derive(Clone)]
pub struct StoredChannels {
    documents: Arc<dyn ConfigDocuments>,
    secrets: Arc<dyn SecretStore>,
    /// Where the credentials of channels added here are kept (`/genrelay/channels`).
    secrets_path: String,
    egress: Egress,
    credentials: Credentials,
}

/// Whether channels are built with their credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Credentials {
    Read,
    /// Not read: the channels are only listed (what they serve), never called.
    Unread,
}

/// What a credential holds in channels that are only listed.
const UNREAD: &str = "(not read: listed only)";

impl StoredChannels {
    pub fn new(
        documents: Arc<dyn ConfigDocuments>,
        secrets: Arc<dyn SecretStore>,
        secrets_path: &str,
        egress: Egress,
    ) -> Self {
        Self {
            documents,
            secrets,
            secrets_path: secrets_path.trim_end_matches('/').to_owned(),
            egress,
            credentials: Credentials::Read,
        }
    }

    /// These channels, loaded without reading their credentials: for listing what they serve
    /// (the capability list), never for calling them.
    pub fn listed_only(mut self) -> Self {
        self.credentials = Credentials::Unread;
        self
    }

    /// Each stored channel's settings, in the document's order, credentials masked.
    pub async fn list(&self) -> Result<Vec<Value>> {
        let document = self.document().await?.unwrap_or_else(empty);
        Ok(channels_of(&document).iter().map(masked).collect())
    }

    /// One stored channel's settings, credentials masked.
    pub async fn get(&self, name: &str) -> Result<Value> {
        let document = self.document().await?.unwrap_or_else(empty);
        find(&document, name).map(masked).ok_or_else(|| not_found(name))
    }

    /// Adds a channel (its settings as in a providers file, credentials in plain text).
    pub async fn add(&self, channel: Value) -> Result<Value> {
        let name = channel_name(&channel)?;
        self.edit(
            &name,
            |document, name| {
                if find(document, name).is_some() {
                    return Err(Error::Conflict(format!("channel {name:?} already exists")));
                }
                Ok(None)
            },
            channel,
        )
        .await
    }

    /// Replaces a channel's settings; credentials left blank (or masked) are kept. Its name and
    /// type cannot change: jobs in flight are polled through the channel that took them.
    pub async fn replace(&self, name: &str, channel: Value) -> Result<Value> {
        match channel.get("name") {
            Some(given) if given != name => {
                return Err(Error::invalid(format!("name: a channel cannot be renamed (it is {name:?})")));
            }
            _ => {}
        }
        let mut channel = channel;
        if let Some(object) = channel.as_object_mut() {
            object.insert("name".into(), Value::from(name));
        }
        let kind = channel.get("type").cloned();
        self.edit(
            name,
            |document, name| {
                let old = find(document, name).ok_or_else(|| not_found(name))?;
                if old.get("type") != kind.as_ref() {
                    // Jobs in flight are polled through the channel of the type that took them.
                    return Err(Error::invalid(format!(
                        "type: a channel's type cannot change (it is {})",
                        old["type"]
                    )));
                }
                Ok(Some(old.clone()))
            },
            channel,
        )
        .await
    }

    /// Removes a disabled channel and its credentials. An enabled one is refused: disable it
    /// first, so it takes no new jobs, and remove it once its jobs ended (a job whose channel
    /// is gone fails when next polled).
    pub async fn remove(&self, name: &str) -> Result<()> {
        for _ in 0..EDIT_ATTEMPTS {
            let before = self.document().await?;
            let mut document = before.clone().unwrap_or_else(empty);
            let old = find(&document, name).cloned().ok_or_else(|| not_found(name))?;
            if old.get("enabled") != Some(&Value::Bool(false)) {
                return Err(Error::Conflict(format!(
                    "channel {name:?} is enabled: disable it first, and remove it once its jobs have ended"
                )));
            }
            channels_mut(&mut document).retain(|channel| channel["name"] != name);
            bump(&mut document);
            if self.documents.replace_document(PROVIDERS_DOCUMENT, before.as_ref(), &document).await? {
                self.forget(&ssm_references(&old), &ssm_references(&document)).await;
                return Ok(());
            }
        }
        Err(raced())
    }

    /// Reaches the channel's upstream with its credentials and reports what it answered.
    pub async fn probe(&self, name: &str) -> Result<ProbeReport> {
        let document = self.document().await?.unwrap_or_else(empty);
        let channel = find(&document, name).ok_or_else(|| not_found(name))?;
        let resolved = self.resolved(json!({"channels": [channel]})).await?;
        let config = ProvidersConfig::from_document(resolved, "the stored channel")?;
        let channel = config.channels[0].channel(&self.egress)?;
        let started = Instant::now();
        let answered = channel.provider.probe().await;
        let latency_ms = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
        let (accepted, status, answer) = match answered {
            Ok(answer) => (answer.accepted, answer.status, answer.answer),
            Err(error) => (false, None, error.client_reason()),
        };
        tracing::info!(channel = name, accepted, status, latency_ms, "channel connection tested");
        Ok(ProbeReport { channel: name.to_owned(), accepted, status, answer, latency_ms })
    }

    /// Stores a providers file's channels in place of those stored (`genrelay-dev
    /// --providers`): checked first; its credentials move into the secret store.
    pub async fn import(&self, file: Value, origin: &str) -> Result<usize> {
        let config = ProvidersConfig::from_document(file.clone(), origin)?;
        config.channels(&self.egress)?;
        let before = self.document().await?;
        let mut document = json!({"channels": []});
        for mut channel in channels_of(&file).iter().cloned() {
            let name = channel_name(&channel)?;
            for (field, value) in credentials(&channel) {
                let secret = self.secret_name(&name, field);
                self.secrets.put_secret(&secret, &value).await?;
                channel[field] = reference(&secret);
            }
            channels_mut(&mut document).push(channel);
        }
        let revision = before.as_ref().map_or(0, |d| d["revision"].as_u64().unwrap_or(0));
        document["revision"] = Value::from(revision + 1);
        self.documents.put_document(PROVIDERS_DOCUMENT, &document).await?;
        if let Some(before) = &before {
            self.forget(&ssm_references(before), &ssm_references(&document)).await;
        }
        Ok(config.channels.len())
    }

    async fn document(&self) -> Result<Option<Value>> {
        self.documents.document(PROVIDERS_DOCUMENT).await
    }

    /// Applies one channel's new settings: `decide` says, from the stored document, whether
    /// the change may go ahead and which stored channel it replaces (none: it is added). New credentials are stored
    /// first, then the document (only if no one changed it meanwhile; else all again).
    async fn edit(
        &self,
        name: &str,
        decide: impl Fn(&Value, &str) -> Result<Option<Value>>,
        channel: Value,
    ) -> Result<Value> {
        let given = channel.as_object().ok_or_else(|| Error::invalid("body: a channel is a JSON object"))?;
        // Secrets are named by the store, never by a request (it could name another's).
        if !ssm_references(&channel).is_empty() {
            return Err(Error::invalid("body: credentials are given as text, not as references to stored secrets"));
        }
        for _ in 0..EDIT_ATTEMPTS {
            let before = self.document().await?;
            let mut document = before.clone().unwrap_or_else(empty);
            let old = decide(&document, name)?;
            let (stored, new_secrets) = self.with_references(name, given, old.as_ref())?;
            self.check(&stored)?;
            for (secret, value) in &new_secrets {
                self.secrets.put_secret(secret, value).await?;
            }
            let channels = channels_mut(&mut document);
            match channels.iter_mut().find(|channel| channel["name"] == name) {
                Some(slot) => *slot = stored.clone(),
                None => channels.push(stored.clone()),
            }
            bump(&mut document);
            if self.documents.replace_document(PROVIDERS_DOCUMENT, before.as_ref(), &document).await? {
                if let Some(old) = &old {
                    self.forget(&ssm_references(old), &ssm_references(&document)).await;
                }
                return Ok(masked(&stored));
            }
        }
        Err(raced())
    }

    /// The channel as stored: each credential given in plain text becomes a reference to a
    /// new secret (returned with its value); a blank, masked or missing one keeps the old
    /// reference.
    fn with_references(
        &self,
        name: &str,
        given: &Map<String, Value>,
        old: Option<&Value>,
    ) -> Result<(Value, Vec<(String, String)>)> {
        let mut stored = given.clone();
        let mut new_secrets = Vec::new();
        for field in CREDENTIAL_FIELDS {
            match stored.get(field) {
                Some(Value::String(value)) if !value.is_empty() && value != MASK => {
                    let secret = self.secret_name(name, field);
                    new_secrets.push((secret.clone(), value.clone()));
                    stored.insert(field.to_owned(), reference(&secret));
                }
                None | Some(Value::Null | Value::String(_)) => match old.and_then(|old| old.get(field)) {
                    Some(kept) => {
                        stored.insert(field.to_owned(), kept.clone());
                    }
                    None => {
                        stored.remove(field);
                    }
                },
                Some(_) => return Err(Error::invalid(format!("{field}: a credential is a string"))),
            }
        }
        Ok((Value::Object(stored), new_secrets))
    }

    /// Refuses a channel that would not build, naming the field, before anything is stored.
    fn check(&self, channel: &Value) -> Result<()> {
        let names = ssm_references(channel);
        let stand_ins: HashMap<String, String> = names.into_iter().map(|n| (n, "stand-in".to_owned())).collect();
        let resolved = with_secrets(json!({"channels": [channel]}), &stand_ins)?;
        let config = ProvidersConfig::from_document(resolved, "body").map_err(|e| {
            // "body: not a providers document: at channels[0].baseUrl: …" reads as the field.
            let text = e.to_string();
            Error::invalid(text.replacen("body: not a providers document: at channels[0].", "", 1))
        })?;
        config.channels(&self.egress)?;
        Ok(())
    }

    /// A document with its references replaced by the secrets (in memory only).
    async fn resolved(&self, document: Value) -> Result<Value> {
        let names: Vec<String> = ssm_references(&document).into_iter().collect();
        let secrets = match self.credentials {
            _ if names.is_empty() => HashMap::new(),
            Credentials::Read => self.secrets.secrets(&names).await?,
            Credentials::Unread => names.into_iter().map(|name| (name, UNREAD.to_owned())).collect(),
        };
        with_secrets(document, &secrets)
    }

    /// Deletes the secrets under this path that `before` referenced and `after` does not.
    async fn forget(&self, before: &BTreeSet<String>, after: &BTreeSet<String>) {
        let prefix = format!("{}/", self.secrets_path);
        for name in before.difference(after).filter(|name| name.starts_with(&prefix)) {
            if let Err(error) = self.secrets.delete_secret(name).await {
                tracing::warn!(secret = %name, error = %error.chain(), "an unused channel credential was not deleted");
            }
        }
    }

    fn secret_name(&self, channel: &str, field: &str) -> String {
        format!("{}/{channel}/{field}", self.secrets_path)
    }

    /// The channels of `document`, the stored providers document read by the caller (`None`:
    /// none is stored), unless its revision is `known`: as [`ChannelSource::load`].
    pub async fn load_from(&self, document: Option<Value>, known: Option<&str>) -> Result<Option<ChannelSet>> {
        let revision = match &document {
            Some(document) => hex::encode(Sha256::digest(document.to_string().as_bytes())),
            None => "none".to_owned(),
        };
        if known == Some(revision.as_str()) {
            return Ok(None);
        }
        let Some(document) = document else {
            return Ok(Some(ChannelSet { revision, channels: Vec::new() }));
        };
        let resolved = self.resolved(document).await?;
        let config = ProvidersConfig::from_document(resolved, "the stored providers document")?;
        Ok(Some(ChannelSet { revision, channels: config.channels(&self.egress)? }))
    }
}

#[async_trait]
impl ChannelSource for StoredChannels {
    async fn load(&self, known: Option<&str>) -> Result<Option<ChannelSet>> {
        self.load_from(self.document().await?, known).await
    }
}

fn empty() -> Value {
    json!({"channels": []})
}

fn channels_of(document: &Value) -> &[Value] {
    document["channels"].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn channels_mut(document: &mut Value) -> &mut Vec<Value> {
    if !document["channels"].is_array() {
        document["channels"] = json!([]);
    }
    document["channels"].as_array_mut().expect("an array")
}

fn find<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    channels_of(document).iter().find(|channel| channel["name"] == name)
}

fn bump(document: &mut Value) {
    let revision = document["revision"].as_u64().unwrap_or(0);
    document["revision"] = Value::from(revision + 1);
}

fn channel_name(channel: &Value) -> Result<String> {
    let name = channel.get("name").and_then(Value::as_str).unwrap_or_default();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(Error::invalid("name: 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    Ok(name.to_owned())
}

/// The credentials a channel holds in plain text, by field.
fn credentials(channel: &Value) -> Vec<(&'static str, String)> {
    CREDENTIAL_FIELDS
        .iter()
        .filter_map(|field| channel.get(*field).and_then(Value::as_str).map(|value| (*field, value.to_owned())))
        .collect()
}

fn reference(secret: &str) -> Value {
    json!({"ssmParameter": secret})
}

/// A stored channel as operators see it: every credential it has is [`MASK`].
fn masked(channel: &Value) -> Value {
    let mut shown = channel.clone();
    for field in CREDENTIAL_FIELDS {
        if shown.get(field).is_some() {
            shown[field] = Value::from(MASK);
        }
    }
    shown
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("channel {name:?} does not exist"))
}

fn raced() -> Error {
    Error::Conflict("the channels were changed by someone else at the same time; try again".into())
}
