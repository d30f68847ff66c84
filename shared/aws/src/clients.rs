//! The AWS clients a function uses, built once from its SDK configuration, each with an
//! interceptor that logs every request it sends (at debug, target `genrelay_aws_calls`: the
//! service and operation), so the requests a job costs can be counted, not estimated.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The target of the request log (`RUST_LOG=warn,genrelay_aws_calls=debug` shows only it).
pub const AWS_CALLS_TARGET: &str = "genrelay_aws_calls";

/// Logs each request as it is sent (a retried call is logged, and billed, once per attempt).
#[derive(Debug)]
struct RequestLog;

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        _request: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(operation) = cfg.load::<Metadata>() {
            tracing::debug!(
                target: AWS_CALLS_TARGET,
                service = operation.service(),
                operation = operation.name(),
                "aws request"
            );
        }
        Ok(())
    }
}

/// One client per service, sharing the SDK configuration's HTTP client and credentials.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl AwsClients {
    /// The clients of `sdk`. On a custom endpoint (an emulator) S3 is addressed by path, not by
    /// virtual host; objects can be large, so S3 calls get longer timeouts than the others.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let s3_timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(60))
            .operation_timeout(Duration::from_secs(120))
            .build();
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .timeout_config(s3_timeouts)
            .interceptor(RequestLog);
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(RequestLog).build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(sdk).interceptor(RequestLog).build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(sdk).interceptor(RequestLog).build(),
            ),
        }
    }
}
