//! Configuration read once at start-up, and the wiring of adapters into an engine. Every
//! function main and the dev server start here, so they are configured the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use genrelay_core::ports::{Clock, SystemClock, UlidGenerator};
use genrelay_embedded::{Database, FileBlobStore, SqliteQueue, SqliteStore};
use genrelay_engine::{Deps, Engine, ProviderRegistry, Settings};
use genrelay_http::{ApiKeys, AppState};
use genrelay_providers::{MockConfig, MockProvider};

pub const API_KEYS_VAR: &str = "ZHINIAN_API_KEYS";
pub const DATA_DIR_VAR: &str = "GENRELAY_DATA_DIR";
/// With `GENRELAY_DATA_DIR`: the address signed download links start with.
pub const PUBLIC_URL_VAR: &str = "GENRELAY_PUBLIC_URL";
pub const LOG_FORMAT_VAR: &str = "GENRELAY_LOG_FORMAT";
pub const MOCK_LATENCY_VAR: &str = "GENRELAY_MOCK_LATENCY_MS";
pub const MOCK_FAILURE_RATE_VAR: &str = "GENRELAY_MOCK_FAILURE_RATE";
/// The AWS resources a function needs; read by the AWS adapters.
pub const AWS_VARS: [&str; 3] = ["GENRELAY_TABLE", "GENRELAY_BUCKET", "GENRELAY_DISPATCH_QUEUE_URL"];

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
    #[error(
        "AWS configuration found ({}), but this build has no AWS adapters yet; set {DATA_DIR_VAR} \
         to run on the embedded store",
        AWS_VARS.join(", ")
    )]
    AwsUnavailable,
    #[error("{0}")]
    Storage(#[from] genrelay_core::Error),
}

/// Reads a variable; unset and empty are the same.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `ZHINIAN_API_KEYS`, if set.
pub fn api_keys_from_env() -> Result<Option<ApiKeys>, ConfigError> {
    var(API_KEYS_VAR)
        .map(|spec| {
            ApiKeys::parse(&spec).map_err(|reason| ConfigError::Invalid {
                var: API_KEYS_VAR,
                reason,
            })
        })
        .transpose()
}

/// The mock provider's latency and failure rate.
pub fn mock_config_from_env() -> Result<MockConfig, ConfigError> {
    let mut config = MockConfig::default();
    if let Some(raw) = var(MOCK_LATENCY_VAR) {
        let millis = raw.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
            var: MOCK_LATENCY_VAR,
            reason: format!("expected milliseconds, got {raw:?}"),
        })?;
        config.latency = Duration::from_millis(millis);
    }
    if let Some(raw) = var(MOCK_FAILURE_RATE_VAR) {
        config.failure_rate = raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| ConfigError::Invalid {
                var: MOCK_FAILURE_RATE_VAR,
                reason: format!("expected 0.0 to 1.0, got {raw:?}"),
            })?;
    }
    Ok(config)
}

/// Logs to stderr as text, or as JSON lines with `GENRELAY_LOG_FORMAT=json`; the level from `RUST_LOG`
/// (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if var(LOG_FORMAT_VAR).is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().flatten_event(true).with_writer(std::io::stderr).init();
    } else {
        let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder.with_ansi(colours).with_writer(std::io::stderr).init();
    }
}

/// The embedded adapters opened on one data folder.
#[derive(Clone)]
pub struct Embedded {
    pub store: SqliteStore,
    pub queue: SqliteQueue,
    pub blobs: FileBlobStore,
}

impl Embedded {
    /// Opens `data_dir/genrelay.db` and `data_dir/blobs`; signed URLs start with `public_url`.
    pub fn open(data_dir: &Path, public_url: &str) -> Result<Self, ConfigError> {
        std::fs::create_dir_all(data_dir).map_err(genrelay_core::Error::internal)?;
        let db = Database::open(&data_dir.join("genrelay.db"))?;
        Ok(Self {
            store: SqliteStore::new(db.clone()),
            queue: SqliteQueue::new(db),
            blobs: FileBlobStore::open(&data_dir.join("blobs"), public_url)?,
        })
    }

    /// The engine's dependencies on these adapters, with the mock provider for every
    /// capability and the given clock.
    pub fn deps(&self, mock: MockConfig, clock: Arc<dyn Clock>) -> Deps {
        let mock = Arc::new(MockProvider::new(mock, clock.clone()));
        Deps {
            jobs: Arc::new(self.store.clone()),
            assets: Arc::new(self.store.clone()),
            blobs: Arc::new(self.blobs.clone()),
            queue: Arc::new(self.queue.clone()),
            clock,
            ids: Arc::new(UlidGenerator),
            providers: ProviderRegistry::all_to(mock),
        }
    }

    /// An engine on these adapters with the mock provider, on the wall clock.
    pub fn engine(&self, mock: MockConfig, settings: Settings) -> Engine {
        Engine::new(self.deps(mock, Arc::new(SystemClock)), settings)
    }
}

/// The state of an HTTP function on Lambda, from its environment. Fails fast, with a message
/// saying what to set, when the storage or the keys are not configured.
pub fn lambda_app_state() -> Result<AppState, ConfigError> {
    let engine = match var(DATA_DIR_VAR) {
        Some(dir) => {
            let public_url = var(PUBLIC_URL_VAR).unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
            Embedded::open(&PathBuf::from(dir), &public_url)?.engine(mock_config_from_env()?, Settings::default())
        }
        None if AWS_VARS.iter().any(|v| var(v).is_some()) => return Err(ConfigError::AwsUnavailable),
        None => return Err(ConfigError::NoStorage),
    };
    let keys = api_keys_from_env()?.ok_or(ConfigError::Invalid {
        var: API_KEYS_VAR,
        reason: "not set; expected clientId:key,clientId:key".to_owned(),
    })?;
    Ok(AppState {
        engine: Arc::new(engine),
        keys: Arc::new(keys),
    })
}

/// Runs an HTTP function: tracing, configuration (failing fast at init), then `router` under
/// the Lambda runtime with one log line per request.
pub async fn run_http_function(router: fn(AppState) -> axum::Router) -> Result<(), lambda_http::Error> {
    init_tracing();
    let state = lambda_app_state().map_err(|error| {
        tracing::error!(error = %error, "cannot start: configuration is incomplete");
        error.to_string()
    })?;
    lambda_http::run(router(state).layer(axum::middleware::from_fn(genrelay_http::log_requests))).await
}
