//! What every Lambda function does at init: read its configuration, build its engine (with the
//! channels stored in the table, their credentials from SSM, read again within a minute of a
//! change) and, for HTTP functions, its API keys, once; and fail fast with a message naming
//! what to set.

use std::path::PathBuf;
use std::sync::Arc;

use genrelay_aws::AwsResources;
use genrelay_engine::{Engine, Settings};
use genrelay_http::AppState;
use genrelay_providers::StoredChannels;

use crate::aws::{api_keys_from_ssm, aws_engine, sdk_config, webhook_secrets};
use crate::config::*;
use crate::embedded::Embedded;

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

/// A function's engine, on the storage its environment names, reading its channels from the
/// store; the channels (for the back office) and the SDK configuration when that is AWS.
struct Wired {
    engine: Engine,
    channels: StoredChannels,
    sdk: Option<aws_config::SdkConfig>,
}

/// How a function treats channels that cannot be loaded at init.
#[derive(Clone, Copy, PartialEq)]
enum BadChannels {
    /// It stops, naming the problem (functions that run jobs).
    Stop,
    /// It starts without them, logged (the back office, where they are fixed).
    StartWithout,
}

async fn wire(bad_channels: BadChannels) -> Result<Wired, ConfigError> {
    let egress = egress_from_env()?;
    let (engine, channels, sdk) = match storage_from_env()? {
        Storage::Aws(resources) => {
            let mock = mock_config_from_env(false)?;
            let sdk = sdk_config().await;
            let retention = output_retention_from_env()?;
            let secrets = webhook_secrets(&sdk).await?;
            let engine = aws_engine(&sdk, &resources, retention, mock, secrets, &egress, Settings::default());
            let table = genrelay_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &resources.table);
            let ssm = genrelay_aws::SsmSecrets::new(aws_sdk_ssm::Client::new(&sdk));
            let channels = stored_channels(Arc::new(table), Arc::new(ssm), &egress);
            (engine, channels, Some(sdk))
        }
        Storage::Embedded(dir) => {
            let public_url = var(PUBLIC_URL_VAR).unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
            let embedded = Embedded::open(&dir, &public_url)?;
            let engine = embedded.engine_with_mock(mock_config_from_env(true)?, &egress, Settings::default());
            (engine, embedded.stored_channels(&egress), None)
        }
    };
    let engine = engine.with_channel_source(Arc::new(channels.clone()));
    if let Err(error) = engine.reload_channels().await {
        if bad_channels == BadChannels::Stop {
            return Err(ConfigError::Providers(error.chain()));
        }
        tracing::error!(error = %error.chain(), "the stored channels cannot be loaded; starting without them");
    }
    Ok(Wired { engine, channels, sdk })
}

/// The engine of an event function (worker, poller).
pub async fn engine_from_env() -> Result<Engine, ConfigError> {
    Ok(wire(BadChannels::Stop).await?.engine)
}

/// The state of an HTTP function: its engine and the API keys, from `ZHINIAN_API_KEYS` or the
/// SSM parameter named by `ZHINIAN_API_KEYS_PARAMETER`.
pub async fn lambda_app_state() -> Result<AppState, ConfigError> {
    let Wired { engine, sdk, .. } = wire(BadChannels::Stop).await?;
    let keys = match (api_keys_from_env()?, &sdk) {
        (Some(keys), _) => keys,
        (None, Some(sdk)) => api_keys_from_ssm(sdk).await?.ok_or_else(missing_keys)?,
        (None, None) => return Err(missing_keys()),
    };
    Ok(AppState { engine: Arc::new(engine), keys: Arc::new(keys) })
}

fn missing_keys() -> ConfigError {
    ConfigError::Invalid {
        var: API_KEYS_VAR,
        reason: format!("not set (nor {API_KEYS_PARAMETER_VAR}); expected clientId:key,clientId:key"),
    }
}

/// Runs an HTTP function: tracing, configuration (failing fast at init), then `router` under
/// the Lambda runtime with one log line per request.
pub async fn run_http_function(router: fn(AppState) -> axum::Router) -> Result<(), lambda_http::Error> {
    run_configured_http_function(|state| Ok(router(state))).await
}

/// [`run_http_function`] for a router that needs more configuration from the environment.
pub async fn run_configured_http_function(
    router: impl FnOnce(AppState) -> Result<axum::Router, ConfigError>,
) -> Result<(), lambda_http::Error> {
    init_tracing();
    let router = lambda_app_state().await.and_then(router).map_err(|error| {
        tracing::error!(error = %error, "cannot start: configuration is incomplete");
        error.to_string()
    })?;
    lambda_http::run(router.layer(axum::middleware::from_fn(genrelay_http::log_requests))).await
}

/// Runs the back-office function (`/admin/*`, `/docs`): its engine, users store, session key
/// and first admin from the environment, failing fast at init.
pub async fn run_admin_function() -> Result<(), lambda_http::Error> {
    init_tracing();
    let router = admin_router().await.map_err(|error| {
        tracing::error!(error = %error, "cannot start: configuration is incomplete");
        error.to_string()
    })?;
    lambda_http::run(router.layer(axum::middleware::from_fn(genrelay_http::log_requests))).await
}

async fn admin_router() -> Result<axum::Router, ConfigError> {
    let Wired { engine, channels, sdk } = wire(BadChannels::StartWithout).await?;
    let users: Arc<dyn genrelay_core::ports::BackOfficeStore> = match (storage_from_env()?, &sdk) {
        (Storage::Aws(resources), Some(sdk)) => {
            Arc::new(genrelay_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &resources.table))
        }
        (Storage::Embedded(dir), _) => Arc::new(Embedded::open(&dir, "http://127.0.0.1:9000")?.store),
        (Storage::Aws(_), None) => unreachable!("the AWS storage comes with its SDK configuration"),
    };
    let state = crate::back_office::back_office_state(Arc::new(engine), users, channels, sdk.as_ref()).await?;
    // On its own, unknown back-office routes answer in the back office's error format.
    Ok(genrelay_http::surface::standalone::<genrelay_back_office::BackOfficeFormat>(genrelay_back_office::router(
        state,
    )))
}

/// Starts an event function (worker, poller): tracing, then its engine from the environment,
/// failing fast at init with a message naming what to set.
pub async fn start_event_function() -> Result<Arc<Engine>, lambda_runtime::Error> {
    init_tracing();
    let engine = engine_from_env().await.map_err(|error| {
        tracing::error!(error = %error, "cannot start: configuration is incomplete");
        error.to_string()
    })?;
    Ok(Arc::new(engine))
}
