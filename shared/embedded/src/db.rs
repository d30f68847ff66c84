//! The SQLite database shared by the store and the queue.
//!
//! Writes go to one connection on a thread of its own, one after another: that is what makes
//! put-if-absent and update-if-status atomic here. The writes waiting when it is free run
//! together in one transaction, each in a savepoint of its own (a write that fails is rolled
//! back alone), and each caller hears back once that transaction has committed: under load a
//! commit serves many writes. Reads run where they are awaited, on a connection of a pool of
//! read-only ones, and never wait for a write (WAL: a reader sees the last committed write). A
//! read from SQLite's page cache takes microseconds, less than handing it to the blocking pool
//! and back: under wrk, status GETs went from 27k to 34k a second when reads stopped doing so.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use genrelay_core::{Error, Result};
use rusqlite::Connection;

/// How long a connection waits for a lock another process holds before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections kept open: more than the reads that run at once (one per runtime worker).
const READERS: u32 = 8;
/// The most writes one transaction takes.
const MAX_BATCH: usize = 256;

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
CREATE INDEX IF NOT EXISTS jobs_by_client_status ON jobs (client_id, status, created_at DESC, id DESC);
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
    writes: mpsc::Sender<Write>,
    readers: r2d2::Pool<ReadConnections>,
}

/// A write for the writer thread: it runs the work in its savepoint (given a connection in a
/// transaction; none when the transaction could not begin) and returns how to tell the caller,
/// once the transaction's outcome is known.
type Write = Box<dyn FnOnce(Option<&mut Connection>) -> Reply + Send>;
type Reply = Box<dyn FnOnce(std::result::Result<(), Uncommitted>) + Send>;

/// Why a batch's transaction did not commit, told to each of its writes.
#[derive(Clone)]
struct Uncommitted {
    /// Another process held the database past the busy timeout, or the disk is full: the
    /// write may succeed later.
    transient: bool,
    reason: String,
}

impl From<rusqlite::Error> for Uncommitted {
    fn from(error: rusqlite::Error) -> Self {
        Self { transient: transient(&error), reason: error.to_string() }
    }
}

impl From<Uncommitted> for Error {
    fn from(Uncommitted { transient, reason }: Uncommitted) -> Self {
        match transient {
            true => Error::Unavailable(format!("the database could not take the write: {reason}")),
            false => Error::internal(format!("the transaction did not commit: {reason}")),
        }
    }
}

impl Database {
    /// Opens (or creates) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let writer = Connection::open(path).map_err(Error::internal)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(Error::internal)?;
        writer.execute_batch(SCHEMA).map_err(Error::internal)?;
        migrate(&writer)?;
        let (writes, queued) = mpsc::channel();
        std::thread::Builder::new()
            .name("genrelay-sqlite-writer".into())
            .spawn(move || write_in_batches(writer, queued))
            .map_err(Error::internal)?;
        // Read connections are opened as reads need them, not here.
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .build_unchecked(ReadConnections { path: path.to_owned() });
        Ok(Self { writes, readers })
    }

    /// Runs `work`, which may write, on the write connection after the writes queued before it,
    /// and answers once what it wrote is committed. A `work` that fails leaves nothing written;
    /// it makes its own atomic steps with savepoints (`conn.savepoint()`), as it runs inside
    /// the batch's transaction.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (done, answer) = tokio::sync::oneshot::channel();
        let write: Write = Box::new(move |conn| {
            let outcome = match conn {
                Some(conn) => in_savepoint(conn, work),
                None => Err(Error::internal("the write transaction could not begin")),
            };
            Box::new(move |committed| {
                let answer = committed.map_err(Error::from).and(outcome);
                let _ = done.send(answer);
            })
        });
        let lost = || Error::internal("the write was lost: the database writer stopped or failed");
        self.writes.send(write).map_err(|_| lost())?;
        answer.await.map_err(|_| lost())?
    }

    /// Runs `work`, which only reads, with a read connection, here (see the module's note): it
    /// sees every write that finished before it started.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        // The pool waits for a free connection; none within its timeout is a database too busy.
        let connection = self.readers.get().map_err(|e| Error::Unavailable(format!("no database connection: {e}")))?;
        work(&connection)
    }
}

/// The writer thread: takes the writes waiting, runs them in one transaction and tells each
/// caller how it ended; until every `Database` handle is dropped.
fn write_in_batches(mut conn: Connection, queued: mpsc::Receiver<Write>) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        batch.extend(queued.try_iter().take(MAX_BATCH - 1));
        if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
            let failed = Uncommitted::from(error);
            for write in batch {
                write(None)(Err(failed.clone()));
            }
            continue;
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        for write in batch {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(Some(&mut conn)))) {
                Ok(reply) => replies.push(reply),
                // Its caller hears that the write was lost; what it wrote is undone.
                Err(_) => drop(conn.execute_batch("ROLLBACK TO write; RELEASE write")),
            }
        }
        let committed = conn.execute_batch("COMMIT").map_err(|error| {
            let _ = conn.execute_batch("ROLLBACK");
            Uncommitted::from(error)
        });
        for reply in replies {
            reply(committed.clone());
        }
    }
}

/// Runs `work` in a savepoint: released when it succeeds, rolled back when it fails.
fn in_savepoint<T>(conn: &mut Connection, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT write").map_err(sql)?;
    let outcome = work(conn);
    let end = if outcome.is_ok() { "RELEASE write" } else { "ROLLBACK TO write; RELEASE write" };
    conn.execute_batch(end).map_err(sql)?;
    outcome
}

