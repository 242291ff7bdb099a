//! [`KvStorage`] on SQLite.

use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStorage, parse_time, time};
use crate::storage::Result;
use crate::storage::kv::{KvRead, KvStorage};

impl SqliteStorage {
    /// The live value of `key`, if it holds one at `now`.
    async fn kv_value(
        &self,
        connection: &str,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<Vec<u8>>> {
        let row =
            sqlx::query("SELECT value, expires_at FROM kv WHERE connection_id = ? AND key = ?")
                .bind(connection)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: Option<String> = row.try_get("expires_at")?;
        if expires_at.is_some_and(|t| parse_time(&t) <= now) {
            return Ok(None);
        }
        Ok(row.try_get("value")?)
    }
}

#[async_trait]
impl KvStorage for SqliteStorage {
    async fn kv_get(
        &self,
        connection: &str,
        key: &str,
        holder: &str,
        now: SystemTime,
        fill_until: SystemTime,
    ) -> Result<KvRead> {
        if let Some(value) = self.kv_value(connection, key, now).await? {
            return Ok(KvRead::Value(value));
        }
        let filled = sqlx::query(
            "INSERT INTO kv (connection_id, key, filler, filling_until) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (connection_id, key) DO UPDATE \
             SET value = NULL, expires_at = NULL, filler = ?3, filling_until = ?4 \
             WHERE (kv.value IS NULL OR kv.expires_at <= ?5) \
             AND (kv.filler IS NULL OR kv.filling_until <= ?5 OR kv.filler = ?3)",
        )
        .bind(connection)
        .bind(key)
        .bind(holder)
        .bind(time(fill_until))
        .bind(time(now))
        .execute(&self.pool)
        .await?;
        if filled.rows_affected() == 1 {
            return Ok(KvRead::Fill);
        }
        Ok(match self.kv_value(connection, key, now).await? {
            Some(value) => KvRead::Value(value),
            None => KvRead::Filling,
        })
    }

    async fn kv_set(
        &self,
        connection: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<SystemTime>,
        now: SystemTime,
        max_keys: usize,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM kv WHERE connection_id = ?1 AND key <> ?2 AND (expires_at <= ?3 \
             OR (value IS NULL AND (filler IS NULL OR filling_until <= ?3)))",
        )
        .bind(connection)
        .bind(key)
        .bind(time(now))
        .execute(&mut *tx)
        .await?;
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM kv WHERE connection_id = ? AND key <> ? AND value IS NOT NULL",
        )
        .bind(connection)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        if others as usize >= max_keys {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO kv (connection_id, key, value, expires_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (connection_id, key) DO UPDATE \
             SET value = ?3, expires_at = ?4, filler = NULL, filling_until = NULL",
        )
        .bind(connection)
        .bind(key)
        .bind(value)
        .bind(expires_at.map(time))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn kv_delete(&self, connection: &str, key: &str) -> Result<()> {
        sqlx::query(
            "UPDATE kv SET value = NULL, expires_at = NULL WHERE connection_id = ? AND key = ?",
        )
        .bind(connection)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn kv_release(&self, connection: &str, holder: &str) -> Result<()> {
        sqlx::query(
            "UPDATE kv SET filler = NULL, filling_until = NULL WHERE connection_id = ? AND filler = ?",
        )
        .bind(connection)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
