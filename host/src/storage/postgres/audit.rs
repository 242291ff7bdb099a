//! [`AuditStorage`] on PostgreSQL.

use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::{PostgresStorage, collect};
use crate::storage::Result;
use crate::storage::audit::*;
use crate::storage::decode_text;

/// Rows per `INSERT`: 9 parameters each, under PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 1000;

fn entry(row: &PgRow) -> std::result::Result<AuditEntry, sqlx::Error> {
    let detail: String = row.try_get("detail")?;
    Ok(AuditEntry {
        seq: row.try_get::<i64, _>("seq")? as u64,
        at_us: row.try_get("at_us")?,
        kind: decode_text("kind", &row.try_get::<String, _>("kind")?)?,
        outcome: decode_text("outcome", &row.try_get::<String, _>("outcome")?)?,
        request_id: row.try_get("request_id")?,
        connection_id: row.try_get("connection_id")?,
        token_id: row.try_get("token_id")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
    })
}

/// One `INSERT` of `entries`.
fn insert(entries: &[AuditEntry]) -> QueryBuilder<'_, Postgres> {
    let mut insert = QueryBuilder::new(
        "INSERT INTO audit_log (at_us, kind, outcome, request_id, connection_id, \
         token_id, actor, action, detail) ",
    );
    insert.push_values(entries, |mut row, e| {
        row.push_bind(e.at_us)
            .push_bind(e.kind.as_str())
            .push_bind(e.outcome.as_str())
            .push_bind(&e.request_id)
            .push_bind(&e.connection_id)
            .push_bind(&e.token_id)
            .push_bind(&e.actor)
            .push_bind(&e.action)
            .push_bind(e.detail.to_string());
    });
    insert
}

#[async_trait]
impl AuditStorage for PostgresStorage {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        let mut chunks = entries.chunks(ROWS_PER_INSERT);
        if entries.len() <= ROWS_PER_INSERT {
            if let Some(chunk) = chunks.next() {
                insert(chunk).build().execute(&self.pool).await?;
            }
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in chunks {
            insert(chunk).build().execute(&mut *tx).await?;
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
        let (bound, order) = match page {
            AuditPage::Before(seq) => (
                format!("seq < {}", seq.map_or(i64::MAX, |s| s as i64)),
                "DESC",
            ),
            AuditPage::After(seq) => (format!("seq > {}", seq as i64), "ASC"),
        };
        let rows = sqlx::query(&format!(
            "SELECT seq, at_us, kind, outcome, request_id, connection_id, token_id, actor, action, detail \
             FROM audit_log WHERE {bound} \
             AND ($1::BIGINT IS NULL OR at_us >= $1) AND ($2::BIGINT IS NULL OR at_us < $2) \
             AND ($3::TEXT IS NULL OR connection_id = $3) AND ($4::TEXT IS NULL OR request_id = $4) \
             AND ($5::TEXT IS NULL OR kind = $5) AND ($6::TEXT IS NULL OR outcome = $6) \
             ORDER BY seq {order} LIMIT $7"
        ))
        .bind(filter.from_us)
        .bind(filter.to_us)
        .bind(&filter.connection_id)
        .bind(&filter.request_id)
        .bind(filter.kind.map(AuditKind::as_str))
        .bind(filter.outcome.map(AuditOutcome::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        collect(rows, entry)
    }

    async fn purge_audit(&self, before: SystemTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at_us < $1")
            .bind(micros(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
