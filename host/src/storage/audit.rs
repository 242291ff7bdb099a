//! The audit trail: an append-only log of what the host did and on whose
//! behalf (`crate::audit` records it). Entries are only ever added, read,
//! and purged past the retention.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Result;

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
