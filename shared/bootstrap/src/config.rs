//! The environment a function or the dev server reads at start-up.

use std::time::Duration;

use genrelay_engine::Settings;
use genrelay_http::ApiKeys;
use genrelay_providers::MockConfig;

pub const API_KEYS_VAR: &str = "ZHINIAN_API_KEYS";
/// On AWS: the name of an SSM SecureString parameter holding the keys (read at init).
pub const API_KEYS_PARAMETER_VAR: &str = "ZHINIAN_API_KEYS_PARAMETER";
pub const DATA_DIR_VAR: &str = "GENRELAY_DATA_DIR";
/// With `GENRELAY_DATA_DIR`: the address signed download links start with.
pub const PUBLIC_URL_VAR: &str = "GENRELAY_PUBLIC_URL";
pub const LOG_FORMAT_VAR: &str = "GENRELAY_LOG_FORMAT";
pub const MOCK_LATENCY_VAR: &str = "GENRELAY_MOCK_LATENCY_MS";
pub const MOCK_FAILURE_RATE_VAR: &str = "GENRELAY_MOCK_FAILURE_RATE";
/// `on` or `off`: whether the mock provider serves the capabilities no channel serves.
pub const MOCK_PROVIDER_VAR: &str = "GENRELAY_MOCK_PROVIDER";
/// Days the bucket keeps outputs (the template's `OutputRetentionDays`); their records match.
pub const OUTPUT_RETENTION_VAR: &str = "GENRELAY_OUTPUT_RETENTION_DAYS";
pub const TABLE_VAR: &str = "GENRELAY_TABLE";
pub const BUCKET_VAR: &str = "GENRELAY_BUCKET";
pub const DISPATCH_QUEUE_VAR: &str = "GENRELAY_DISPATCH_QUEUE_URL";
pub const PRIORITY_QUEUE_VAR: &str = "GENRELAY_PRIORITY_QUEUE_URL";
/// Webhook signing: the current secret, and the previous one during a rotation.
pub const WEBHOOK_SECRET_VAR: &str = "ZHINIAN_WEBHOOK_SECRET";
pub const WEBHOOK_SECRET_PREVIOUS_VAR: &str = "ZHINIAN_WEBHOOK_SECRET_PREVIOUS";
/// On AWS: the name of an SSM SecureString holding the webhook secret (a second line holds the
/// previous one during a rotation).
pub const WEBHOOK_SECRET_PARAMETER_VAR: &str = "ZHINIAN_WEBHOOK_SECRET_PARAMETER";
/// On AWS: the queue whose delayed messages wake webhook retries (optional: without it the
/// poller sends overdue retries).
pub const WEBHOOK_QUEUE_VAR: &str = "GENRELAY_WEBHOOK_QUEUE_URL";
/// For local invocation and emulators only: `true` lets URLs clients name (webhooks, input
/// files) reach loopback and private addresses, as `genrelay-dev --allow-private-urls` does.
pub const ALLOW_PRIVATE_URLS_VAR: &str = "GENRELAY_ALLOW_PRIVATE_URLS";
/// Seed 003's presets: a JSON object of index → open-API job body (the documented defaults
/// without it), and the pending queue's limit.
pub const INFERENCE_PRESETS_VAR: &str = "GENRELAY_INFERENCE_PRESETS";
pub const INFERENCE_QUEUE_LIMIT_VAR: &str = "GENRELAY_INFERENCE_QUEUE_LIMIT";
/// Seconds a worker or poller step holds a job before another step may take it over (a step
/// whose function was killed holds it until then): above the Timeout of the functions that run
/// steps (a channel whose calls take longer, jimeng-api's sync mode, extends it). 16 minutes by
/// default; at most a day.
pub const STEP_LEASE_VAR: &str = "GENRELAY_STEP_LEASE_SECONDS";
/// The most jobs a client may have queued or running (1 to 1000); 0 or unset: no limit.
pub const MAX_UNFINISHED_VAR: &str = "GENRELAY_MAX_UNFINISHED_JOBS_PER_CLIENT";
/// The AWS resources a function runs on (set by infra/template.yaml).
/// Where the channels' credentials set from the back office are kept (an SSM path on AWS).
pub const CHANNEL_SECRETS_PATH_VAR: &str = "GENRELAY_CHANNEL_SECRETS_PATH";
pub const DEFAULT_CHANNEL_SECRETS_PATH: &str = "/genrelay/channels";

