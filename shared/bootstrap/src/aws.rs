//! The AWS adapters wired from one SDK configuration, built once at init. `AWS_REGION` and
//! `AWS_ENDPOINT_URL` are honoured, so functions can run against an emulator.

use std::sync::Arc;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::SharedTimeSource;
use genrelay_aws::{
    AwsClients, AwsResources, DynamoStore, EmbeddedMetrics, S3BlobStore, SqsDeliveryScheduler, SqsQueue,
};
use genrelay_core::ports::{DeliveryScheduler, SweptDeliveries, SystemClock, UlidGenerator};
use genrelay_egress::Egress;
use genrelay_engine::{ChannelRegistry, Deps, DispatchQueues, Engine, Settings, Webhooks};
use genrelay_http::ApiKeys;
use genrelay_providers::{MockConfig, MockProvider};
use genrelay_webhook_sender::{HttpWebhookSender, WebhookSecrets};

use crate::ConfigError;
use crate::config::{API_KEYS_PARAMETER_VAR, WEBHOOK_SECRET_PARAMETER_VAR, parse_keys, var, webhook_secrets_from_env};

/// The SDK configuration of a Lambda function, all from the environment Lambda gives it: the
/// region (`AWS_REGION`), the role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`) and, for an emulator, `AWS_ENDPOINT_URL`. Built directly rather than by
/// `aws_config`'s loader, whose default credential chain (profiles, SSO, STS, IMDS, ECS) a
/// function never uses and which took 240 KiB of every binary.
pub fn function_sdk_config() -> SdkConfig {
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).map(Region::new);
    let credentials = SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new());
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .http_client(genrelay_aws::https_client())
        .credentials_provider(credentials)
        .identity_cache(IdentityCache::lazy().build())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::default())
        .retry_config(RetryConfig::standard());
    config.set_region(region);
    config.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    config.build()
}

/// The SDK configuration of a tool people run (`genrelay-channels`): `aws_config`'s whole
/// default chain, so profiles and SSO work, with the functions' timeouts and HTTP client.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .http_client(genrelay_aws::https_client())
        .load()
        .await
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

/// An engine on DynamoDB, S3 and SQS, with the mock provider (when on) for the capabilities no
/// channel serves; its channels are read from the table (see `lambda`).
pub fn aws_engine(
    clients: &AwsClients,
    resources: &AwsResources,
    output_retention: Option<u32>,
    mock: Option<MockConfig>,
    webhook_secrets: WebhookSecrets,
    egress: &Egress,
    settings: Settings,
) -> Engine {
    let mut store = DynamoStore::new(clients.dynamodb.clone(), &resources.table);
    if let Some(days) = output_retention {
        store = store.with_output_retention(days);
    }
    let sqs = clients.sqs.clone();
    let clock = Arc::new(SystemClock);
    let scheduler: Arc<dyn DeliveryScheduler> = match &resources.webhook_queue_url {
        Some(url) => Arc::new(SqsDeliveryScheduler::new(sqs.clone(), url)),
        None => Arc::new(SweptDeliveries),
    };
    let deps = Deps {
        jobs: Arc::new(store.clone()),
        assets: Arc::new(store.clone()),
        ledger: Arc::new(store.clone()),
        documents: Arc::new(store.clone()),
        webhooks: Webhooks {
            store: Arc::new(store),
            sender: Arc::new(HttpWebhookSender::new(egress.clone(), webhook_secrets)),
            scheduler,
        },
        blobs: Arc::new(S3BlobStore::new(clients.s3.clone(), &resources.bucket)),
        queues: DispatchQueues {
            priority: Arc::new(SqsQueue::new(sqs.clone(), &resources.priority_queue_url)),
            standard: Arc::new(SqsQueue::new(sqs, &resources.dispatch_queue_url)),
        },
        clock: clock.clone(),
        ids: Arc::new(UlidGenerator),
        metrics: Arc::new(EmbeddedMetrics),
        channels: ChannelRegistry::new(
            [],
            mock.map(|mock| -> Arc<dyn genrelay_core::ports::Provider> {
                Arc::new(MockProvider::new(mock, clock).with_egress(egress.clone()))
            }),
        ),
    };
    Engine::new(deps, settings)
}

/// The API keys from the SSM SecureString parameter named by `ZHINIAN_API_KEYS_PARAMETER`.
pub async fn api_keys_from_ssm(ssm: &aws_sdk_ssm::Client) -> Result<Option<ApiKeys>, ConfigError> {
    let Some(name) = var(API_KEYS_PARAMETER_VAR) else {
        return Ok(None);
    };
    let output = ssm.get_parameter().name(&name).with_decryption(true).send().await.map_err(|e| {
        ConfigError::Keys(format!("GetParameter {name}: {}", aws_sdk_ssm::error::DisplayErrorContext(e)))
    })?;
    let value = output
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| ConfigError::Keys(format!("parameter {name} has no value")))?;
    parse_keys(&value, API_KEYS_PARAMETER_VAR).map(Some)
}

/// The webhook secrets: from the environment when set there, else from the SSM parameter named
/// by `ZHINIAN_WEBHOOK_SECRET_PARAMETER` (first line the current secret, a second line the
/// previous one). A parameter that does not exist means webhooks go unsigned (seed 004 signs
/// only when a secret is configured); that is logged.
pub async fn webhook_secrets(ssm: &aws_sdk_ssm::Client) -> Result<WebhookSecrets, ConfigError> {
    let from_env = webhook_secrets_from_env();
    let Some(name) = var(WEBHOOK_SECRET_PARAMETER_VAR).filter(|_| !from_env.is_configured()) else {
        return Ok(from_env);
    };
    match ssm.get_parameter().name(&name).with_decryption(true).send().await {
        Ok(output) => {
            let value = output.parameter.and_then(|p| p.value).unwrap_or_default();
            let mut lines = value.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned);
            Ok(WebhookSecrets::new(lines.next(), lines.next()))
        }
        Err(error) if error.as_service_error().is_some_and(|e| e.is_parameter_not_found()) => {
            tracing::warn!(parameter = %name, "the webhook secret parameter does not exist; webhooks are sent unsigned");
            Ok(WebhookSecrets::default())
        }
        Err(error) => Err(ConfigError::Invalid {
            var: WEBHOOK_SECRET_PARAMETER_VAR,
            reason: format!("GetParameter {name}: {}", aws_sdk_ssm::error::DisplayErrorContext(error)),
        }),
    }
}
