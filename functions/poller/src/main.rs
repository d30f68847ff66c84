//! genrelay-poller: the scheduled sweep — due polls, the reconciler, deadlines.

mod handler;

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let engine = genrelay_bootstrap::start_event_function(genrelay_bootstrap::Channels::Used).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| handler::handle(&engine, event.context)))
        .await
}
