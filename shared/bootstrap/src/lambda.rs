//! What every Lambda function does at init: read its configuration once, build its engine
//! (with the channels stored in the table, their credentials from SSM, read again within a
//! minute of a change, for the functions that use them) and, for HTTP functions, its API keys;
//! the reads run concurrently, each a logged phase (see `logs`); and fail fast with a message
//! naming what to set.

use std::path::PathBuf;
use std::sync::Arc;

use genrelay_aws::{AwsClients, AwsResources};
use genrelay_back_office::BackOfficeState;
use genrelay_core::ai_config::{AI_CONFIG_DOCUMENT, AiConfig};
use genrelay_core::ports::{BackOfficeStore, ChannelSet, ConfigDocuments, PROVIDERS_DOCUMENT};
use genrelay_egress::Egress;
use genrelay_engine::{Engine, Settings};
use genrelay_http::{ApiKeys, AppState};
use genrelay_providers::{MockConfig, StoredChannels};

use crate::aws::{api_keys_from_ssm, aws_engine, function_sdk_config, webhook_secrets};
use crate::back_office::{BackOfficeSettings, back_office_settings};
use crate::config::*;
use crate::embedded::Embedded;
use crate::logs::{init_tracing, phase, phase_now};

/// Where a function keeps its data.
enum Storage {
    Aws(AwsResources),
    /// `GENRELAY_DATA_DIR`: the embedded store, for local invocation.
    Embedded(PathBuf),
}

fn storage_from_env() -> Result<Storage, ConfigError> {
    let given: Vec<Option<String>> = AWS_VARS.iter().map(|name| var(name)).collect();
    if given.iter().any(Option::is_some) {
        let missing: Vec<&str> = AWS_VARS.iter().zip(&given).filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
        if !missing.is_empty() {
            return Err(ConfigError::IncompleteAws(missing.join(", ")));
        }
        let [table, bucket, dispatch_queue_url, priority_queue_url] =
            <[Option<String>; 4]>::try_from(given).expect("one value per variable").map(|v| v.expect("checked"));
        let webhook_queue_url = var(WEBHOOK_QUEUE_VAR);
        return Ok(Storage::Aws(AwsResources {
            table,
            bucket,
            dispatch_queue_url,
            priority_queue_url,
            webhook_queue_url,
        }));
    }
    var(DATA_DIR_VAR).map(|dir| Storage::Embedded(PathBuf::from(dir))).ok_or(ConfigError::NoStorage)
}

/// A function's configuration, read from its environment once, at the start of init.
struct FunctionConfig {
    storage: Storage,
    egress: Egress,
    /// The mock provider's settings, when it is on (off by default on AWS).
    mock: Option<MockConfig>,
    output_retention: Option<u32>,
    /// `ZHINIAN_API_KEYS`, when the keys are given in the environment rather than in SSM.
    api_keys: Option<ApiKeys>,
    settings: Settings,
}

impl FunctionConfig {
    fn from_env() -> Result<Self, ConfigError> {
        let storage = storage_from_env()?;
        let on_aws = matches!(storage, Storage::Aws(_));
        Ok(Self {
            egress: egress_from_env()?,
            mock: mock_config_from_env(!on_aws)?,
            output_retention: output_retention_from_env()?,
            api_keys: api_keys_from_env()?,
            settings: engine_settings_from_env()?,
            storage,
        })
    }
}

/// What a function does with the channels: functions that submit, poll, cancel or check jobs
/// against them read them (their document and credentials) and build their clients at init;
/// api-meta only lists what they serve (their document, no credentials); the others (assets,
/// webhooks) read nothing of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    Used,
    Listed,
    Unused,
}

/// What a function reads at init besides its engine.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    EngineOnly,
    /// HTTP functions: the API keys too.
    ApiKeys,
}

/// A function's engine, on the storage its environment names, reading its channels from the
/// store (when it uses them); the channels (for the back office) and the API keys (when read
/// from SSM).
struct Wired {
    engine: Engine,
    channels: StoredChannels,
    keys: Option<ApiKeys>,
}

/// How a function treats channels that cannot be loaded at init.
#[derive(Clone, Copy, PartialEq)]
enum BadChannels {
    /// It stops, naming the problem (functions that run jobs).
    Stop,
    /// It starts without them, logged (the back office, where they are fixed).
    StartWithout,
}

/// The storage a function is connected to: the AWS clients (made once, shared by everything
/// init reads), or the embedded store, opened.
enum Connected {
    Aws { clients: AwsClients, resources: AwsResources },
    Embedded(Embedded),
}

impl FunctionConfig {
    fn connect(&self) -> Result<Connected, ConfigError> {
        Ok(match &self.storage {
            Storage::Aws(resources) => {
                let sdk = phase_now("sdk_config", function_sdk_config);
                Connected::Aws { clients: AwsClients::new(&sdk), resources: resources.clone() }
            }
            Storage::Embedded(dir) => {
                let public_url = var(PUBLIC_URL_VAR).unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
                Connected::Embedded(phase_now("embedded_store", || Embedded::open(dir, &public_url))?)
            }
        })
    }
}

