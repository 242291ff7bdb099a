//! [`TokenStorage`] on SQLite.

use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{CONNECTION_COLUMNS, SqliteStorage, collect, connection_from_row, parse_time, time};
use crate::storage::decode_text;
use crate::storage::tokens::{StoredToken, TokenStorage};
use crate::storage::{Connection, Result, Status};

const TOKEN_COLUMNS: &str = "t.id AS token_id, t.connection_id, t.name, t.scopes, t.expires_at, \
     t.created_at AS token_created_at, t.last_used_at, t.revoked_at";

fn token_from_row(row: &SqliteRow) -> std::result::Result<StoredToken, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    let optional_time = |column: &str| -> std::result::Result<_, sqlx::Error> {
        Ok(row
            .try_get::<Option<String>, _>(column)?
            .map(|t| parse_time(&t)))
    };
    Ok(StoredToken {
        id: row.try_get("token_id")?,
        connection_id: row.try_get("connection_id")?,
        name: row.try_get("name")?,
        scopes: serde_json::from_str(&scopes).map_err(|e| sqlx::Error::ColumnDecode {
            index: "scopes".into(),
            source: Box::new(e),
        })?,
        expires_at: optional_time("expires_at")?,
        created_at: parse_time(&row.try_get::<String, _>("token_created_at")?),
        last_used_at: optional_time("last_used_at")?,
        revoked_at: optional_time("revoked_at")?,
    })
}

/// Inserts `token` within a transaction or on the pool.
pub(super) async fn insert<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    t: &StoredToken,
    token_hash: &[u8; 32],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO connection_tokens (id, connection_id, name, token_hash, scopes, expires_at, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.id)
    .bind(&t.connection_id)
    .bind(&t.name)
    .bind(&token_hash[..])
    .bind(serde_json::to_string(&t.scopes).expect("lists serialize"))
    .bind(t.expires_at.map(time))
    .bind(time(t.created_at))
    .execute(executor)
    .await?;
    Ok(())
}

#[async_trait]
impl TokenStorage for SqliteStorage {
    async fn insert_token(
        &self,
        token: &StoredToken,
        token_hash: &[u8; 32],
        max_live: usize,
    ) -> Result<bool> {
        // `BEGIN IMMEDIATE`: the write lock is held from the count to the insert.
        let mut tx = self.begin().await?;
        let (live,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM connection_tokens WHERE connection_id = ? AND revoked_at IS NULL",
        )
        .bind(&token.connection_id)
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= max_live {
            return Ok(false);
        }
        insert(&mut *tx, token, token_hash).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn tokens(&self, connection: &str) -> Result<Vec<StoredToken>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM connection_tokens t WHERE t.connection_id = ? \
             ORDER BY t.created_at, t.id"
        ))
        .bind(connection)
        .fetch_all(&self.pool)
        .await?;
        collect(rows, token_from_row)
    }

    async fn token_by_hash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(StoredToken, Connection)>> {
        let columns = CONNECTION_COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS}, {columns} FROM connection_tokens t \
             JOIN connections c ON c.id = t.connection_id WHERE t.token_hash = ?"
        ))
        .bind(&token_hash[..])
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|row| Ok::<_, sqlx::Error>((token_from_row(&row)?, connection_from_row(&row)?)))
            .transpose()?)
    }

    async fn token_state(&self, token_hash: &[u8; 32]) -> Result<Option<(Status, bool)>> {
        let row = sqlx::query(
            "SELECT c.status, t.revoked_at IS NOT NULL AS revoked FROM connection_tokens t \
             JOIN connections c ON c.id = t.connection_id WHERE t.token_hash = ?",
        )
        .bind(&token_hash[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        let status = decode_text("status", &status)?;
        Ok(Some((status, row.try_get("revoked")?)))
    }

    async fn revoke_token(&self, connection: &str, id: &str, at: SystemTime) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE connection_tokens SET revoked_at = ? \
             WHERE connection_id = ? AND id = ? AND revoked_at IS NULL",
        )
        .bind(time(at))
        .bind(connection)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_tokens(&self, used: &[(String, SystemTime)]) -> Result<()> {
        let mut tx = self.begin().await?;
        for (id, at) in used {
            // RFC 3339 times in UTC with fixed digits compare as text.
            sqlx::query(
                "UPDATE connection_tokens SET last_used_at = ?1 \
                 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)",
            )
            .bind(time(*at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
