//! The SQLite database shared by the store and the queue. Calls run on tokio's blocking pool;
//! one connection behind a mutex serializes writers, which is what makes put-if-absent and
//! update-if-status atomic here.

use std::path::Path;
use std::sync::{Arc, Mutex};

use genrelay_core::{Error, Result};
use rusqlite::Connection;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    capability   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    next_poll_at INTEGER,
    dispatched_at INTEGER NOT NULL,
    revision     INTEGER NOT NULL,
    body         TEXT NOT NULL,
    order_number TEXT,
    image_type   TEXT,
    playground_of TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_client ON jobs (client_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_due_polls ON jobs (next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (dispatched_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_by_status_time ON jobs (status, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS idempotency (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE TABLE IF NOT EXISTS assets (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assets_by_client ON assets (client_id, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS queue (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    lane          TEXT NOT NULL,
    body          TEXT NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (lane, visible_at);
CREATE TABLE IF NOT EXISTS channel_slots (
    channel     TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    lease_until INTEGER NOT NULL,
    PRIMARY KEY (channel, job_id)
);
CREATE TABLE IF NOT EXISTS channel_cooldowns (
    channel TEXT PRIMARY KEY,
    until   INTEGER NOT NULL,
    reason  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS job_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    job_id    TEXT NOT NULL,
    status    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_job ON webhook_deliveries (job_id, created_at);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS disabled_webhook_urls (
    client_id TEXT NOT NULL,
    url       TEXT NOT NULL,
    PRIMARY KEY (client_id, url)
);
CREATE TABLE IF NOT EXISTS back_office_users (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
-- The channels' credentials the back office sets (SSM SecureStrings on AWS).
CREATE TABLE IF NOT EXISTS secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failed_logins (
    key   TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq           INTEGER PRIMARY KEY,
    lane          TEXT NOT NULL,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_at       INTEGER NOT NULL
);
";

#[derive(Clone)]
pub struct Database {
    connection: Arc<Mutex<Connection>>,
}

impl Database {
    /// Opens (or creates) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let connection = Connection::open(path).map_err(Error::internal)?;
        connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(Error::internal)?;
        connection.execute_batch(SCHEMA).map_err(Error::internal)?;
        migrate(&connection)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)) })
    }

    /// Runs `work` with the connection on the blocking pool.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut connection)
        })
        .await
        .map_err(Error::internal)?
    }
}

/// Columns added since a table was first created (table, column, declaration), for databases
/// made by earlier versions.
const ADDED_COLUMNS: [(&str, &str, &str); 4] = [
    ("channel_cooldowns", "reason", "TEXT NOT NULL DEFAULT ''"),
    ("jobs", "order_number", "TEXT"),
    ("jobs", "image_type", "TEXT"),
    ("jobs", "playground_of", "TEXT"),
];

fn migrate(connection: &Connection) -> Result<()> {
    for (table, column, declaration) in ADDED_COLUMNS {
        let exists = connection
            .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")
            .and_then(|mut statement| statement.exists([table, column]))
            .map_err(Error::internal)?;
        if !exists {
            connection
                .execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {declaration}"))
                .map_err(Error::internal)?;
        }
    }
    Ok(())
}

/// SQLite errors are never expected on these paths; they are internal errors.
pub(crate) fn sql(error: rusqlite::Error) -> Error {
    Error::internal(error)
}

/// Times are stored as microseconds since the epoch, so they sort and compare as integers.
pub(crate) fn micros(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp_micros()
}
