//! The AWS clients a function uses, built once from its SDK configuration, each with an
//! interceptor that logs every request it sends (at debug, target `genrelay_aws_calls`: the
//! service and operation), so the requests a job costs can be counted, not estimated; DynamoDB's
//! also logs how many items each read examined, so what a list costs as the table grows can be
//! counted too.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
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

/// Logs the items each DynamoDB read examined: a Query's or Scan's scanned count (filtered
/// items included, as DynamoDB bills them), a GetItem's one or none, a BatchGetItem's found.
#[derive(Debug)]
struct ItemsRead;

impl Intercept for ItemsRead {
    fn name(&self) -> &'static str {
        "ItemsRead"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{batch_get_item::BatchGetItemOutput, get_item::GetItemOutput};
        use aws_sdk_dynamodb::operation::{query::QueryOutput, scan::ScanOutput};
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let items = if let Some(query) = output.downcast_ref::<QueryOutput>() {
            query.scanned_count.max(0) as usize
        } else if let Some(scan) = output.downcast_ref::<ScanOutput>() {
            scan.scanned_count.max(0) as usize
        } else if let Some(get) = output.downcast_ref::<GetItemOutput>() {
            usize::from(get.item.is_some())
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            batch.responses.iter().flat_map(|tables| tables.values()).map(Vec::len).sum()
        } else {
            return Ok(());
        };
        tracing::debug!(target: AWS_CALLS_TARGET, items_read = items, "aws items read");
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
                aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(RequestLog).interceptor(ItemsRead).build(),
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
