//! [`RequestLogStorage`] on SQLite.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStorage, collect, parse_time, time};
use crate::storage::Result;
use crate::storage::requests::*;

fn failed_request(row: &SqliteRow) -> std::result::Result<FailedRequest, sqlx::Error> {
    Ok(FailedRequest {
        request_id: row.try_get("request_id")?,
        at: parse_time(&row.try_get::<String, _>("at")?),
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        status: row.try_get::<i64, _>("status")? as u16,
        code: row.try_get("code")?,
        message: row.try_get("message")?,
        connection_id: row.try_get("connection_id")?,
        duration_ms: row.try_get::<i64, _>("duration_ms")? as u64,
    })
}

#[async_trait]
impl RequestLogStorage for SqliteStorage {
    async fn record_failed_requests(&self, requests: &[FailedRequest], keep: u32) -> Result<()> {
        let mut tx = self.begin().await?;
        for r in requests {
            sqlx::query(
                "INSERT INTO failed_requests \
                 (request_id, at, method, path, status, code, message, connection_id, duration_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.request_id)
            .bind(time(r.at))
            .bind(&r.method)
            .bind(&r.path)
            .bind(i64::from(r.status))
            .bind(&r.code)
            .bind(&r.message)
            .bind(&r.connection_id)
            .bind(i64::try_from(r.duration_ms).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "DELETE FROM failed_requests WHERE seq <= (SELECT MAX(seq) FROM failed_requests) - ?",
        )
        .bind(i64::from(keep))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn failed_requests(
        &self,
        filter: FailedRequestFilter<'_>,
        limit: u32,
    ) -> Result<Vec<FailedRequest>> {
        let rows = sqlx::query(
            "SELECT request_id, at, method, path, status, code, message, connection_id, duration_ms \
             FROM failed_requests \
             WHERE (?1 IS NULL OR request_id = ?1) AND (?2 IS NULL OR connection_id = ?2) \
             ORDER BY seq DESC LIMIT ?3",
        )
        .bind(filter.request_id)
        .bind(filter.connection_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        collect(rows, failed_request)
    }
}
