//! The audit trail: an append-only log of what the host did and on whose
//! behalf (`crate::audit` records it). Entries are only ever added, read,
//! and purged past the retention.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};
use utoipa::ToSchema;

use super::{Result, decode_text};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A data-plane call of an adapter (a read, a write, a passthrough).
    Call,
    /// A request the host sent to the system for an adapter.
    Upstream,
    /// A secret of the connection used: sent in a header, or a key that
    /// signed. Never its value.
    Credential,
    /// A write's decision: accepted, refused by a rule, or a dry run.
    Write,
    /// An operator's or a customer's action on the host: a connection made
    /// or disconnected, a token issued or revoked, an adapter uploaded,
    /// synced data deleted, an audit setting changed.
    Admin,
    /// A tool call through the MCP door.
    Mcp,
}

stored_as_text!(AuditKind {
    Call = "call",
    Upstream = "upstream",
    Credential = "credential",
    Write = "write",
    Admin = "admin",
    Mcp = "mcp",
});

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Ok,
    /// It was tried and failed (the system answered an error, a call
    /// failed).
    Error,
    /// The host refused it before it reached the system (a write rule, the
    /// outbound allow-list, a limit).
    Refused,
    /// A dry run: checked, and nothing that may change the system sent.
    DryRun,
}

stored_as_text!(AuditOutcome {
    Ok = "ok",
    Error = "error",
    Refused = "refused",
    DryRun = "dry_run",
});

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// The entry's place in the trail (0 until stored): the cursor of the
    /// list and the order of the export.
    pub seq: u64,
    /// When it happened, in microseconds since the Unix epoch.
    pub at_us: i64,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    /// The API request (or sync run) it belongs to: the `x-request-id`.
    pub request_id: String,
    pub connection_id: Option<String>,
    /// The token the request carried (its id, never the token).
    pub token_id: Option<String>,
    /// Who acted: `token:<id>`, `mcp:<token id>`, `admin`, `dashboard`,
    /// `connect-link:<session>`, `sync`.
    pub actor: String,
    /// What, in a few words: `create purchase_order`, `GET
    /// https://erp.example/record/{id}`, `secret client_secret`,
    /// `connection.created`.
    pub action: String,
    /// The particulars, by kind: durations, statuses, sizes, the rule that
    /// refused, a redacted body when the connection's bodies are kept.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `t` as an entry's `at_us`.
pub fn micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// An entry's `at_us` as a time.
pub fn from_micros(us: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us.max(0) as u64)
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// From this time (microseconds, inclusive).
    pub from_us: Option<i64>,
    /// Before this time (microseconds, exclusive).
    pub to_us: Option<i64>,
    pub connection_id: Option<String>,
    pub request_id: Option<String>,
    pub kind: Option<AuditKind>,
    pub outcome: Option<AuditOutcome>,
}

/// Where a page of entries starts, and in which direction it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditPage {
    /// Newest first, older than `seq` (the list).
    Before(Option<u64>),
    /// Oldest first, newer than `seq` (the export).
    After(u64),
}

#[async_trait]
pub trait AuditStorage: Send + Sync + 'static {
    /// Appends `entries` (their `seq` is assigned in order).
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    /// Up to `limit` entries that match `filter`, from `page`.
    async fn audit(
        &self,
        filter: &AuditFilter,
        page: AuditPage,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;
    /// Deletes the entries older than `before`; answers how many.
    async fn purge_audit(&self, before: SystemTime) -> Result<u64>;
}

/// Rows per `INSERT`: 9 parameters each, under SQLite's 32,766 and
/// PostgreSQL's 65,535.
pub(super) const ROWS_PER_INSERT: usize = 1000;

/// An entry from a row of `audit_log`, on either database.
pub(super) fn entry_from_row<'r, R: Row>(row: &'r R) -> std::result::Result<AuditEntry, sqlx::Error>
where
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
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

/// One `INSERT` of `entries` (at most [`ROWS_PER_INSERT`]), on either
/// database.
///
/// Callers keep it prepared only when it has [`ROWS_PER_INSERT`] rows: an
/// `INSERT` of n rows is a statement of its own, and a batch's length
/// varies, so a connection that kept each one it prepared (sqlx's statement
/// cache, 100 a connection) held hundreds of kilobytes per length it had
/// seen: a host under load grew by 250 MB in two minutes
/// (docs/benchmarks.md).
pub(super) fn insert_entries<'a, DB: Database>(entries: &'a [AuditEntry]) -> QueryBuilder<'a, DB>
where
    DB::Arguments<'a>: Default,
    i64: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    &'a String: Encode<'a, DB> + Type<DB>,
    &'a Option<String>: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
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
            .push_bind(serde_json::to_string(&e.detail).expect("a JSON value serializes"));
    });
    insert
}