/// Builds the function's engine. The calls init needs (the webhook secrets, the channels and
/// their credentials, the AI config, the API keys) run concurrently; what the function does
/// not use is not read.
async fn wire(
    config: &FunctionConfig,
    connected: &Connected,
    uses: Channels,
    reads: Reads,
    bad_channels: BadChannels,
) -> Result<Wired, ConfigError> {
    let egress = &config.egress;
    let (engine, channels, loaded, ai_config, keys) = match connected {
        Connected::Aws { clients, resources } => {
            let documents: Arc<dyn ConfigDocuments> =
                Arc::new(genrelay_aws::DynamoStore::new(clients.dynamodb.clone(), &resources.table));
            let ssm = genrelay_aws::SsmSecrets::new(clients.ssm.clone());
            let channels = listed(uses, stored_channels(documents.clone(), Arc::new(ssm), egress));
            let keys = async {
                match (reads, &config.api_keys) {
                    (Reads::ApiKeys, None) => api_keys_from_ssm(&clients.ssm).await,
                    _ => Ok(None),
                }
            };
            let (secrets, (loaded, ai_config), keys) = tokio::join!(
                phase("webhook_secrets", webhook_secrets(&clients.ssm)),
                read_documents(uses, documents.as_ref(), &channels),
                phase("api_keys", keys),
            );
            let (mock, retention, secrets) = (config.mock.clone(), config.output_retention, secrets?);
            let engine = phase_now("engine", || {
                aws_engine(clients, resources, retention, mock, secrets, egress, config.settings.clone())
            });
            (engine, channels, loaded, ai_config, keys?)
        }
        Connected::Embedded(embedded) => {
            let engine =
                phase_now("engine", || embedded.engine_with_mock(config.mock.clone(), egress, config.settings.clone()));
            let channels = listed(uses, embedded.stored_channels(egress));
            let (loaded, ai_config) = read_documents(uses, &embedded.store, &channels).await;
            (engine, channels, loaded, ai_config, None)
        }
    };
    let engine = match uses {
        Channels::Used | Channels::Listed => engine.with_channel_source(Arc::new(channels.clone())),
        Channels::Unused => engine,
    };
    engine.install_ai_config(ai_config);
    match loaded {
        Ok(loaded) => engine.install_channels(loaded),
        Err(error) if bad_channels == BadChannels::Stop => return Err(ConfigError::Providers(error.chain())),
        Err(error) => {
            tracing::error!(error = %error.chain(), "the stored channels cannot be loaded; starting without them");
        }
    }
    Ok(Wired { engine, channels, keys })
}

/// The channels as the function uses them: without their credentials when it only lists them.
fn listed(uses: Channels, channels: StoredChannels) -> StoredChannels {
    match uses {
        Channels::Listed => channels.listed_only(),
        Channels::Used | Channels::Unused => channels,
    }
}

/// The AI config and, if the function uses them, the channels: their documents in one read,
/// then the channels' credentials.
async fn read_documents(
    uses: Channels,
    documents: &dyn ConfigDocuments,
    channels: &StoredChannels,
) -> (genrelay_core::Result<Option<ChannelSet>>, genrelay_core::Result<AiConfig>) {
    let names: &[&str] = match uses {
        Channels::Used | Channels::Listed => &[AI_CONFIG_DOCUMENT, PROVIDERS_DOCUMENT],
        Channels::Unused => &[AI_CONFIG_DOCUMENT],
    };
    let mut read = match phase("documents", documents.documents(names)).await {
        Ok(read) => read.into_iter(),
        Err(error) => {
            let ai_config = Err(genrelay_core::Error::Unavailable(format!("reading it failed: {}", error.chain())));
            // A function without channels starts anyway, as on a failed AI config read alone.
            let loaded = if names.contains(&PROVIDERS_DOCUMENT) { Err(error) } else { Ok(None) };
            return (loaded, ai_config);
        }
    };
    let ai_config = AiConfig::from_stored(read.next().flatten());
    let loaded = match read.next() {
        Some(providers) => phase("channels", channels.load_from(providers, None)).await,
        None => Ok(None),
    };
    (loaded, ai_config)
}

/// The engine of an event function (worker, poller, webhooks).
pub async fn engine_from_env(uses: Channels) -> Result<Engine, ConfigError> {
    let config = FunctionConfig::from_env()?;
    Ok(wire(&config, &config.connect()?, uses, Reads::EngineOnly, BadChannels::Stop).await?.engine)
}

