//! [`RequestLogStorage`] on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PostgresStorage, collect, time_at, ts};
use crate::storage::Result;
use crate::storage::requests::*;

fn failed_request(row: &PgRow) -> std::result::Result<FailedRequest, sqlx::Error> {
    Ok(FailedRequest {
        request_id: row.try_get("request_id")?,
        at: time_at(row, "at")?,
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
impl RequestLogStorage for PostgresStorage {
    async fn record_failed_requests(&self, requests: &[FailedRequest], keep: u32) -> Result<()> {
        let mut tx = self.begin().await?;
        for r in requests {
            sqlx::query(
                "INSERT INTO failed_requests \
                 (request_id, at, method, path, status, code, message, connection_id, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&r.request_id)
            .bind(ts(r.at))
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
            "DELETE FROM failed_requests WHERE seq <= (SELECT MAX(seq) FROM failed_requests) - $1",
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
             WHERE ($1::text IS NULL OR request_id = $1) AND ($2::text IS NULL OR connection_id = $2) \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(filter.request_id)
        .bind(filter.connection_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        collect(rows, failed_request)
    }
}