/// The channels of the store, their credentials in `secrets`, under the configured path.
pub fn stored_channels(
    documents: std::sync::Arc<dyn genrelay_core::ports::ConfigDocuments>,
    secrets: std::sync::Arc<dyn genrelay_core::ports::SecretStore>,
    egress: &genrelay_egress::Egress,
) -> genrelay_providers::StoredChannels {
    let path = var(CHANNEL_SECRETS_PATH_VAR).unwrap_or_else(|| DEFAULT_CHANNEL_SECRETS_PATH.to_owned());
    genrelay_providers::StoredChannels::new(documents, secrets, &path, egress.clone())
}

pub const AWS_VARS: [&str; 4] = [TABLE_VAR, BUCKET_VAR, DISPATCH_QUEUE_VAR, PRIORITY_QUEUE_VAR];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error(
        "no storage is configured: set {} to run on AWS, or {DATA_DIR_VAR} to run on the embedded \
         store (local invocation)",
        AWS_VARS.join(", ")
    )]
    NoStorage,
    #[error("incomplete AWS configuration: {0} must be set too")]
    IncompleteAws(String),
    #[error("the API keys could not be read: {0}")]
    Keys(String),
    #[error("the channels could not be loaded: {0}")]
    Providers(String),
    /// A store or file that could not be opened: the whole cause chain, since an `Internal`
    /// error alone says only "internal error".
    #[error("{}", .0.chain())]
    Storage(#[from] genrelay_core::Error),
}

/// Reads a variable; unset and empty are the same.
pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `clientId:key,...` as API keys; errors never repeat a key.
pub(crate) fn parse_keys(spec: &str, var: &'static str) -> Result<ApiKeys, ConfigError> {
    ApiKeys::parse(spec).map_err(|error| ConfigError::Invalid { var, reason: error.to_string() })
}

/// `ZHINIAN_API_KEYS`, if set.
pub fn api_keys_from_env() -> Result<Option<ApiKeys>, ConfigError> {
    var(API_KEYS_VAR).map(|spec| parse_keys(&spec, API_KEYS_VAR)).transpose()
}

/// `GENRELAY_OUTPUT_RETENTION_DAYS`, if set.
pub fn output_retention_from_env() -> Result<Option<u32>, ConfigError> {
    var(OUTPUT_RETENTION_VAR)
        .map(|raw| {
            raw.trim().parse::<u32>().ok().filter(|days| *days > 0).ok_or_else(|| ConfigError::Invalid {
                var: OUTPUT_RETENTION_VAR,
                reason: format!("expected a number of days, got {raw:?}"),
            })
        })
        .transpose()
}

/// The engine's settings: the defaults, with `GENRELAY_STEP_LEASE_SECONDS` and
/// `GENRELAY_MAX_UNFINISHED_JOBS_PER_CLIENT` when set.
pub fn engine_settings_from_env() -> Result<Settings, ConfigError> {
    let mut settings = Settings::default();
    if let Some(raw) = var(STEP_LEASE_VAR) {
        let seconds =
            raw.trim().parse::<u64>().ok().filter(|seconds| (1..=86_400).contains(seconds)).ok_or_else(|| {
                ConfigError::Invalid {
                    var: STEP_LEASE_VAR,
                    reason: format!("expected 1 to 86400 seconds, got {raw:?}"),
                }
            })?;
        settings.step_lease = Duration::from_secs(seconds);
    }
    if let Some(raw) = var(MAX_UNFINISHED_VAR) {
        let limit = raw.trim().parse::<usize>().ok().filter(|limit| *limit <= 1000).ok_or_else(|| {
            ConfigError::Invalid { var: MAX_UNFINISHED_VAR, reason: format!("expected 0 to 1000 jobs, got {raw:?}") }
        })?;
        settings.max_unfinished_per_client = (limit > 0).then_some(limit);
    }
    Ok(settings)
}

