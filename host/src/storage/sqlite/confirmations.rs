//! [`ConfirmationStorage`] on SQLite.

use std::time::SystemTime;

use async_trait::async_trait;

use super::{SqliteStorage, time};
use crate::storage::Result;
use crate::storage::confirmations::{Confirmation, ConfirmationStorage};

#[async_trait]
impl ConfirmationStorage for SqliteStorage {
    async fn insert_confirmation(&self, c: &Confirmation, now: SystemTime) -> Result<()> {
        sqlx::query("DELETE FROM mcp_confirmations WHERE expires_at <= ?")
            .bind(time(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO mcp_confirmations (token_hash, connection_id, binding, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&c.token_hash[..])
        .bind(&c.connection_id)
        .bind(&c.binding)
        .bind(time(c.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_confirmation(
        &self,
        token_hash: &[u8; 32],
        connection: &str,
        now: SystemTime,
    ) -> Result<Option<String>> {
        let binding: Option<String> = sqlx::query_scalar(
            "DELETE FROM mcp_confirmations \
             WHERE token_hash = ? AND connection_id = ? AND expires_at > ? \
             RETURNING binding",
        )
        .bind(&token_hash[..])
        .bind(connection)
        .bind(time(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(binding)
    }
}
