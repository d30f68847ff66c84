//! The dispatch queue in SQLite, with SQS semantics: a received message stays hidden for its
//! visibility timeout and comes back unless acknowledged; a message received `MAX_RECEIVES`
//! times without acknowledgement moves to the dead-letter table.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use genrelay_core::ports::{Delivery, DispatchMessage, DispatchQueue};
use genrelay_core::{Error, Result};
use rusqlite::params;

use crate::MAX_RECEIVES;
use crate::db::{Database, micros, sql};

#[derive(Clone)]
pub struct SqliteQueue {
    db: Database,
    /// Queues share one table; each is a lane of it.
    lane: &'static str,
}

impl SqliteQueue {
    pub fn new(db: Database, lane: &'static str) -> Self {
        Self { db, lane }
    }

    /// Messages moved to the dead-letter table, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DispatchMessage>> {
        let lane = self.lane;
        self.db
            .read(move |conn| {
                let mut stmt =
                    conn.prepare("SELECT body FROM dead_letters WHERE lane = ?1 ORDER BY seq").map_err(sql)?;
                let bodies = stmt.query_map(params![lane], |row| row.get::<_, String>(0)).map_err(sql)?;
                let mut messages = Vec::new();
                for body in bodies {
                    messages.push(serde_json::from_str(&body.map_err(sql)?).map_err(Error::internal)?);
                }
                Ok(messages)
            })
            .await
    }
}

#[async_trait]
impl DispatchQueue for SqliteQueue {
    async fn send(&self, message: &DispatchMessage) -> Result<()> {
        let body = serde_json::to_string(message).map_err(Error::internal)?;
        let lane = self.lane;
        self.db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO queue (lane, body, visible_at) VALUES (?3, ?1, ?2)",
                    params![body, micros(Utc::now()), lane],
                )
                .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>> {
        let lane = self.lane;
        self.db
            .write(move |conn| {
                let now = micros(Utc::now());
                let hidden_until = now + visibility.as_micros() as i64;
                let tx = conn.savepoint().map_err(sql)?;
                // The first visible messages in the order they became visible (the index's
                // order: a call reads what it returns, however long the queue), those received
                // too often moved to the dead letters instead.
                let (mut deliveries, mut dead) = (Vec::new(), Vec::new());
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT seq, body, receive_count FROM queue WHERE lane = ?3 AND visible_at <= ?1
                             ORDER BY visible_at, seq LIMIT ?2",
                        )
                        .map_err(sql)?;
                    let rows = stmt
                        .query_map(params![now, max as i64, lane], |row| {
                            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, u32>(2)?))
                        })
                        .map_err(sql)?;
                    for row in rows {
                        let (seq, body, count) = row.map_err(sql)?;
                        if count >= MAX_RECEIVES {
                            dead.push(seq);
                            continue;
                        }
                        let message = serde_json::from_str(&body).map_err(Error::internal)?;
                        let receipt = format!("{seq}-{}", ulid::Ulid::new());
                        deliveries.push((seq, Delivery { message, receipt, receive_count: count + 1 }));
                    }
                }
                for seq in dead {
                    tx.execute(
                        "INSERT INTO dead_letters (seq, lane, body, receive_count, dead_at)
                         SELECT seq, lane, body, receive_count, ?1 FROM queue WHERE seq = ?2",
                        params![now, seq],
                    )
                    .map_err(sql)?;
                    tx.execute("DELETE FROM queue WHERE seq = ?1", params![seq]).map_err(sql)?;
                }
                for (seq, delivery) in &deliveries {
                    tx.execute(
                        "UPDATE queue SET visible_at = ?1, receive_count = ?2, receipt = ?3 WHERE seq = ?4",
                        params![hidden_until, delivery.receive_count, delivery.receipt, seq],
                    )
                    .map_err(sql)?;
                }
                tx.commit().map_err(sql)?;
                Ok(deliveries.into_iter().map(|(_, delivery)| delivery).collect())
            })
            .await
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        let receipt = receipt.to_owned();
        self.db
            .write(move |conn| {
                // Acknowledging with a stale receipt (the message was received again since) does
                // nothing, as in SQS. A receipt starts with the message's key.
                let seq: i64 = receipt.split('-').next().and_then(|seq| seq.parse().ok()).unwrap_or(-1);
                conn.execute("DELETE FROM queue WHERE seq = ?1 AND receipt = ?2", params![seq, receipt])
                    .map_err(sql)?;
                Ok(())
            })
            .await
    }
}
