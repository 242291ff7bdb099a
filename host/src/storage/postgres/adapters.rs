//! [`AdapterStorage`] on PostgreSQL.

use std::time::SystemTime;

use async_trait::async_trait;

use super::{PostgresStorage, ts};
use crate::storage::Result;
use crate::storage::adapters::AdapterStorage;

#[async_trait]
impl AdapterStorage for PostgresStorage {
    async fn put_adapter(
        &self,
        adapter: &str,
        sha256: &str,
        component: &[u8],
        at: SystemTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO adapter_components (sha256, component) VALUES ($1, $2) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(component)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO adapters (adapter_id, sha256, uploaded_at) VALUES ($1, $2, $3) \
             ON CONFLICT (adapter_id) DO UPDATE SET sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at",
        )
        .bind(adapter)
        .bind(sha256)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn adapter_versions(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT adapter_id, sha256 FROM adapters ORDER BY adapter_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn adapter_component(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT component FROM adapter_components WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
