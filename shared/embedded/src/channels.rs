//! The channel ledger on SQLite: one row per held slot, one per cooldown. Each step is one
//! transaction on the single connection, so taking a slot is atomic.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use genrelay_core::ports::ChannelLedger;
use genrelay_core::{JobId, Result};
use rusqlite::{OptionalExtension, params};

use crate::db::{micros, sql};
use crate::store::SqliteStore;

#[async_trait]
impl ChannelLedger for SqliteStore {
    async fn take_slot(
        &self,
        channel: &str,
        job: &JobId,
        limit: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (channel, job) = (channel.to_owned(), job.as_str().to_owned());
        self.db
            .write(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                let held: Option<i64> = tx
                    .query_row(
                        "SELECT lease_until FROM channel_slots WHERE channel = ?1 AND job_id = ?2",
                        params![channel, job],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(sql)?;
                let others: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM channel_slots WHERE channel = ?1 AND job_id <> ?2 AND lease_until > ?3",
                        params![channel, job, micros(now)],
                        |row| row.get(0),
                    )
                    .map_err(sql)?;
                if held.is_none() && others >= i64::from(limit) {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT OR REPLACE INTO channel_slots (channel, job_id, lease_until) VALUES (?1, ?2, ?3)",
                    params![channel, job, micros(lease_until)],
                )
                .map_err(sql)?;
                tx.execute(
                    "DELETE FROM channel_slots WHERE channel = ?1 AND lease_until <= ?2",
                    params![channel, micros(now)],
                )
                .map_err(sql)?;
                tx.commit().map_err(sql)?;
                Ok(true)
            })
            .await
    }

    async fn slots_in_use(&self, channel: &str, now: DateTime<Utc>) -> Result<u32> {
        let channel = channel.to_owned();
        self.db
            .read(move |conn| {
                let mut count = conn
                    .prepare_cached("SELECT COUNT(*) FROM channel_slots WHERE channel = ?1 AND lease_until > ?2")
                    .map_err(sql)?;
                count.query_row(params![channel, micros(now)], |row| row.get(0)).map_err(sql)
            })
            .await
    }

    async fn release_slot(&self, channel: &str, job: &JobId) -> Result<()> {
        let (channel, job) = (channel.to_owned(), job.as_str().to_owned());
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM channel_slots WHERE channel = ?1 AND job_id = ?2", params![channel, job])
                    .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn cool_down(&self, channel: &str, until: DateTime<Utc>, reason: &str) -> Result<()> {
        let (channel, reason) = (channel.to_owned(), reason.to_owned());
        self.db
            .write(move |conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO channel_cooldowns (channel, until, reason) VALUES (?1, ?2, ?3)",
                    params![channel, micros(until), reason],
                )
                .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn cooling(&self, channels: &[&str], now: DateTime<Utc>) -> Result<HashMap<String, String>> {
        let channels: Vec<String> = channels.iter().map(|c| (*c).to_owned()).collect();
        self.db
            .read(move |conn| {
                let mut statement =
                    conn.prepare("SELECT channel, reason FROM channel_cooldowns WHERE until > ?1").map_err(sql)?;
                let cooling = statement
                    .query_map(params![micros(now)], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
                    .map_err(sql)?
                    .collect::<std::result::Result<HashMap<String, String>, _>>()
                    .map_err(sql)?;
                Ok(cooling.into_iter().filter(|(c, _)| channels.contains(c)).collect())
            })
            .await
    }
}