/// The state of an HTTP function: its engine and the API keys, from `ZHINIAN_API_KEYS` or the
/// SSM parameter named by `ZHINIAN_API_KEYS_PARAMETER` (read while the engine is built).
pub async fn lambda_app_state(uses: Channels) -> Result<AppState, ConfigError> {
    let config = FunctionConfig::from_env()?;
    let wired = wire(&config, &config.connect()?, uses, Reads::ApiKeys, BadChannels::Stop).await?;
    let keys = config.api_keys.or(wired.keys).ok_or_else(missing_keys)?;
    Ok(AppState { engine: Arc::new(wired.engine), keys: Arc::new(keys) })
}

fn missing_keys() -> ConfigError {
    ConfigError::Invalid {
        var: API_KEYS_VAR,
        reason: format!("not set (nor {API_KEYS_PARAMETER_VAR}); expected clientId:key,clientId:key"),
    }
}

/// Runs an HTTP function: tracing, configuration (failing fast at init), then `router` under
/// the Lambda runtime with one log line per request.
pub async fn run_http_function(router: fn(AppState) -> axum::Router, uses: Channels) -> Result<(), lambda_http::Error> {
    run_configured_http_function(|state| Ok(router(state)), uses).await
}

/// [`run_http_function`] for a router that needs more configuration from the environment.
pub async fn run_configured_http_function(
    router: impl FnOnce(AppState) -> Result<axum::Router, ConfigError>,
    uses: Channels,
) -> Result<(), lambda_http::Error> {
    init_tracing();
    let configured = async { lambda_app_state(uses).await.and_then(|state| phase_now("router", || router(state))) };
    let router = phase("configure", configured).await.map_err(|error| {
        tracing::error!(error = %error, "cannot start: configuration is incomplete");
        error.to_string()
    })?;
    lambda_http::run(router.layer(axum::middleware::from_fn(genrelay_http::log_requests))).await
}

/// Runs the docs function (`/docs`): static, nothing to configure; unknown paths answer in the
/// open API's error format.
pub async fn run_docs_function() -> Result<(), lambda_http::Error> {
    init_tracing();
    // Its one phase, inside `configure` as every function's are.
    let router = phase_now("configure", || {
        phase_now("router", || {
            genrelay_http::surface::standalone::<genrelay_http::OpenApiFormat>(genrelay_docs::router())
        })
    });
    lambda_http::run(router.layer(axum::middleware::from_fn(genrelay_http::log_requests))).await
}

/// Runs the back-office function (`/admin/*`): its engine, users store, session key
/// and first admin from the environment, failing fast at init.
pub async fn run_admin_function() -> Result<(), lambda_http::Error> {
    init_tracing();
    let router = phase("configure", admin_router()).await.map_err(|error| {
        tracing::error!(error = %error, "cannot start: configuration is incomplete");
        error.to_string()
    })?;
    lambda_http::run(router.layer(axum::middleware::from_fn(genrelay_http::log_requests))).await
}

async fn admin_router() -> Result<axum::Router, ConfigError> {
    let config = FunctionConfig::from_env()?;
    let connected = config.connect()?;
    let (users, ssm): (Arc<dyn BackOfficeStore>, _) = match &connected {
        Connected::Aws { clients, resources } => {
            (Arc::new(genrelay_aws::DynamoStore::new(clients.dynamodb.clone(), &resources.table)), Some(&clients.ssm))
        }
        Connected::Embedded(embedded) => (Arc::new(embedded.store.clone()), None),
    };
    // The session key and the first admin's password are read while the engine is wired, and
    // the routes are built on a thread of their own meanwhile.
    let span = tracing::Span::current();
    let routes =
        tokio::task::spawn_blocking(move || span.in_scope(|| phase_now("router", genrelay_back_office::router)));
    let (wired, settings, routes) = tokio::join!(
        wire(&config, &connected, Channels::Used, Reads::EngineOnly, BadChannels::StartWithout),
        phase("back_office", back_office_settings(ssm)),
        routes,
    );
    let (Wired { engine, channels, .. }, BackOfficeSettings { sessions, first_admin }) = (wired?, settings?);
    let routes = routes.unwrap_or_else(|panicked| std::panic::resume_unwind(panicked.into_panic()));
    let state = BackOfficeState { engine: Arc::new(engine), users, channels, sessions, first_admin };
    // On its own, unknown back-office routes answer in the back office's error format.
    Ok(genrelay_http::surface::standalone::<genrelay_back_office::BackOfficeFormat>(routes.with_state(state)))
}

/// Starts an event function (worker, poller, webhooks): tracing, then its engine from the
/// environment, failing fast at init with a message naming what to set.
pub async fn start_event_function(uses: Channels) -> Result<Arc<Engine>, lambda_runtime::Error> {
    init_tracing();
    let engine = phase("configure", engine_from_env(uses)).await.map_err(|error| {
        tracing::error!(error = %error, "cannot start: configuration is incomplete");
        error.to_string()
    })?;
    Ok(Arc::new(engine))
}
