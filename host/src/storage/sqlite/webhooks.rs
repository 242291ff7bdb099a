//! [`WebhookStorage`] on SQLite.

use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStorage, collect, parse_time, time};
use crate::storage::Result;
use crate::storage::decode_text;
use crate::storage::webhooks::*;

fn subscription_from_row(row: &SqliteRow) -> std::result::Result<Subscription, sqlx::Error> {
    let events: String = row.try_get("events")?;
    Ok(Subscription {
        id: row.try_get("id")?,
        connection_id: row.try_get("connection_id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        entities: row
            .try_get::<Option<String>, _>("entities")?
            .and_then(|json| serde_json::from_str(&json).ok()),
        sealed_secret: row.try_get("secret")?,
        previous: match (
            row.try_get::<Option<Vec<u8>>, _>("previous_secret")?,
            row.try_get::<Option<String>, _>("previous_secret_until")?,
        ) {
            (Some(sealed), Some(until)) => Some((sealed, parse_time(&until))),
            _ => None,
        },
        created_at: parse_time(&row.try_get::<String, _>("created_at")?),
    })
}

fn delivery_from_row(row: &SqliteRow) -> std::result::Result<Delivery, sqlx::Error> {
    Ok(Delivery {
        id: row.try_get("d_id")?,
        subscription_id: row.try_get("subscription_id")?,
        connection_id: row.try_get("d_connection_id")?,
        event: row.try_get("event")?,
        payload: row.try_get("payload")?,
        status: decode_text("status", &row.try_get::<String, _>("status")?)?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        next_attempt_at: parse_time(&row.try_get::<String, _>("next_attempt_at")?),
        created_at: parse_time(&row.try_get::<String, _>("d_created_at")?),
    })
}

const DELIVERY_COLUMNS: &str = "d.id AS d_id, d.subscription_id, d.connection_id AS d_connection_id, d.event, d.payload, \
     d.status, d.attempts, d.next_attempt_at, d.created_at AS d_created_at";

/// The subscription's entities as stored: JSON, or NULL for every one.
fn entities(s: &Subscription) -> Option<String> {
    s.entities
        .as_ref()
        .map(|e| serde_json::to_string(e).expect("strings serialize"))
}

#[async_trait]
impl WebhookStorage for SqliteStorage {
    async fn insert_subscription(&self, s: &Subscription, max: u32) -> Result<bool> {
        // One write transaction (`BEGIN IMMEDIATE`): no other subscribe
        // between the count and the insert.
        let mut tx = self.begin().await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_subscriptions WHERE connection_id = ?",
        )
        .bind(&s.connection_id)
        .fetch_one(&mut *tx)
        .await?;
        if count >= i64::from(max) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, connection_id, url, events, secret, created_at, entities) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.connection_id)
        .bind(&s.url)
        .bind(serde_json::to_string(&s.events).expect("strings serialize"))
        .bind(&s.sealed_secret)
        .bind(time(s.created_at))
        .bind(entities(s))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn subscriptions(&self, connection: &str) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_subscriptions WHERE connection_id = ? ORDER BY created_at",
        )
        .bind(connection)
        .fetch_all(&self.pool)
        .await?;
        collect(rows, subscription_from_row)
    }

    async fn all_subscriptions(&self) -> Result<Vec<Subscription>> {
        let rows = sqlx::query("SELECT * FROM webhook_subscriptions ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        collect(rows, subscription_from_row)
    }

    async fn delete_subscription(&self, connection: &str, id: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM webhook_subscriptions WHERE connection_id = ? AND id = ?")
                .bind(connection)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_secret(
        &self,
        connection: &str,
        id: &str,
        sealed: &[u8],
        previous_until: Option<SystemTime>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET \
             previous_secret = CASE WHEN ?1 IS NULL THEN NULL ELSE secret END, \
             previous_secret_until = ?1, secret = ?2 \
             WHERE connection_id = ?3 AND id = ?4",
        )
        .bind(previous_until.map(time))
        .bind(sealed)
        .bind(connection)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn replay_delivery(
        &self,
        subscription: &str,
        delivery: &str,
        now: SystemTime,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?1 \
             WHERE subscription_id = ?2 AND id = ?3 AND status != 'dropped'",
        )
        .bind(time(now))
        .bind(subscription)
        .bind(delivery)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn enqueue(
        &self,
        connection: &str,
        event: &str,
        entity: Option<&str>,
        payload: &str,
        at: SystemTime,
    ) -> Result<u64> {
        let subscriptions: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT s.id, s.events, s.entities FROM webhook_subscriptions s JOIN connections c ON c.id = s.connection_id \
             WHERE s.connection_id = ? AND c.status != 'disconnected'",
        )
        .bind(connection)
        .fetch_all(&self.pool)
        .await?;
        let mut queued = 0;
        for (id, events, entities) in subscriptions {
            let events: Vec<String> = serde_json::from_str(&events).unwrap_or_default();
            if !events.iter().any(|e| e == event) || !told_of(entities.as_deref(), entity) {
                continue;
            }
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, subscription_id, connection_id, event, payload, status, next_attempt_at, created_at) \
                 VALUES (?, ?, ?, ?, ?, 'pending', ?6, ?6)",
            )
            .bind(format!("dlv_{}", uuid::Uuid::now_v7().simple()))
            .bind(&id)
            .bind(connection)
            .bind(event)
            .bind(payload)
            .bind(time(at))
            .execute(&self.pool)
            .await?;
            queued += 1;
        }
        Ok(queued)
    }

    async fn claim_deliveries(
        &self,
        now: SystemTime,
        until: SystemTime,
        limit: u32,
        per_connection: u32,
    ) -> Result<Vec<(Delivery, Subscription)>> {
        let mut tx = self.begin().await?;
        let claimed: Vec<(String,)> = sqlx::query_as(
            "WITH running AS ( \
               SELECT connection_id, COUNT(*) AS n FROM webhook_deliveries \
               WHERE status = 'pending' AND claimed_until > ?1 GROUP BY connection_id), \
             due AS ( \
               SELECT d.id, d.next_attempt_at, COALESCE(r.n, 0) AS running, \
                 ROW_NUMBER() OVER (PARTITION BY d.connection_id ORDER BY d.next_attempt_at, d.id) AS rank \
               FROM webhook_deliveries d \
               JOIN connections c ON c.id = d.connection_id \
               LEFT JOIN running r ON r.connection_id = d.connection_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 \
                 AND (d.claimed_until IS NULL OR d.claimed_until <= ?1) \
                 AND c.status != 'disconnected') \
             UPDATE webhook_deliveries SET claimed_until = ?2 WHERE id IN ( \
               SELECT id FROM due WHERE rank + running <= ?3 ORDER BY next_attempt_at, id LIMIT ?4) \
             RETURNING id",
        )
        .bind(time(now))
        .bind(time(until))
        .bind(i64::from(per_connection))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(claimed.len());
        for (id,) in claimed {
            let row = sqlx::query(&format!(
                "SELECT {DELIVERY_COLUMNS}, s.* FROM webhook_deliveries d \
                 JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = ?"
            ))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
            out.push((delivery_from_row(&row)?, subscription_from_row(&row)?));
        }
        tx.commit().await?;
        out.sort_by(|a, b| (a.0.next_attempt_at, &a.0.id).cmp(&(b.0.next_attempt_at, &b.0.id)));
        Ok(out)
    }

    async fn record_attempt(
        &self,
        delivery: &str,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(delivery)
        .bind(attempt.attempt as i64)
        .bind(time(attempt.at))
        .bind(attempt.status_code.map(i64::from))
        .bind(&attempt.error)
        .bind(attempt.duration_ms as i64)
        .execute(&mut *tx)
        .await?;
        let (status, next) = outcome.status_and_next(attempt.at);
        sqlx::query(
            "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, claimed_until = NULL \
             WHERE id = ? AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(attempt.attempt as i64)
        .bind(time(next))
        .bind(delivery)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn deliveries(
        &self,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.subscription_id = ? \
             ORDER BY d.created_at DESC, d.id DESC LIMIT ?"
        ))
        .bind(subscription)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let delivery = delivery_from_row(row)?;
            let attempts = sqlx::query(
                "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
            )
            .bind(&delivery.id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Attempt {
                    attempt: r.try_get::<i64, _>(0)? as u32,
                    at: parse_time(&r.try_get::<String, _>(1)?),
                    status_code: r.try_get::<Option<i64>, _>(2)?.map(|s| s as u16),
                    error: r.try_get(3)?,
                    duration_ms: r.try_get::<i64, _>(4)? as u64,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()?;
            out.push((delivery, attempts));
        }
        Ok(out)
    }

    async fn drop_deliveries(&self, connection: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'dropped' WHERE connection_id = ? AND status = 'pending'",
        )
        .bind(connection)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn pending_deliveries(&self) -> Result<u64> {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(pending as u64)
    }
}
