//! [`ConnectionStorage`] on embedded SQLite (WAL), with migrations from `host/migrations`.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    Connection, ConnectionStorage, FieldMapping, IdempotencyClaim, LastError, Result, STALE_CLAIM,
    Status, StorageError, StoredToken,
};
use crate::manifest::CustomField;
use crate::storage::decode_text;

mod adapters;
mod audit;
mod confirmations;
mod kv;
mod limits;
mod notices;
mod requests;
mod sessions;
mod syncs;
mod tokens;
mod webhooks;

pub struct SqliteStorage {
    pool: SqlitePool,
}

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

fn parse_time(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Each of `rows`, read by `from`.
fn collect<T>(
    rows: Vec<SqliteRow>,
    from: fn(&SqliteRow) -> std::result::Result<T, sqlx::Error>,
) -> Result<Vec<T>> {
    rows.iter()
        .map(from)
        .collect::<std::result::Result<_, _>>()
        .map_err(StorageError)
}

impl SqliteStorage {
    /// Opens (creating if needed) the database file and migrates it.
    ///
    /// # Errors
    ///
    /// The path does not make an SQLite URL, the file cannot be opened or
    /// created, or a migration fails.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStorage { pool })
    }

    /// The pool, for the copy into PostgreSQL (`storage::copy`).
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock first,
    /// waiting for it under the busy timeout: a deferred transaction that
    /// reads and then writes fails at once with "database is locked" when
    /// another connection wrote in between (a sync page diffing against
    /// `records` while the webhook dispatcher claims deliveries).
    async fn begin(&self) -> Result<Transaction<'_, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// The statement that disconnects connection `?2` at `?1`, unless it was.
const DISCONNECT: &str = "UPDATE connections SET status = 'disconnected', \
     status_reason = 'disconnected by the customer', status_changed_at = ?1, disconnected_at = ?1 \
     WHERE id = ?2 AND status != 'disconnected'";

const CONNECTION_COLUMNS: &str = "id, adapter_id, adapter_version, status, config, credentials, account_id, account_name, \
     permissions, custom_fields, status_reason, status_changed_at, last_error_code, last_error_message, last_error_at, \
     last_error_request_id, created_at, disconnected_at, audit_bodies, field_mappings";

fn connection_from_row(row: &SqliteRow) -> std::result::Result<Connection, sqlx::Error> {
    let decode = |column: &str, e: serde_json::Error| sqlx::Error::ColumnDecode {
        index: column.into(),
        source: Box::new(e),
    };
    let config: String = row.try_get("config")?;
    let permissions: String = row.try_get("permissions")?;
    let custom_fields: String = row.try_get("custom_fields")?;
    let field_mappings: String = row.try_get("field_mappings")?;
    let status: String = row.try_get("status")?;
    let last_error = match row.try_get::<Option<String>, _>("last_error_code")? {
        Some(code) => Some(LastError {
            code,
            message: row
                .try_get::<Option<String>, _>("last_error_message")?
                .unwrap_or_default(),
            at: parse_time(
                &row.try_get::<Option<String>, _>("last_error_at")?
                    .unwrap_or_default(),
            ),
            request_id: row
                .try_get::<Option<String>, _>("last_error_request_id")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Connection {
        id: row.try_get("id")?,
        adapter_id: row.try_get("adapter_id")?,
        adapter_version: row.try_get("adapter_version")?,
        status: decode_text("status", &status)?,
        config: serde_json::from_str(&config).map_err(|e| decode("config", e))?,
        credentials: row.try_get("credentials")?,
        account_id: row.try_get("account_id")?,
        account_name: row.try_get("account_name")?,
        permissions: serde_json::from_str(&permissions).map_err(|e| decode("permissions", e))?,
        custom_fields: serde_json::from_str(&custom_fields)
            .map_err(|e| decode("custom_fields", e))?,
        status_reason: row.try_get("status_reason")?,
        status_changed_at: parse_time(&row.try_get::<String, _>("status_changed_at")?),
        last_error,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?),
        disconnected_at: row
            .try_get::<Option<String>, _>("disconnected_at")?
            .map(|t| parse_time(&t)),
        audit_bodies: row.try_get::<i64, _>("audit_bodies")? != 0,
        field_mappings: serde_json::from_str(&field_mappings)
            .map_err(|e| decode("field_mappings", e))?,
    })
}

#[async_trait]
impl ConnectionStorage for SqliteStorage {
    async fn create_connection(
        &self,
        c: &Connection,
        token: &StoredToken,
        token_hash: &[u8; 32],
        credits: u32,
        replaces: Option<&str>,
    ) -> Result<bool> {
        // The disconnect, the count and the insert share one write
        // transaction (`BEGIN IMMEDIATE`: one writer at a time), so two
        // creates cannot both take the last credit, nor another create the
        // replaced connection's.
        let mut tx = self.begin().await?;
        if let Some(old) = replaces {
            sqlx::query(DISCONNECT)
                .bind(time(c.created_at))
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        let used: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE status != 'disconnected'")
                .fetch_one(&mut *tx)
                .await?;
        if used >= i64::from(credits) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO connections (id, adapter_id, adapter_version, status, config, credentials, \
             account_id, account_name, permissions, custom_fields, status_changed_at, created_at, \
             field_mappings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.adapter_id)
        .bind(&c.adapter_version)
        .bind(c.status.as_str())
        .bind(serde_json::to_string(&c.config).expect("maps serialize"))
        .bind(&c.credentials)
        .bind(&c.account_id)
        .bind(&c.account_name)
        .bind(serde_json::to_string(&c.permissions).expect("lists serialize"))
        .bind(serde_json::to_string(&c.custom_fields).expect("lists serialize"))
        .bind(time(c.status_changed_at))
        .bind(time(c.created_at))
        .bind(serde_json::to_string(&c.field_mappings).expect("lists serialize"))
        .execute(&mut *tx)
        .await?;
        tokens::insert(&mut *tx, token, token_hash).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn connection(&self, id: &str) -> Result<Option<Connection>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(connection_from_row).transpose()?)
    }

    async fn connections(&self) -> Result<Vec<Connection>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY created_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(connection_from_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    fn shared(&self) -> bool {
        false
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn insert_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn credits_used(&self) -> Result<u32> {
        let used: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE status != 'disconnected'")
                .fetch_one(&self.pool)
                .await?;
        Ok(used as u32)
    }

    async fn set_status(
        &self,
        id: &str,
        status: Status,
        reason: &str,
        at: SystemTime,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET status = ?, status_reason = ?, status_changed_at = ? \
             WHERE id = ? AND status != 'disconnected'",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(time(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_error(&self, id: &str, e: &LastError) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET last_error_code = ?, last_error_message = ?, last_error_at = ?, \
             last_error_request_id = ? WHERE id = ?",
        )
        .bind(&e.code)
        .bind(&e.message)
        .bind(time(e.at))
        .bind(&e.request_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn disconnect(&self, id: &str, at: SystemTime) -> Result<bool> {
        let done = sqlx::query(DISCONNECT)
            .bind(time(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_audit_bodies(&self, id: &str, on: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE connections SET audit_bodies = ? WHERE id = ?")
            .bind(i64::from(on))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_field_mappings(&self, id: &str, mappings: &[FieldMapping]) -> Result<bool> {
        let done = sqlx::query("UPDATE connections SET field_mappings = ? WHERE id = ?")
            .bind(serde_json::to_string(mappings).expect("lists serialize"))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_custom_fields(&self, id: &str, custom_fields: &[CustomField]) -> Result<bool> {
        let done = sqlx::query("UPDATE connections SET custom_fields = ? WHERE id = ?")
            .bind(serde_json::to_string(custom_fields).expect("lists serialize"))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_counts(&self, connection: &str) -> Result<BTreeMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT entity, COUNT(*) AS n FROM records WHERE connection_id = ? GROUP BY entity",
        )
        .bind(connection)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("entity")?,
                    r.try_get::<i64, _>("n")? as u64,
                ))
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(StorageError)
    }

    async fn delete_records(&self, connection: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM records WHERE connection_id = ?")
            .bind(connection)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn claim_idempotency_key(
        &self,
        connection: &str,
        key: &str,
        request_hash: &str,
        now: SystemTime,
        expired_before: SystemTime,
    ) -> Result<IdempotencyClaim> {
        let mut tx = self.begin().await?;
        // A finished answer is kept for the whole window; a claim whose
        // request never finished (the host died mid-call) is given up after
        // `STALE_CLAIM`, so the key can be retried.
        let stale = expired_before.max(now - STALE_CLAIM);
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE connection_id = ? AND key = ? \
             AND (created_at < ? OR (status IS NULL AND created_at < ?))",
        )
        .bind(connection)
        .bind(key)
        .bind(time(expired_before))
        .bind(time(stale))
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (connection_id, key, request_hash, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (connection_id, key) DO NOTHING",
        )
        .bind(connection)
        .bind(key)
        .bind(request_hash)
        .bind(time(now))
        .execute(&mut *tx)
        .await?;
        let claim = if inserted.rows_affected() == 1 {
            IdempotencyClaim::Claimed
        } else {
            let row = sqlx::query("SELECT request_hash, status, response FROM idempotency_keys WHERE connection_id = ? AND key = ?")
                .bind(connection)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
            let hash: String = row.try_get("request_hash")?;
            match row.try_get::<Option<i64>, _>("status")? {
                _ if hash != request_hash => IdempotencyClaim::Mismatch,
                Some(status) => IdempotencyClaim::Replay {
                    status: status as u16,
                    response: row
                        .try_get::<Option<String>, _>("response")?
                        .unwrap_or_default(),
                },
                None => IdempotencyClaim::InFlight,
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    async fn complete_idempotency_key(
        &self,
        connection: &str,
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE idempotency_keys SET status = ?, response = ? WHERE connection_id = ? AND key = ?")
            .bind(i64::from(status))
            .bind(response)
            .bind(connection)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_idempotency_key(&self, connection: &str, key: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE connection_id = ? AND key = ? AND status IS NULL",
        )
        .bind(connection)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn storage_with_connection(dir: &Path) -> SqliteStorage {
        let storage = SqliteStorage::open(&dir.join("test.db")).await.unwrap();
        let now = SystemTime::now();
        let connection = Connection {
            id: "c1".into(),
            adapter_id: "example".into(),
            adapter_version: "1.0.0".into(),
            status: Status::Active,
            config: Default::default(),
            credentials: vec![1, 2, 3],
            account_id: "a".into(),
            account_name: "A".into(),
            permissions: vec![],
            custom_fields: vec![],
            status_reason: None,
            status_changed_at: now,
            last_error: None,
            created_at: now,
            disconnected_at: None,
            audit_bodies: false,
            field_mappings: vec![],
        };
        let token = |id: &str, connection: &str| StoredToken {
            id: id.into(),
            connection_id: connection.into(),
            name: "default".into(),
            scopes: vec!["read".into()],
            expires_at: None,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        assert!(
            storage
                .insert_connection(&connection, &token("t1", "c1"), &[7; 32], 1)
                .await
                .unwrap()
        );
        assert!(
            !storage
                .insert_connection(
                    &Connection {
                        id: "c2".into(),
                        ..connection
                    },
                    &token("t2", "c2"),
                    &[8; 32],
                    1
                )
                .await
                .unwrap(),
            "no credit left"
        );
        storage
    }

    #[tokio::test]
    async fn a_database_of_one_token_per_connection_is_migrated_to_the_tokens_table() {
        use crate::storage::TokenStorage;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        // The database as the host before tokens left it: migrations 1 to 6,
        // one connection whose token hash is a column of its row, and a
        // record that refers to it.
        {
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
                .unwrap()
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            let mut migrator = sqlx::migrate!("./migrations/sqlite");
            migrator.migrations = migrator.migrations[..6].to_vec().into();
            migrator.run(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO connections (id, adapter_id, adapter_version, status, config, credentials, \
                 token_hash, account_id, account_name, permissions, custom_fields, status_changed_at, created_at) \
                 VALUES ('c1', 'example', '1.0.0', 'active', '{}', x'01', x'0707070707070707070707070707070707070707070707070707070707070707', \
                 'a', 'A', '[]', '[]', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO records (connection_id, entity, record_id, data, content_hash, first_seen_at, last_modified_at) \
                 VALUES ('c1', 'vendors', '1', '{}', 'h', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }

        let storage = SqliteStorage::open(&path).await.unwrap();
        let (token, connection) = storage.token_by_hash(&[7; 32]).await.unwrap().unwrap();
        assert_eq!(connection.id, "c1");
        assert_eq!(connection.status, Status::Active);
        assert_eq!(token.name, "default");
        assert_eq!(
            token.scopes,
            ["read", "write", "passthrough", "syncs", "webhooks"]
        );
        assert!(token.id.starts_with("tok_"));
        assert_eq!(storage.record_counts("c1").await.unwrap()["vendors"], 1);
        // Foreign keys hold again, and point at the rebuilt table.
        let orphan = sqlx::query(
            "INSERT INTO records (connection_id, entity, record_id, data, content_hash, first_seen_at, last_modified_at) \
             VALUES ('nope', 'vendors', '2', '{}', 'h', 't', 't')",
        )
        .execute(&storage.pool)
        .await;
        assert!(orphan.is_err(), "a record of no connection is refused");
        let problems = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&storage.pool)
            .await
            .unwrap();
        assert!(problems.is_empty());
    }

    /// A transaction that reads and then writes while another connection
    /// writes (a sync page while the webhook dispatcher claims deliveries)
    /// waits for the write lock instead of failing with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_transaction_that_reads_first_is_not_refused_by_a_concurrent_writer() {
        let dir = tempfile::tempdir().unwrap();
        let storage = std::sync::Arc::new(storage_with_connection(dir.path()).await);
        let mut tx = storage.begin().await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, 1);
        let other = tokio::spawn({
            let storage = storage.clone();
            async move {
                sqlx::query("UPDATE connections SET account_name = 'C' WHERE id = 'c1'")
                    .execute(&storage.pool)
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::query("UPDATE connections SET account_name = 'B' WHERE id = 'c1'")
            .execute(&mut *tx)
            .await
            .expect("the transaction that began first writes");
        tx.commit().await.unwrap();
        other
            .await
            .unwrap()
            .expect("the other writer waited its turn");
    }
}
