//! The AWS adapters wired from one SDK configuration, built once at init. `AWS_REGION` and
//! `AWS_ENDPOINT_URL` are honoured, so functions can run against an emulator.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use genrelay_aws::{AwsResources, DynamoStore, EmbeddedMetrics, S3BlobStore, SqsQueue};
use genrelay_core::ports::{SystemClock, UlidGenerator};
use genrelay_engine::{Deps, DispatchQueues, Engine, ProviderRegistry, Settings};
use genrelay_http::ApiKeys;
use genrelay_providers::config::{ssm_references, with_secrets};
use genrelay_providers::{MockConfig, MockProvider, ProvidersConfig};

use crate::ConfigError;
use crate::config::{API_KEYS_PARAMETER_VAR, parse_keys, var};

/// The SDK configuration from the environment, with explicit timeouts.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build();
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await
}

/// An engine on DynamoDB, S3 and SQS, with the mock provider for every capability (see
/// [`stored_providers`] for the channels).
pub fn aws_engine(
    sdk: &aws_config::SdkConfig,
    resources: &AwsResources,
    output_retention: Option<u32>,
    mock: MockConfig,
    settings: Settings,
) -> Engine {
    // Emulators on a custom endpoint serve buckets by path, not by virtual host.
    let path_style = sdk.endpoint_url().is_some();
    // Objects can be large: S3 calls get longer timeouts than the table and queues.
    let s3_timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(120))
        .build();
    let s3_config =
        aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).timeout_config(s3_timeouts).build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    let mut store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &resources.table);
    if let Some(days) = output_retention {
        store = store.with_output_retention(days);
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let clock = Arc::new(SystemClock);
    let deps = Deps {
        jobs: Arc::new(store.clone()),
        assets: Arc::new(store.clone()),
        channels: Arc::new(store),
        blobs: Arc::new(S3BlobStore::new(s3, &resources.bucket)),
        queues: DispatchQueues {
            priority: Arc::new(SqsQueue::new(sqs.clone(), &resources.priority_queue_url)),
            standard: Arc::new(SqsQueue::new(sqs, &resources.dispatch_queue_url)),
        },
        clock: clock.clone(),
        ids: Arc::new(UlidGenerator),
        metrics: Arc::new(EmbeddedMetrics),
        providers: ProviderRegistry::all_to(Arc::new(MockProvider::new(mock, clock))),
    };
    Engine::new(deps, settings)
}

/// The API keys from the SSM SecureString parameter named by `ZHINIAN_API_KEYS_PARAMETER`.
pub async fn api_keys_from_ssm(sdk: &aws_config::SdkConfig) -> Result<Option<ApiKeys>, ConfigError> {
    let Some(name) = var(API_KEYS_PARAMETER_VAR) else {
        return Ok(None);
    };
    let output =
        aws_sdk_ssm::Client::new(sdk).get_parameter().name(&name).with_decryption(true).send().await.map_err(|e| {
            ConfigError::Keys(format!("GetParameter {name}: {}", aws_sdk_ssm::error::DisplayErrorContext(e)))
        })?;
    let value = output
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| ConfigError::Keys(format!("parameter {name} has no value")))?;
    parse_keys(&value, API_KEYS_PARAMETER_VAR).map(Some)
}

/// The channels stored in the table (the providers document), with their credentials read
/// from SSM: `None` when no document was stored (every capability uses the mock provider).
pub async fn stored_providers(
    sdk: &aws_config::SdkConfig,
    resources: &AwsResources,
) -> Result<Option<ProvidersConfig>, ConfigError> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &resources.table);
    let invalid = |reason: String| ConfigError::Providers(reason);
    let Some(document) = store.providers_document().await.map_err(|e| invalid(e.to_string()))? else {
        return Ok(None);
    };
    let names: Vec<String> = ssm_references(&document).into_iter().collect();
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let mut secrets = HashMap::new();
    // GetParameters takes up to 10 names.
    for group in names.chunks(10) {
        let output = ssm
            .get_parameters()
            .set_names(Some(group.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| invalid(format!("GetParameters: {}", aws_sdk_ssm::error::DisplayErrorContext(e))))?;
        if let Some(missing) = output.invalid_parameters.filter(|missing| !missing.is_empty()) {
            return Err(invalid(format!("the SSM parameters {missing:?} do not exist")));
        }
        for parameter in output.parameters.unwrap_or_default() {
            if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                secrets.insert(name, value);
            }
        }
    }
    let document = with_secrets(document, &secrets).map_err(|e| invalid(e.to_string()))?;
    ProvidersConfig::from_document(document, "the stored providers document")
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}
