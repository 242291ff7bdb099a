//! [`ConnectionStorage`] on PostgreSQL, with migrations from `host/migrations/postgres`.
//!
//! The guarantees the SQLite store gets from its single writer hold here
//! across processes: connection credits are counted under a transaction-level
//! advisory lock (a replace disconnects the old connection under it too),
//! a connection's new kv keys and webhook subscriptions are counted against
//! their caps under an advisory lock of the connection, a sync run's page is committed with its run row locked and
//! its connection row shared (a disconnect waits for the page, and the next
//! page sees the disconnect), at most one run per connection and entity is
//! running (a unique index), and webhook deliveries are claimed with
//! `FOR UPDATE SKIP LOCKED`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;

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
mod tls;
mod tokens;
mod webhooks;

/// The advisory lock that serializes connection creates (credit counts).
const CREDITS_LOCK: i64 = 0x696c_6b5f_6372_6564; // "ilk_cred"

/// The classes of the advisory locks held per connection
/// ([`lock_connection`]): the two-key form, whose keys never meet the
/// one-key [`CREDITS_LOCK`].
const KV_KEYS_LOCK: i32 = 0x696c_6b76; // "ilkv"
const SUBSCRIPTIONS_LOCK: i32 = 0x696c_7773; // "ilws"

/// The statement that disconnects connection `$2` at `$1`, unless it was.
const DISCONNECT: &str = "UPDATE connections SET status = 'disconnected', \
     status_reason = 'disconnected by the customer', status_changed_at = $1, disconnected_at = $1 \
     WHERE id = $2 AND status != 'disconnected'";

/// Rows a node adds to `records` between two `ANALYZE`s of the table.
const ANALYZE_EVERY: u64 = 20_000;

pub struct PostgresStorage {
    pool: PgPool,
    /// Rows this node added to `records` since it last analyzed the table.
    added_since_analyze: std::sync::atomic::AtomicU64,
}

/// `t` as PostgreSQL stores it (`timestamptz`, to the microsecond).
fn ts(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// A column of type `timestamptz`.
fn time_at(row: &PgRow, column: &str) -> std::result::Result<SystemTime, sqlx::Error> {
    Ok(row.try_get::<OffsetDateTime, _>(column)?.into())
}

/// A nullable column of type `timestamptz`.
fn optional_time_at(
    row: &PgRow,
    column: &str,
) -> std::result::Result<Option<SystemTime>, sqlx::Error> {
    Ok(row
        .try_get::<Option<OffsetDateTime>, _>(column)?
        .map(Into::into))
}

/// The statement that claims idempotency key `key` of `connection` for a
/// request whose body hashes to `request_hash`, if no row holds the key.
fn claim_new_key<'q>(
    connection: &'q str,
    key: &'q str,
    request_hash: &'q str,
    now: SystemTime,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(
        "INSERT INTO idempotency_keys (connection_id, key, request_hash, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (connection_id, key) DO NOTHING",
    )
    .bind(connection)
    .bind(key)
    .bind(request_hash)
    .bind(ts(now))
}

