//! The host's database, behind one interface ([`Store`]) with two
//! implementations: [`sqlite::SqliteStorage`], the embedded default, and
//! [`postgres::PostgresStorage`], which several nodes can share. The same
//! tests (`tests/`) run against both.
//!
//! Storage sits below every domain module: its types ([`Connection`],
//! [`syncs::Run`], ...) are its own, and it imports only the manifest model.

/// An enum the database keeps as text, written once: `as_str` gives its
/// stored form, and `FromStr` reads it back, refusing text it does not know
/// ([`UnknownText`]: a damaged row, or a newer host's value) rather than
/// guessing.
macro_rules! stored_as_text {
    ($name:ident { $($variant:ident = $text:literal,)+ }) => {
        impl $name {
            /// How the database stores it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::storage::UnknownText;

            fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::storage::UnknownText {
                        kind: stringify!($name),
                        text: text.to_string(),
                    }),
                }
            }
        }
    };
}

pub mod adapters;
pub mod audit;
pub mod confirmations;
pub mod connections;
pub mod copy;
pub mod kv;
pub mod limits;
pub mod notices;
pub mod postgres;
pub mod requests;
pub mod sessions;
pub mod sqlite;
pub mod syncs;
#[cfg(test)]
mod tests;
pub mod tokens;
pub mod webhooks;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::manifest::CustomField;

pub use adapters::AdapterStorage;
pub use audit::AuditStorage;
pub use confirmations::ConfirmationStorage;
pub use connections::{Connection, FieldMapping, LastError, Status};
pub use kv::{KvRead, KvStorage};
pub use limits::LimitStorage;
pub use notices::{Heard, Notice, NoticeListener, NoticeStorage};
pub use requests::RequestLogStorage;
pub use sessions::SessionStorage;
pub use syncs::SyncStorage;
pub use tokens::{StoredToken, TokenStorage};
pub use webhooks::WebhookStorage;

#[derive(Debug, Error)]
#[error("storage: {0}")]
pub struct StorageError(#[from] pub sqlx::Error);

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Text in a column that no value of its enum is stored as.
#[derive(Debug, Error)]
#[error("`{text}` is no {kind}")]
pub struct UnknownText {
    pub kind: &'static str,
    pub text: String,
}

/// The value of enum `T` stored as `text` in `column`, or a decode error
/// naming the column.
///
/// # Errors
///
/// `text` is not how any value of `T` is stored.
pub fn decode_text<T>(column: &str, text: &str) -> std::result::Result<T, sqlx::Error>
where
    T: std::str::FromStr<Err = UnknownText>,
{
    text.parse()
        .map_err(|e: UnknownText| sqlx::Error::ColumnDecode {
            index: column.into(),
            source: Box::new(e),
        })
}

/// How long an unfinished idempotency claim holds its key: longer than any
/// call may take.
const STALE_CLAIM: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// What an idempotency key already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new (or expired): this request owns it.
    Claimed,
    /// A request with this key and this body finished: its answer.
    Replay { status: u16, response: String },
    /// A request with this key and this body is still in flight.
    InFlight,
    /// The key was used with another body.
    Mismatch,
}

/// Everything the host keeps.
#[async_trait]
pub trait ConnectionStorage: Send + Sync + 'static {
    /// Stores a new connection with its first token if fewer than
    /// `credits` connections hold a credit (any not disconnected); answers
    /// whether it did. Creates on every node sharing the database are
    /// counted in turn: two never both take the last credit.
    async fn insert_connection(
        &self,
        connection: &Connection,
        token: &StoredToken,
        token_hash: &[u8; 32],
        credits: u32,
    ) -> Result<bool> {
        self.create_connection(connection, token, token_hash, credits, None)
            .await
    }
    /// As [`Self::insert_connection`]; with `replaces`, that connection is
    /// disconnected in the same transaction, before the credits are
    /// counted: its credit goes to this connection and no other create's.
    /// When no credit is free even so, nothing changes (`replaces` stays
    /// as it was). What follows a disconnect is the caller's, once this
    /// answers.
    async fn create_connection(
        &self,
        connection: &Connection,
        token: &StoredToken,
        token_hash: &[u8; 32],
        credits: u32,
        replaces: Option<&str>,
    ) -> Result<bool>;
    async fn connection(&self, id: &str) -> Result<Option<Connection>>;
    /// Every connection, newest first.
    async fn connections(&self) -> Result<Vec<Connection>>;
    /// Connections that hold a credit.
    async fn credits_used(&self) -> Result<u32>;
    /// Moves a connection that is not disconnected to `status`.
    async fn set_status(
        &self,
        id: &str,
        status: Status,
        reason: &str,
        at: SystemTime,
    ) -> Result<()>;
    async fn record_error(&self, id: &str, error: &LastError) -> Result<()>;
    /// Disconnects; answers false if it already was.
    async fn disconnect(&self, id: &str, at: SystemTime) -> Result<bool>;
    /// Sets whether the audit trail keeps the bodies of the connection's
    /// upstream exchanges; answers whether the connection exists.
    async fn set_audit_bodies(&self, id: &str, on: bool) -> Result<bool>;
    /// Replaces the connection's field mappings; answers whether the
    /// connection exists.
    async fn set_field_mappings(&self, id: &str, mappings: &[FieldMapping]) -> Result<bool>;
    /// Keeps the custom fields the account has now (described again);
    /// answers whether the connection exists.
    async fn set_custom_fields(&self, id: &str, custom_fields: &[CustomField]) -> Result<bool>;
    /// Stored records per entity.
    async fn record_counts(&self, connection: &str) -> Result<BTreeMap<String, u64>>;
    /// Deletes every stored record of a connection; answers how many.
    async fn delete_records(&self, connection: &str) -> Result<u64>;
    /// Claims `key` for a request whose body hashes to `request_hash`;
    /// answers older than `expired_before` no longer count, nor do claims
    /// whose request never finished after a few minutes.
    async fn claim_idempotency_key(
        &self,
        connection: &str,
        key: &str,
        request_hash: &str,
        now: SystemTime,
        expired_before: SystemTime,
    ) -> Result<IdempotencyClaim>;
    /// Records the answer to a claimed key.
    async fn complete_idempotency_key(
        &self,
        connection: &str,
        key: &str,
        status: u16,
        response: &str,
    ) -> Result<()>;
    /// Gives a claimed key up (the request failed; a retry may run again).
    async fn release_idempotency_key(&self, connection: &str, key: &str) -> Result<()>;
    /// Whether several nodes may share this database: then what a node
    /// remembers (a token's connection) is kept current by the notices of
    /// the others ([`NoticeStorage`]), and limits are kept in it
    /// ([`LimitStorage`]).
    fn shared(&self) -> bool;
    /// A value the host keeps about itself.
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `name` unless a value is there already.
    async fn insert_setting(&self, name: &str, value: &[u8]) -> Result<()>;
}

