//! [`AuditStorage`] on SQLite.

use std::time::SystemTime;

use async_trait::async_trait;

use super::{SqliteStorage, collect};
use crate::storage::Result;
use crate::storage::audit::*;
use sqlx::Sqlite;

#[async_trait]
impl AuditStorage for SqliteStorage {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        let mut chunks = entries.chunks(ROWS_PER_INSERT);
        if entries.len() <= ROWS_PER_INSERT {
            if let Some(chunk) = chunks.next() {
                insert_entries::<Sqlite>(chunk)
                    .build()
                    .persistent(chunk.len() == ROWS_PER_INSERT)
                    .execute(&self.pool)
                    .await?;
            }
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in chunks {
            insert_entries::<Sqlite>(chunk)
                .build()
                .persistent(chunk.len() == ROWS_PER_INSERT)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit(
        &self,
        filter: &AuditFilter,
        page: AuditPage,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        // Two statements, one per direction: the cursor is a parameter, not
        // text, so that a connection keeps no statement per page read.
        let (cmp, order, seq) = match page {
            AuditPage::Before(seq) => ("<", "DESC", seq.map_or(i64::MAX, |s| s as i64)),
            AuditPage::After(seq) => (">", "ASC", seq as i64),
        };
        let rows = sqlx::query(&format!(
            "SELECT seq, at_us, kind, outcome, request_id, connection_id, token_id, actor, action, detail \
             FROM audit_log WHERE seq {cmp} ?8 \
             AND (?1 IS NULL OR at_us >= ?1) AND (?2 IS NULL OR at_us < ?2) \
             AND (?3 IS NULL OR connection_id = ?3) AND (?4 IS NULL OR request_id = ?4) \
             AND (?5 IS NULL OR kind = ?5) AND (?6 IS NULL OR outcome = ?6) \
             ORDER BY seq {order} LIMIT ?7"
        ))
        .bind(filter.from_us)
        .bind(filter.to_us)
        .bind(&filter.connection_id)
        .bind(&filter.request_id)
        .bind(filter.kind.map(AuditKind::as_str))
        .bind(filter.outcome.map(AuditOutcome::as_str))
        .bind(i64::from(limit))
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        collect(rows, |row| entry_from_row(row))
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at_us < ?")
            .bind(micros(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