/// Each of `rows`, read by `from`.
fn collect<T>(
    rows: Vec<PgRow>,
    from: fn(&PgRow) -> std::result::Result<T, sqlx::Error>,
) -> Result<Vec<T>> {
    rows.iter()
        .map(from)
        .collect::<std::result::Result<_, _>>()
        .map_err(StorageError)
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user:password@host/db`,
    /// over TLS as [`tls`] says) and migrates it. Several nodes may start at
    /// once: the migrator holds an advisory lock while it runs.
    ///
    /// # Errors
    ///
    /// When the URL does not parse, the server cannot be reached or refuses
    /// the connection (its certificate not verified by the CA file, say), or
    /// a migration fails.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let (options, warning) = tls::connect_options(url)?;
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        tracing::info!(
            sslmode = tls::name(options.get_ssl_mode()),
            "connecting to PostgreSQL"
        );
        // Each statement is planned for its parameters and the tables as
        // they are now: a plan cached while `records` was small (a
        // sequential scan) would otherwise serve it at any size.
        let options: PgConnectOptions = options.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStorage {
            pool,
            added_since_analyze: Default::default(),
        })
    }

    /// Counts rows added to `records`, and has the table analyzed (in the
    /// background) every [`ANALYZE_EVERY`] of them. Autovacuum analyzes it
    /// at most once a minute, while a first sync adds a hundred thousand
    /// rows in seconds; until the planner knows the table grew, it reads a
    /// page's stored hashes by scanning every record of the connection.
    fn note_added(&self, rows: u64) {
        use std::sync::atomic::Ordering;
        let added = self.added_since_analyze.fetch_add(rows, Ordering::Relaxed) + rows;
        if added >= ANALYZE_EVERY
            && self
                .added_since_analyze
                .compare_exchange(added, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let pool = self.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("ANALYZE records").execute(&pool).await {
                    tracing::warn!(error = %e, "could not analyze the records table");
                }
            });
        }
    }

    /// Makes a new, empty database on the server at `admin_url` (whose
    /// user may create databases) and answers its URL: how the tests and
    /// benchmarks get a database of their own.
    ///
    /// # Errors
    ///
    /// The server at `admin_url` cannot be reached or refuses the
    /// connection, the database cannot be created (its user may not create
    /// databases, say), or `admin_url` does not parse as a URL.
    pub async fn new_database(admin_url: &str) -> anyhow::Result<String> {
        use sqlx::Connection as _;
        let name = format!("interlink_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let mut url = url::Url::parse(admin_url)?;
        url.set_path(&name);
        Ok(url.to_string())
    }

    /// The pool, for the copy from SQLite (`storage::copy`).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'_, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// Takes, until `tx` ends, the advisory lock of `class` for `connection`:
/// transactions on every node that count one kind of a connection's rows
/// against a cap take it in turn, so two cannot both see room for the
/// last one. (Two connections whose ids share a hash share a lock: they
/// wait for each other, nothing more.)
async fn lock_connection(
    tx: &mut Transaction<'_, Postgres>,
    class: i32,
    connection: &str,
) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(class)
        .bind(connection)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

const CONNECTION_COLUMNS: &str = "id, adapter_id, adapter_version, status, config, credentials, account_id, account_name, \
     permissions, custom_fields, status_reason, status_changed_at, last_error_code, last_error_message, last_error_at, \
     last_error_request_id, created_at, disconnected_at, audit_bodies, field_mappings";

fn connection_from_row(row: &PgRow) -> std::result::Result<Connection, sqlx::Error> {
    let config: String = row.try_get("config")?;
    let permissions: String = row.try_get("permissions")?;
    let custom_fields: String = row.try_get("custom_fields")?;
    let field_mappings: String = row.try_get("field_mappings")?;
    let decode = |column: &str, e: serde_json::Error| sqlx::Error::ColumnDecode {
        index: column.into(),
        source: Box::new(e),
    };
    let status: String = row.try_get("status")?;
    let last_error = match row.try_get::<Option<String>, _>("last_error_code")? {
        Some(code) => Some(LastError {
            code,
            message: row
                .try_get::<Option<String>, _>("last_error_message")?
                .unwrap_or_default(),
            at: optional_time_at(row, "last_error_at")?.unwrap_or(SystemTime::UNIX_EPOCH),
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
        status_changed_at: time_at(row, "status_changed_at")?,
        last_error,
        created_at: time_at(row, "created_at")?,
        disconnected_at: optional_time_at(row, "disconnected_at")?,
        audit_bodies: row.try_get::<i64, _>("audit_bodies")? != 0,
        field_mappings: serde_json::from_str(&field_mappings)
            .map_err(|e| decode("field_mappings", e))?,
    })
}

#[async_trait]
impl ConnectionStorage for PostgresStorage {
    async fn create_connection(
        &self,
        c: &Connection,
        token: &StoredToken,
        token_hash: &[u8; 32],
        credits: u32,
        replaces: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Creates on every node take this lock in turn, so two cannot both
        // count the last credit as free.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CREDITS_LOCK)
            .execute(&mut *tx)
            .await?;
        // The replaced connection's credit is free to this create only: no
        // other create counts until this one commits (both rows) or rolls
        // back (the old connection still active).
        if let Some(old) = replaces {
            sqlx::query(DISCONNECT)
                .bind(ts(c.created_at))
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
             field_mappings) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
        .bind(ts(c.status_changed_at))
        .bind(ts(c.created_at))
        .bind(serde_json::to_string(&c.field_mappings).expect("lists serialize"))
        .execute(&mut *tx)
        .await?;
        tokens::insert(&mut *tx, token, token_hash).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn connection(&self, id: &str) -> Result<Option<Connection>> {
        let row = sqlx::query(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1"
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
        collect(rows, connection_from_row)
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
            "UPDATE connections SET status = $1, status_reason = $2, status_changed_at = $3 \
             WHERE id = $4 AND status != 'disconnected'",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(ts(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_error(&self, id: &str, e: &LastError) -> Result<()> {
        sqlx::query(
            "UPDATE connections SET last_error_code = $1, last_error_message = $2, last_error_at = $3, \
             last_error_request_id = $4 WHERE id = $5",
        )
        .bind(&e.code)
        .bind(&e.message)
        .bind(ts(e.at))
        .bind(&e.request_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn disconnect(&self, id: &str, at: SystemTime) -> Result<bool> {
        let done = sqlx::query(DISCONNECT)
            .bind(ts(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_audit_bodies(&self, id: &str, on: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE connections SET audit_bodies = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_field_mappings(&self, id: &str, mappings: &[FieldMapping]) -> Result<bool> {
        let done = sqlx::query("UPDATE connections SET field_mappings = $1 WHERE id = $2")
            .bind(serde_json::to_string(mappings).expect("lists serialize"))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_custom_fields(&self, id: &str, custom_fields: &[CustomField]) -> Result<bool> {
        let done = sqlx::query("UPDATE connections SET custom_fields = $1 WHERE id = $2")
            .bind(serde_json::to_string(custom_fields).expect("lists serialize"))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_counts(&self, connection: &str) -> Result<BTreeMap<String, u64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT entity, COUNT(*) FROM records WHERE connection_id = $1 GROUP BY entity",
        )
        .bind(connection)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(entity, n)| (entity, n as u64))
            .collect())
    }

    async fn delete_records(&self, connection: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM records WHERE connection_id = $1")
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
        // A new key, the usual case, is one statement; one in use is
        // looked at (and replaced when its claim has lapsed) in a
        // transaction.
        let inserted = claim_new_key(connection, key, request_hash, now)
            .execute(&self.pool)
            .await?;
        if inserted.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let mut tx = self.begin().await?;
        let stale = expired_before.max(now - STALE_CLAIM);
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE connection_id = $1 AND key = $2 \
             AND (created_at < $3 OR (status IS NULL AND created_at < $4))",
        )
        .bind(connection)
        .bind(key)
        .bind(ts(expired_before))
        .bind(ts(stale))
        .execute(&mut *tx)
        .await?;
        // A second claim of the same key waits here for the first one's
        // transaction, then finds its row.
        let inserted = claim_new_key(connection, key, request_hash, now)
            .execute(&mut *tx)
            .await?;
        let claim = if inserted.rows_affected() == 1 {
            IdempotencyClaim::Claimed
        } else {
            let (hash, status, response): (String, Option<i64>, Option<String>) = sqlx::query_as(
                "SELECT request_hash, status, response FROM idempotency_keys \
                     WHERE connection_id = $1 AND key = $2",
            )
            .bind(connection)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            match status {
                _ if hash != request_hash => IdempotencyClaim::Mismatch,
                Some(status) => IdempotencyClaim::Replay {
                    status: status as u16,
                    response: response.unwrap_or_default(),
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
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, response = $2 WHERE connection_id = $3 AND key = $4",
        )
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
            "DELETE FROM idempotency_keys WHERE connection_id = $1 AND key = $2 AND status IS NULL",
        )
        .bind(connection)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn insert_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
