//! The table, bucket and queues, created through the API. `infra/template.yaml` declares the
//! same resources for AWS (a test keeps the two in step); this is for emulators and tests.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use genrelay_core::{Error, Result};

use crate::AwsResources;
use crate::errors::sdk;
pub use crate::items::{INDEXES, Index};
use crate::items::{PK, SK};

/// Receives after which a dispatch message moves to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// Creates the table (with its indexes and stream), the bucket, and the dispatch queues of both
/// lanes with their dead-letter queues, all named after `prefix`. Returns where they are.
pub async fn provision(config: &aws_config::SdkConfig, prefix: &str) -> Result<AwsResources> {
    let table = format!("{prefix}-table");
    create_table(&aws_sdk_dynamodb::Client::new(config), &table).await?;
    let bucket = format!("{prefix}-bucket");
    let s3 = aws_sdk_s3::Client::new(config);
    s3.create_bucket().bucket(&bucket).send().await.map_err(|e| sdk("CreateBucket", e))?;
    let sqs = aws_sdk_sqs::Client::new(config);
    let dispatch_queue_url = create_queue_with_dlq(&sqs, &format!("{prefix}-dispatch")).await?;
    let priority_queue_url = create_queue_with_dlq(&sqs, &format!("{prefix}-priority")).await?;
    let webhook_queue_url = Some(create_queue_with_dlq(&sqs, &format!("{prefix}-webhooks")).await?);
    Ok(AwsResources { table, bucket, dispatch_queue_url, priority_queue_url, webhook_queue_url })
}

pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let key = |attribute: &str, kind: KeyType| {
        KeySchemaElement::builder().attribute_name(attribute).key_type(kind).build().map_err(Error::internal)
    };
    let string = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(Error::internal)
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(string(PK)?)
        .attribute_definitions(string(SK)?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(Error::internal)?,
        );
    for index in INDEXES {
        request = request
            .attribute_definitions(string(index.pk)?)
            .attribute_definitions(string(index.sk)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.pk, KeyType::Hash)?)
                    .key_schema(key(index.sk, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(Error::internal)?,
            );
    }
    request.send().await.map_err(|e| sdk("CreateTable", e))?;
    Ok(())
}

/// A queue whose messages move to `<name>-dlq` after `MAX_RECEIVES` receives; returns its URL.
pub async fn create_queue_with_dlq(client: &aws_sdk_sqs::Client, name: &str) -> Result<String> {
    let dlq =
        client.create_queue().queue_name(format!("{name}-dlq")).send().await.map_err(|e| sdk("CreateQueue", e))?;
    let dlq_url = dlq.queue_url.ok_or_else(|| Error::internal("CreateQueue returned no URL"))?;
    let attributes = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk("GetQueueAttributes", e))?;
    let dlq_arn = attributes
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| Error::internal("the dead-letter queue has no ARN"))?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}).to_string();
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| sdk("CreateQueue", e))?;
    queue.queue_url.ok_or_else(|| Error::internal("CreateQueue returned no URL"))
}
