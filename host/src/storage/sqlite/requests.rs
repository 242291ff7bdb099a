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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn failed(request_id: &str, connection: Option<&str>, at: SystemTime) -> FailedRequest {
        FailedRequest {
            request_id: request_id.into(),
            at,
            method: "GET".into(),
            path: "/v1/vendors".into(),
            status: 502,
            code: "upstream_error".into(),
            message: "the system answered 500".into(),
            connection_id: connection.map(Into::into),
            duration_ms: 12,
        }
    }

    #[tokio::test]
    async fn keeps_the_newest_and_finds_them_by_request_id_and_connection() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("test.db"))
            .await
            .unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let batch: Vec<_> = (0..5)
            .map(|i| {
                let connection = (i % 2 == 0).then_some("c1");
                failed(&format!("r{i}"), connection, t0 + Duration::from_secs(i))
            })
            .collect();
        storage
            .record_failed_requests(&batch[..3], 4)
            .await
            .unwrap();
        storage
            .record_failed_requests(&batch[3..], 4)
            .await
            .unwrap();

        let all = storage
            .failed_requests(FailedRequestFilter::default(), 10)
            .await
            .unwrap();
        let ids: Vec<_> = all.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, ["r4", "r3", "r2", "r1"], "newest first, r0 forgotten");
        assert_eq!(all[0], batch[4], "stored as given");

        let by_id = FailedRequestFilter {
            request_id: Some("r3"),
            ..Default::default()
        };
        let found = storage.failed_requests(by_id, 10).await.unwrap();
        assert_eq!(found, [batch[3].clone()]);

        let of_c1 = FailedRequestFilter {
            connection_id: Some("c1"),
            ..Default::default()
        };
        let found = storage.failed_requests(of_c1, 1).await.unwrap();
        assert_eq!(found, [batch[4].clone()], "limited to 1");
    }
}
