//! [`LimitStorage`] on PostgreSQL: a bucket is spent by a read and a
//! write that applies only if the row is still as read (else it is read
//! again), and slots are taken with an upsert that checks the slot again
//! once a racing taker's row is committed.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{PostgresStorage, time_at, ts};
use crate::rate_limit::{self, Left};
use crate::storage::Result;
use crate::storage::limits::LimitStorage;

#[async_trait]
impl LimitStorage for PostgresStorage {
    async fn spend_budget(
        &self,
        key: &str,
        per_minute: u32,
        now: SystemTime,
        cost: f64,
    ) -> Result<std::result::Result<Left, Duration>> {
        // Optimistic: read the bucket, and write it back only if no other
        // spend changed it meanwhile (else read again). Two statements, no
        // transaction, where a locked read takes five.
        loop {
            let row = sqlx::query("SELECT tokens, at FROM budgets WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
            let Some(row) = row else {
                sqlx::query(
                    "INSERT INTO budgets (key, tokens, at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(f64::from(per_minute))
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                continue;
            };
            let read: f64 = sqlx::Row::try_get(&row, "tokens")?;
            let at = time_at(&row, "at")?;
            let mut tokens = read;
            let elapsed = now.duration_since(at).unwrap_or_default();
            let spent = rate_limit::spend(&mut tokens, elapsed, per_minute, cost);
            if !spent.as_ref().is_ok_and(|left| left.taken > 0) {
                // Nothing taken (a check, or none free): the bucket as it
                // is stored refills to the same.
                return Ok(spent);
            }
            let written = sqlx::query(
                "UPDATE budgets SET tokens = $1, at = $2 \
                 WHERE key = $3 AND tokens = $4 AND at = $5",
            )
            .bind(tokens)
            .bind(ts(now.max(at)))
            .bind(key)
            .bind(read)
            .bind(ts(at))
            .execute(&self.pool)
            .await?;
            if written.rows_affected() == 1 {
                return Ok(spent);
            }
        }
    }

    async fn take_upstream_slot(
        &self,
        connection: &str,
        slots: u32,
        holder: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Option<u32>> {
        let taken: Option<i32> = sqlx::query_scalar(
            "WITH free AS (SELECT s FROM generate_series(0, $2 - 1) AS s \
                 WHERE NOT EXISTS (SELECT 1 FROM upstream_slots u \
                     WHERE u.connection_id = $1 AND u.slot = s AND u.until > $4) \
                 ORDER BY random() LIMIT 1) \
             INSERT INTO upstream_slots (connection_id, slot, holder, until) \
             SELECT $1, s, $3, $5 FROM free \
             ON CONFLICT (connection_id, slot) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
             WHERE upstream_slots.until <= $4 \
             RETURNING slot",
        )
        .bind(connection)
        .bind(i64::from(slots))
        .bind(holder)
        .bind(ts(now))
        .bind(ts(until))
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.map(|slot| slot as u32))
    }

    async fn renew_upstream_slots(&self, holder: &str, until: SystemTime) -> Result<u64> {
        let renewed = sqlx::query("UPDATE upstream_slots SET until = $1 WHERE holder = $2")
            .bind(ts(until))
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(renewed.rows_affected())
    }

    async fn free_upstream_slots(
        &self,
        connection: &str,
        holder: &str,
        slots: &[u32],
    ) -> Result<()> {
        let slots: Vec<i32> = slots.iter().map(|&s| s as i32).collect();
        sqlx::query(
            "DELETE FROM upstream_slots WHERE connection_id = $1 AND holder = $2 AND slot = ANY($3)",
        )
        .bind(connection)
        .bind(holder)
        .bind(&slots)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
