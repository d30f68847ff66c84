//! genrelay-worker: starts dispatched jobs, on SQS events from the dispatch queues.

mod handler;

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let engine = genrelay_bootstrap::start_event_function(genrelay_bootstrap::Channels::Used).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| handler::handle(&engine, event.payload))).await
}
