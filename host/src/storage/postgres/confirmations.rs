//! [`ConfirmationStorage`] on PostgreSQL.

use std::time::SystemTime;

use async_trait::async_trait;

use super::{PostgresStorage, ts};
use crate::storage::Result;
use crate::storage::confirmations::{Confirmation, ConfirmationStorage};

#[async_trait]
impl ConfirmationStorage for PostgresStorage {
    async fn insert_confirmation(&self, c: &Confirmation, now: SystemTime) -> Result<()> {
        sqlx::query("DELETE FROM mcp_confirmations WHERE expires_at <= $1")
            .bind(ts(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO mcp_confirmations (token_hash, connection_id, binding, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&c.token_hash[..])
        .bind(&c.connection_id)
        .bind(&c.binding)
        .bind(ts(c.expires_at))
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
             WHERE token_hash = $1 AND connection_id = $2 AND expires_at > $3 \
             RETURNING binding",
        )
        .bind(&token_hash[..])
        .bind(connection)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(binding)
    }
}
