//! genrelay-webhooks: sends webhooks, on the table's DynamoDB stream (a job changed) and on the
//! webhook retry queue (a retry fell due).

mod handler;

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let engine = genrelay_bootstrap::start_event_function(genrelay_bootstrap::Channels::Unused).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| handler::handle(&engine, event.payload))).await
}
