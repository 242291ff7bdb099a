//! [`LimitStorage`] on SQLite.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStorage, parse_time, time};
use crate::rate_limit::{self, Left};
use crate::storage::Result;
use crate::storage::limits::LimitStorage;

#[async_trait]
impl LimitStorage for SqliteStorage {
    async fn spend_budget(
        &self,
        key: &str,
        per_minute: u32,
        now: SystemTime,
        cost: f64,
    ) -> Result<std::result::Result<Left, Duration>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO budgets (key, tokens, at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET key = key RETURNING tokens, at",
        )
        .bind(key)
        .bind(f64::from(per_minute))
        .bind(time(now))
        .fetch_one(&mut *tx)
        .await?;
        let mut tokens: f64 = row.try_get("tokens")?;
        let at = parse_time(&row.try_get::<String, _>("at")?);
        let elapsed = now.duration_since(at).unwrap_or_default();
        let spent = rate_limit::spend(&mut tokens, elapsed, per_minute, cost);
        sqlx::query("UPDATE budgets SET tokens = ?, at = ? WHERE key = ?")
            .bind(tokens)
            .bind(time(now.max(at)))
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(spent)
    }

    async fn take_upstream_slot(
        &self,
        connection: &str,
        slots: u32,
        holder: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Option<u32>> {
        if slots == 0 {
            return Ok(None);
        }
        let taken: Option<i64> = sqlx::query_scalar(
            "WITH RECURSIVE series (slot) AS (SELECT 0 UNION ALL SELECT slot + 1 FROM series WHERE slot + 1 < ?2), \
             free AS (SELECT slot FROM series WHERE NOT EXISTS (SELECT 1 FROM upstream_slots u \
                 WHERE u.connection_id = ?1 AND u.slot = series.slot AND u.until > ?4) LIMIT 1) \
             INSERT INTO upstream_slots (connection_id, slot, holder, until) \
             SELECT ?1, slot, ?3, ?5 FROM free WHERE true \
             ON CONFLICT (connection_id, slot) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE upstream_slots.until <= ?4 \
             RETURNING slot",
        )
        .bind(connection)
        .bind(i64::from(slots))
        .bind(holder)
        .bind(time(now))
        .bind(time(until))
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.map(|slot| slot as u32))
    }

    async fn renew_upstream_slots(&self, holder: &str, until: SystemTime) -> Result<u64> {
        let renewed = sqlx::query("UPDATE upstream_slots SET until = ? WHERE holder = ?")
            .bind(time(until))
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
        let slots = serde_json::to_string(slots).expect("numbers serialize");
        sqlx::query(
            "DELETE FROM upstream_slots WHERE connection_id = ? AND holder = ? \
             AND slot IN (SELECT value FROM json_each(?))",
        )
        .bind(connection)
        .bind(holder)
        .bind(slots)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