/// The mock provider's settings, or `None` when it is switched off: `GENRELAY_MOCK_PROVIDER`
/// (`on`/`off`), else `default_on` (on in `genrelay-dev` and on the embedded store, off on AWS,
/// so a deployment never answers test patterns for a capability it has no channel for).
pub fn mock_config_from_env(default_on: bool) -> Result<Option<MockConfig>, ConfigError> {
    let on = match var(MOCK_PROVIDER_VAR).as_deref().map(str::trim) {
        None => default_on,
        Some("on" | "true" | "1") => true,
        Some("off" | "false" | "0") => false,
        Some(other) => {
            return Err(ConfigError::Invalid {
                var: MOCK_PROVIDER_VAR,
                reason: format!("expected on or off, got {other:?}"),
            });
        }
    };
    if !on {
        return Ok(None);
    }
    let mut config = MockConfig::default();
    if let Some(raw) = var(MOCK_LATENCY_VAR) {
        let millis = raw.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
            var: MOCK_LATENCY_VAR,
            reason: format!("expected milliseconds, got {raw:?}"),
        })?;
        config.latency = Duration::from_millis(millis);
    }
    if let Some(raw) = var(MOCK_FAILURE_RATE_VAR) {
        config.failure_rate = raw.trim().parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| {
            ConfigError::Invalid { var: MOCK_FAILURE_RATE_VAR, reason: format!("expected 0.0 to 1.0, got {raw:?}") }
        })?;
    }
    Ok(Some(config))
}

/// The webhook secrets from `ZHINIAN_WEBHOOK_SECRET` (and `_PREVIOUS`), if set.
pub fn webhook_secrets_from_env() -> genrelay_webhook_sender::WebhookSecrets {
    genrelay_webhook_sender::WebhookSecrets::new(var(WEBHOOK_SECRET_VAR), var(WEBHOOK_SECRET_PREVIOUS_VAR))
}

/// The SSRF guard's policy: public addresses only, unless `GENRELAY_ALLOW_PRIVATE_URLS=true`.
pub fn egress_from_env() -> Result<genrelay_egress::Egress, ConfigError> {
    match var(ALLOW_PRIVATE_URLS_VAR).as_deref() {
        None | Some("false") => Ok(genrelay_egress::Egress::public_only()),
        Some("true") => {
            tracing::warn!("{ALLOW_PRIVATE_URLS_VAR}=true: client URLs may reach private addresses (local use only)");
            Ok(genrelay_egress::Egress::allow_private())
        }
        Some(other) => Err(ConfigError::Invalid {
            var: ALLOW_PRIVATE_URLS_VAR,
            reason: format!("{other:?}; expected true or false"),
        }),
    }
}

/// The inference surface's presets from `GENRELAY_INFERENCE_PRESETS` and
/// `GENRELAY_INFERENCE_QUEUE_LIMIT`, or the defaults.
pub fn inference_presets_from_env() -> Result<genrelay_http::inference::InferencePresets, ConfigError> {
    use genrelay_http::inference::{DEFAULT_QUEUE_LIMIT, InferencePresets};
    let limit = match var(INFERENCE_QUEUE_LIMIT_VAR) {
        None => DEFAULT_QUEUE_LIMIT,
        Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
            var: INFERENCE_QUEUE_LIMIT_VAR,
            reason: format!("{raw:?} is not a number"),
        })?,
    };
    match var(INFERENCE_PRESETS_VAR) {
        None => {
            let mut presets = InferencePresets::defaults();
            presets.queue_limit = limit;
            Ok(presets)
        }
        Some(json) => InferencePresets::from_json(&json, limit)
            .map_err(|error| ConfigError::Invalid { var: INFERENCE_PRESETS_VAR, reason: error.to_string() }),
    }
}

/// The inference surface's Lambda router, configured from the environment.
pub fn inference_router_from_env(state: genrelay_http::AppState) -> Result<axum::Router, ConfigError> {
    Ok(genrelay_http::inference_router(state, inference_presets_from_env()?))
}
