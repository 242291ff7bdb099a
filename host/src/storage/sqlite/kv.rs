//! [`KvStorage`] on SQLite. SQLite has one writer at a time, which keeps
//! the quota without a lock of its own: a fill's count and insert are one
//! statement, and a write's count and upsert share one `BEGIN IMMEDIATE`
//! transaction (no other write between them).

use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStorage, parse_time, time};
use crate::storage::Result;
use crate::storage::kv::{KvRead, KvStorage};

/// The rows no call will read again at `?1`: expired values, and fills
/// that ended or whose time ran out.
const DEAD: &str =
    "expires_at <= ?1 OR (value IS NULL AND (filler IS NULL OR filling_until <= ?1))";

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

    /// Deletes the connection's dead rows.
    async fn kv_purge_connection<'e, E>(
        &self,
        executor: E,
        connection: &str,
        now: SystemTime,
    ) -> Result<()>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        sqlx::query(&format!(
            "DELETE FROM kv WHERE connection_id = ?2 AND ({DEAD})"
        ))
        .bind(time(now))
        .bind(connection)
        .execute(executor)
        .await?;
        Ok(())
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
        max_keys: usize,
    ) -> Result<KvRead> {
        if let Some(value) = self.kv_value(connection, key, now).await? {
            return Ok(KvRead::Value(value));
        }
        self.kv_purge_connection(&self.pool, connection, now)
            .await?;
        // A new row only while the connection has room for it.
        let filled = sqlx::query(
            "INSERT INTO kv (connection_id, key, filler, filling_until) \
             SELECT ?1, ?2, ?3, ?4 \
             WHERE (SELECT count(*) FROM kv WHERE connection_id = ?1 AND key <> ?2) < ?6 \
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
        .bind(max_keys as i64)
        .execute(&self.pool)
        .await?;
        if filled.rows_affected() == 1 {
            return Ok(KvRead::Fill);
        }
        if let Some(value) = self.kv_value(connection, key, now).await? {
            return Ok(KvRead::Value(value));
        }
        let row: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM kv WHERE connection_id = ? AND key = ?")
                .bind(connection)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(if row.is_some() {
            KvRead::Filling
        } else {
            KvRead::Full
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
        self.kv_purge_connection(&mut *tx, connection, now).await?;
        let others: i64 =
            sqlx::query_scalar("SELECT count(*) FROM kv WHERE connection_id = ? AND key <> ?")
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
        // A row being filled holds no value (a fill clears it).
        sqlx::query("DELETE FROM kv WHERE connection_id = ? AND key = ? AND filler IS NULL")
            .bind(connection)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn kv_release(&self, connection: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM kv WHERE connection_id = ? AND filler = ?")
            .bind(connection)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn kv_purge(&self, now: SystemTime) -> Result<u64> {
        let done = sqlx::query(&format!(
            "DELETE FROM kv WHERE {DEAD} OR connection_id IN \
             (SELECT id FROM connections WHERE status = 'disconnected')"
        ))
        .bind(time(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn kv_clear(&self, connection: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM kv WHERE connection_id = ?")
            .bind(connection)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
