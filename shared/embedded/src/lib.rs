//! The embedded adapters: what `genrelay-dev` runs on. One SQLite database (jobs, assets,
//! idempotency records, the dispatch queue) and a folder of files, with the semantics the AWS
//! adapters have: put-if-absent, update-if-status, key-range queries with cursors, an
//! at-least-once queue with redelivery and a dead-letter table, signed expiring download URLs.

mod back_office;
mod blobs;
mod channels;
mod db;
mod queue;
mod store;
mod webhooks;

pub use blobs::{BLOB_ROUTE_PREFIX, FileBlobStore, LinkMethod, SignedBlob};
pub use db::Database;
pub use queue::SqliteQueue;
pub use store::SqliteStore;

/// Receives after which a message moves to the dead-letter table (as an SQS redrive policy).
pub const MAX_RECEIVES: u32 = 5;
/// The lanes of the dispatch queue table.
pub const PRIORITY_LANE: &str = "priority";
pub const STANDARD_LANE: &str = "standard";
