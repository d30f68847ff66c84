//! The ports: everything the engine needs from the outside world, shaped after what DynamoDB,
//! S3 and SQS offer (conditional writes, key-range queries with cursors, presigned URLs,
//! at-least-once delivery), so the embedded and the AWS adapters are interchangeable. One file
//! per port.

mod assets;
mod back_office;
mod blobs;
mod channels;
mod clock;
mod documents;
mod jobs;
mod metrics;
mod provider;
mod queue;
mod secrets;
mod webhooks;

pub use assets::*;
pub use back_office::*;
pub use blobs::*;
pub use channels::*;
pub use clock::*;
pub use documents::*;
pub use jobs::*;
pub use metrics::*;
pub use provider::*;
pub use queue::*;
pub use secrets::*;
pub use webhooks::*;
