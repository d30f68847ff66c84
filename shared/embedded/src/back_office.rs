//! The back office's users, failed-login counts, configuration documents and channel
//! credentials on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use genrelay_core::Result;
use genrelay_core::ports::{BackOfficeStore, BackOfficeUser, ConfigDocuments, FailedLogins, SecretStore};
use rusqlite::{OptionalExtension, params};

use crate::db::{micros, sql};
use crate::store::{SqliteStore, to_json};

#[async_trait]
impl BackOfficeStore for SqliteStore {
    async fn user(&self, name: &str) -> Result<Option<BackOfficeUser>> {
        self.body_by_key("SELECT body FROM back_office_users WHERE name = ?1", &[name]).await
    }

    async fn add_user(&self, user: &BackOfficeUser) -> Result<bool> {
        let (name, body) = (user.name.clone(), to_json(user)?);
        self.db
            .write(move |conn| {
                let added = conn
                    .execute(
                        "INSERT OR IGNORE INTO back_office_users (name, body) VALUES (?1, ?2)",
                        params![name, body],
                    )
                    .map_err(sql)?;
                Ok(added == 1)
            })
            .await
    }

    async fn failed_logins(&self, key: &str) -> Result<Option<FailedLogins>> {
        let key = key.to_owned();
        self.db
            .read(move |conn| {
                conn.query_row("SELECT since, count FROM failed_logins WHERE key = ?1", params![key], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, u32>(1)?))
                })
                .optional()
                .map_err(sql)
                .map(|found| {
                    found.map(|(since, count)| FailedLogins {
                        since: DateTime::<Utc>::from_timestamp_micros(since).unwrap_or_default(),
                        count,
                    })
                })
            })
            .await
    }

    async fn count_failed_login(&self, key: &str, window_start: DateTime<Utc>, now: DateTime<Utc>) -> Result<u32> {
        let key = key.to_owned();
        self.db
            .write(move |conn| {
                conn.query_row(
                    "INSERT INTO failed_logins (key, since, count) VALUES (?1, ?3, 1)
                     ON CONFLICT (key) DO UPDATE SET
                        count = CASE WHEN since > ?2 THEN count + 1 ELSE 1 END,
                        since = CASE WHEN since > ?2 THEN since ELSE ?3 END
                     RETURNING count",
                    params![key, micros(window_start), micros(now)],
                    |row| row.get(0),
                )
                .map_err(sql)
            })
            .await
    }

    async fn clear_failed_logins(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM failed_logins WHERE key = ?1", params![key]).map_err(sql)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl ConfigDocuments for SqliteStore {
    async fn document(&self, name: &str) -> Result<Option<serde_json::Value>> {
        self.body_by_key("SELECT body FROM documents WHERE name = ?1", &[name]).await
    }

    async fn put_document(&self, name: &str, document: &serde_json::Value) -> Result<()> {
        let (name, body) = (name.to_owned(), to_json(document)?);
        self.db
            .write(move |conn| {
                conn.execute("INSERT OR REPLACE INTO documents (name, body) VALUES (?1, ?2)", params![name, body])
                    .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn replace_document(
        &self,
        name: &str,
        before: Option<&serde_json::Value>,
        after: &serde_json::Value,
    ) -> Result<bool> {
        // Documents are written from `Value`s, whose maps are ordered by key: the same document
        // is the same text.
        let (name, after) = (name.to_owned(), to_json(after)?);
        let before = before.map(to_json).transpose()?;
        self.db
            .write(move |conn| {
                let changed = match before {
                    Some(before) => conn.execute(
                        "UPDATE documents SET body = ?3 WHERE name = ?1 AND body = ?2",
                        params![name, before, after],
                    ),
                    None => conn
                        .execute("INSERT OR IGNORE INTO documents (name, body) VALUES (?1, ?2)", params![name, after]),
                };
                Ok(changed.map_err(sql)? == 1)
            })
            .await
    }
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.db
            .write(move |conn| {
                conn.execute("INSERT OR REPLACE INTO secrets (name, value) VALUES (?1, ?2)", params![name, value])
                    .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn secrets(&self, names: &[String]) -> Result<HashMap<String, String>> {
        let names = names.to_vec();
        self.db
            .read(move |conn| {
                let mut statement = conn.prepare_cached("SELECT value FROM secrets WHERE name = ?1").map_err(sql)?;
                let mut found = HashMap::new();
                for name in names {
                    let value: Option<String> =
                        statement.query_row(params![name], |row| row.get(0)).optional().map_err(sql)?;
                    if let Some(value) = value {
                        found.insert(name, value);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM secrets WHERE name = ?1", params![name]).map_err(sql)?;
                Ok(())
            })
            .await
    }
}
