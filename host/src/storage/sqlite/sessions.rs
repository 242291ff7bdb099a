//! [`SessionStorage`] on SQLite.

use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStorage, parse_time, time};
use crate::storage::Result;
use crate::storage::sessions::*;

const CONNECT_COLUMNS: &str = "id, adapter_id, replaces, created_at, expires_at, used_at, \
     connection_id, sealed_token, failed_attempts, platform_key_for, field_requests, presets";

fn connect_session(row: &SqliteRow) -> std::result::Result<ConnectSession, sqlx::Error> {
    Ok(ConnectSession {
        id: row.try_get("id")?,
        adapter_id: row.try_get("adapter_id")?,
        replaces: row.try_get("replaces")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?),
        expires_at: parse_time(&row.try_get::<String, _>("expires_at")?),
        used_at: row
            .try_get::<Option<String>, _>("used_at")?
            .map(|t| parse_time(&t)),
        connection_id: row.try_get("connection_id")?,
        sealed_token: row.try_get("sealed_token")?,
        failed_attempts: row
            .try_get::<i64, _>("failed_attempts")?
            .try_into()
            .unwrap_or(u32::MAX),
        platform_key_for: row
            .try_get::<Option<String>, _>("platform_key_for")?
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        field_requests: serde_json::from_str(&row.try_get::<String, _>("field_requests")?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        presets: serde_json::from_str(&row.try_get::<String, _>("presets")?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

/// The platform-key binding as stored: JSON, or NULL.
fn platform_key_for(s: &ConnectSession) -> Option<String> {
    s.platform_key_for
        .as_ref()
        .map(|values| serde_json::to_string(values).expect("a map of strings serializes"))
}

#[async_trait]
impl SessionStorage for SqliteStorage {
    async fn insert_connect_session(
        &self,
        s: &ConnectSession,
        secret_hash: &[u8; 32],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO connect_sessions \
             (id, secret_hash, adapter_id, replaces, created_at, expires_at, platform_key_for, \
             field_requests, presets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&secret_hash[..])
        .bind(&s.adapter_id)
        .bind(&s.replaces)
        .bind(time(s.created_at))
        .bind(time(s.expires_at))
        .bind(platform_key_for(s))
        .bind(serde_json::to_string(&s.field_requests).expect("a list serializes"))
        .bind(serde_json::to_string(&s.presets).expect("a map serializes"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECT_COLUMNS} FROM connect_sessions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(connect_session).transpose()?)
    }

    async fn connect_session_by_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<ConnectSession>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECT_COLUMNS} FROM connect_sessions WHERE secret_hash = ?"
        ))
        .bind(&secret_hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(connect_session).transpose()?)
    }

    async fn use_connect_session(&self, id: &str, at: SystemTime, max_failed: u32) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connect_sessions SET used_at = ? \
             WHERE id = ? AND used_at IS NULL AND failed_attempts < ?",
        )
        .bind(time(at))
        .bind(id)
        .bind(i64::from(max_failed))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn clear_field_requests(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE connect_sessions SET field_requests = '[]' WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn fail_connect_session(&self, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE connect_sessions SET used_at = NULL, failed_attempts = failed_attempts + 1 \
             WHERE id = ? AND connection_id IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn complete_connect_session(
        &self,
        id: &str,
        connection_id: &str,
        sealed_token: &[u8],
    ) -> Result<()> {
        sqlx::query("UPDATE connect_sessions SET connection_id = ?, sealed_token = ? WHERE id = ?")
            .bind(connection_id)
            .bind(sealed_token)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_connect_token(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let mut tx = self.begin().await?;
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT sealed_token FROM connect_sessions WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("UPDATE connect_sessions SET sealed_token = NULL WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.and_then(|(token,)| token))
    }

    async fn insert_dashboard_session(
        &self,
        id_hash: &[u8; 32],
        s: &DashboardSession,
        now: SystemTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO dashboard_sessions (id_hash, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&id_hash[..])
        .bind(&s.csrf_token)
        .bind(time(now))
        .bind(time(s.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn dashboard_session(
        &self,
        id_hash: &[u8; 32],
        now: SystemTime,
    ) -> Result<Option<DashboardSession>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT csrf_token, expires_at FROM dashboard_sessions WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(&id_hash[..])
        .bind(time(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(csrf_token, expires_at)| DashboardSession {
            csrf_token,
            expires_at: parse_time(&expires_at),
        }))
    }

    async fn delete_dashboard_session(&self, id_hash: &[u8; 32], now: SystemTime) -> Result<()> {
        sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = ? OR expires_at <= ?")
            .bind(&id_hash[..])
            .bind(time(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