/// Opens the read connections: `query_only`, so a read that tried to write would fail.
#[derive(Debug)]
struct ReadConnections {
    path: PathBuf,
}

impl r2d2::ManageConnection for ReadConnections {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> std::result::Result<Connection, rusqlite::Error> {
        let connection = Connection::open(&self.path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.execute_batch("PRAGMA query_only = ON")?;
        Ok(connection)
    }

    fn is_valid(&self, connection: &mut Connection) -> std::result::Result<(), rusqlite::Error> {
        connection.execute_batch("")
    }

    fn has_broken(&self, _: &mut Connection) -> bool {
        false
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
/// A failed statement: `Unavailable` when it may succeed later (the database is busy or locked
/// past the busy timeout, the disk is full), `Internal` otherwise.
pub(crate) fn sql(error: rusqlite::Error) -> Error {
    match transient(&error) {
        true => Error::Unavailable(format!("the database is unavailable: {error}")),
        false => Error::internal(error),
    }
}

fn transient(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, DiskFull};
    matches!(error.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked | DiskFull))
}

/// Times are stored as microseconds since the epoch, so they sort and compare as integers.
pub(crate) fn micros(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_locked_or_full_database_is_unavailable_other_failures_are_internal() {
        let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED, rusqlite::ffi::SQLITE_FULL] {
            assert!(matches!(sql(failure(code)), Error::Unavailable(_)), "{code}");
            assert!(matches!(Error::from(Uncommitted::from(failure(code))), Error::Unavailable(_)), "{code}");
        }
        for code in [rusqlite::ffi::SQLITE_CORRUPT, rusqlite::ffi::SQLITE_CONSTRAINT] {
            assert!(matches!(sql(failure(code)), Error::Internal(_)), "{code}");
        }
    }

    /// Another process holding the write lock past the busy timeout: the write is refused as
    /// unavailable, and goes through once the lock is released.
    #[tokio::test]
    async fn a_write_blocked_by_another_process_is_unavailable_not_lost_or_internal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let db = Database::open(&path).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let insert = |body: &'static str| {
            move |conn: &mut Connection| {
                conn.execute("INSERT INTO documents (name, body) VALUES ('a', ?1)", [body]).map(drop).map_err(sql)
            }
        };
        let refused = db.write(insert("1")).await.unwrap_err();
        assert!(matches!(refused, Error::Unavailable(_)), "{refused:?}");
        other.execute_batch("ROLLBACK").unwrap();
        db.write(insert("2")).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_does_not_wait_for_a_write_and_sees_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("reads.db")).unwrap();
        db.write(|conn| conn.execute_batch("INSERT INTO documents (name, body) VALUES ('a', '1')").map_err(sql))
            .await
            .unwrap();
        let (holding, held) = tokio::sync::oneshot::channel();
        let slow_write = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(move |conn| {
                    let tx = conn.savepoint().map_err(sql)?;
                    tx.execute_batch("UPDATE documents SET body = '2' WHERE name = 'a'").map_err(sql)?;
                    holding.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                    tx.commit().map_err(sql)
                })
                .await
            }
        });
        held.await.unwrap();
        let started = std::time::Instant::now();
        let body: String = db
            .read(|conn| {
                conn.query_row("SELECT body FROM documents WHERE name = 'a'", [], |row| row.get(0)).map_err(sql)
            })
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_millis(250), "the read waited {:?}", started.elapsed());
        assert_eq!(body, "1", "the write is not committed yet");
        slow_write.await.unwrap().unwrap();
        let body: String = db
            .read(|conn| {
                conn.query_row("SELECT body FROM documents WHERE name = 'a'", [], |row| row.get(0)).map_err(sql)
            })
            .await
            .unwrap();
        assert_eq!(body, "2", "a read after the write sees it");
        let refused = db.read(|conn| conn.execute_batch("DELETE FROM documents").map_err(sql)).await;
        assert!(refused.is_err(), "read connections cannot write");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_committed_together_stay_apart_a_failed_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("batches.db")).unwrap();
        let writes = (0..64).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |conn| {
                    conn.execute("INSERT INTO documents (name, body) VALUES (?1, 'x')", [i.to_string()])
                        .map_err(sql)?;
                    if i % 2 == 1 {
                        return Err(Error::invalid("odd"));
                    }
                    Ok(i)
                })
                .await
            })
        });
        let mut answers = Vec::new();
        for write in writes.collect::<Vec<_>>() {
            answers.push(write.await.unwrap());
        }
        assert_eq!(answers.iter().filter(|answer| answer.is_ok()).count(), 32);
        assert!(answers.iter().enumerate().all(|(i, answer)| answer.is_ok() == (i % 2 == 0)), "each hears its own");
        let names: Vec<String> = db
            .read(|conn| {
                let mut statement =
                    conn.prepare("SELECT name FROM documents ORDER BY CAST(name AS INTEGER)").map_err(sql)?;
                let names = statement.query_map([], |row| row.get(0)).map_err(sql)?;
                names.collect::<rusqlite::Result<_>>().map_err(sql)
            })
            .await
            .unwrap();
        let even: Vec<String> = (0..64).filter(|i| i % 2 == 0).map(|i| i.to_string()).collect();
        assert_eq!(names, even, "the failed writes left nothing, the others all committed");
    }
}
