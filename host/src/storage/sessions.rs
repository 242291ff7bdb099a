//! What the connect page and the dashboard keep: connect sessions, and the
//! operators' sign-in sessions.

use std::collections::BTreeMap;
use std::time::SystemTime;

use async_trait::async_trait;

use super::Result;

/// A link for a customer to connect their own account.
#[derive(Debug, Clone)]
pub struct ConnectSession {
    pub id: String,
    pub adapter_id: String,
    /// The connection the new one replaces (a reconnect).
    pub replaces: Option<String>,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
    /// When the customer connected through it.
    pub used_at: Option<SystemTime>,
    pub connection_id: Option<String>,
    /// The new connection's token, sealed, until the operator claims it.
    pub sealed_token: Option<Vec<u8>>,
    /// Attempts to connect through it that failed.
    pub failed_attempts: u32,
    /// The config values the operator bound the platform certificate to for
    /// this link; `None`: the link does not offer it.
    pub platform_key_for: Option<BTreeMap<String, String>>,
    /// The fields the operator's application needs, which the customer
    /// maps to their own on the connect page.
    pub field_requests: Vec<FieldRequest>,
    /// Config values the operator fixed for this link, by field name: the
    /// customer cannot change them.
    pub presets: BTreeMap<String, Preset>,
}

/// A config value an operator fixes for a connect link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// The value, as text (`https://proxy.example`, `42`, `true`); for a
    /// private key only `platform`, the host's platform certificate.
    #[schema(max_length = 2048)]
    pub value: String,
    /// Whether the connect page shows it to the customer, read-only;
    /// hidden when false (the default).
    #[serde(default)]
    pub visible: bool,
}

/// A field an application needs, asked of the customer on the connect
/// page: which of their system's fields holds it. Their answer becomes a
/// field mapping of the new connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldRequest {
    /// The entity (`purchase-orders`).
    #[schema(max_length = 64)]
    pub entity: String,
    /// `custom.<name>` or a field of the unified model.
    #[schema(max_length = 128)]
    pub target: String,
    /// What the customer is asked, in their words ("Cost center").
    #[schema(max_length = 100)]
    pub label: String,
    /// The application writes it too: only a field the system lets the
    /// API write may be picked.
    #[serde(default)]
    pub writable: bool,
}

/// An operator signed in to the dashboard.
#[derive(Debug, Clone)]
pub struct DashboardSession {
    /// Every form of the session carries it.
    pub csrf_token: String,
    pub expires_at: SystemTime,
}

#[async_trait]
pub trait SessionStorage: Send + Sync + 'static {
    async fn insert_connect_session(
        &self,
        session: &ConnectSession,
        secret_hash: &[u8; 32],
    ) -> Result<()>;
    async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>>;
    async fn connect_session_by_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<ConnectSession>>;
    /// Marks a session used, if it was not and has fewer than
    /// `max_failed` failed attempts; answers whether this call did. Two
    /// submissions of one link cannot both connect.
    async fn use_connect_session(&self, id: &str, at: SystemTime, max_failed: u32) -> Result<bool>;
    /// Gives a session back after a failed attempt, counting it (the
    /// customer may retry, up to the limit).
    async fn fail_connect_session(&self, id: &str) -> Result<()>;
    /// Forgets the fields session `id` asks the customer to map: the
    /// customer's choice was saved, once.
    async fn clear_field_requests(&self, id: &str) -> Result<()>;
    /// Records the connection made through a used session.
    async fn complete_connect_session(
        &self,
        id: &str,
        connection_id: &str,
        sealed_token: &[u8],
    ) -> Result<()>;
    /// Takes the sealed token out of a session: once.
    async fn take_connect_token(&self, id: &str) -> Result<Option<Vec<u8>>>;

    async fn insert_dashboard_session(
        &self,
        id_hash: &[u8; 32],
        session: &DashboardSession,
        now: SystemTime,
    ) -> Result<()>;
    /// A session that has not expired at `now`.
    async fn dashboard_session(
        &self,
        id_hash: &[u8; 32],
        now: SystemTime,
    ) -> Result<Option<DashboardSession>>;
    /// Signs out (and forgets expired sessions).
    async fn delete_dashboard_session(&self, id_hash: &[u8; 32], now: SystemTime) -> Result<()>;
}