/// Everything the host keeps: connections and their tokens and records,
/// syncs, webhooks, connect and dashboard sessions, failed requests, and
/// the state calls share (kv stores, budgets, upstream slots), uploaded
/// adapters, the MCP door's confirm tokens, and the audit trail.
pub trait Store:
    ConnectionStorage
    + TokenStorage
    + SyncStorage
    + WebhookStorage
    + SessionStorage
    + RequestLogStorage
    + KvStorage
    + LimitStorage
    + NoticeStorage
    + AdapterStorage
    + ConfirmationStorage
    + AuditStorage
{
}

impl<T> Store for T where
    T: ConnectionStorage
        + TokenStorage
        + SyncStorage
        + WebhookStorage
        + SessionStorage
        + RequestLogStorage
        + KvStorage
        + LimitStorage
        + NoticeStorage
        + AdapterStorage
        + ConfirmationStorage
        + AuditStorage
{
}

/// The hash that tells a changed record from an unchanged one: SHA-256 of
/// its JSON, in hex.
pub fn content_hash(json: &str) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// Where the host keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file: one node.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its URL (`postgres://user:password@host/name`).
    Postgres(String),
}

impl DatabaseUrl {
    /// A `--database-url`: `postgres://` or `postgresql://`, or `sqlite://`
    /// and a path.
    ///
    /// # Errors
    ///
    /// `url` starts with none of `postgres://`, `postgresql://` and
    /// `sqlite://` (the message shows it without its password).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else {
            anyhow::bail!(
                "unsupported database URL (expected postgres://... or sqlite://...): {}",
                DatabaseUrl::Postgres(url.to_string())
            )
        }
    }
}

/// The database without its password, for logs and errors.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "{}", path.display()),
            DatabaseUrl::Postgres(url) => match url::Url::parse(url) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    write!(f, "{url}")
                }
                Err(_) => f.write_str("(a URL that does not parse)"),
            },
        }
    }
}

/// Opens (creating and migrating) the database for a node that serves it:
/// SQLite for one node, PostgreSQL for any number.
///
/// # Errors
///
/// As [`sqlite::SqliteStorage::open`] or
/// [`postgres::PostgresStorage::open`].
pub async fn open(database: &DatabaseUrl) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match database {
        DatabaseUrl::Sqlite(path) => Arc::new(sqlite::SqliteStorage::open(path).await?),
        DatabaseUrl::Postgres(url) => Arc::new(postgres::PostgresStorage::open(url).await?),
    })
}

#[cfg(test)]
mod database_tests {
    use super::DatabaseUrl;

    #[test]
    fn database_urls_parse_and_show_without_their_password() {
        let postgres = DatabaseUrl::parse("postgres://interlink:s3cret@db.internal:5432/interlink");
        assert_eq!(
            postgres.unwrap().to_string(),
            "postgres://interlink:***@db.internal:5432/interlink"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/interlink.db").unwrap(),
            DatabaseUrl::Sqlite("data/interlink.db".into())
        );
        let error = DatabaseUrl::parse("mysql://root:s3cret@db/x").unwrap_err();
        assert!(error.to_string().contains("unsupported database URL"));
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
