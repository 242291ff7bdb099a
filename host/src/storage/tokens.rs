//! Connection tokens as stored: several per connection, each a hash with a
//! name, scopes, an optional expiry and its last use.

use std::time::SystemTime;

use async_trait::async_trait;

use super::{Connection, Result, Status};

/// A connection token as stored. The token itself is never stored, only
/// its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: String,
    pub connection_id: String,
    pub name: String,
    /// The scopes it holds, in their written form (`read`, `vendors:write`).
    pub scopes: Vec<String>,
    pub expires_at: Option<SystemTime>,
    pub created_at: SystemTime,
    pub last_used_at: Option<SystemTime>,
    pub revoked_at: Option<SystemTime>,
}

#[async_trait]
pub trait TokenStorage: Send + Sync + 'static {
    /// Stores another token of an existing connection, unless it already
    /// holds `max_live` tokens that are not revoked; answers whether it did.
    /// The count and the insert are one step: requests racing each other
    /// cannot pass the cap together.
    async fn insert_token(
        &self,
        token: &StoredToken,
        token_hash: &[u8; 32],
        max_live: usize,
    ) -> Result<bool>;
    /// The tokens of a connection, oldest first, revoked ones included.
    async fn tokens(&self, connection: &str) -> Result<Vec<StoredToken>>;
    /// The token that hashes to `token_hash` (revoked or expired too), with
    /// its connection.
    async fn token_by_hash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(StoredToken, Connection)>>;
    /// The status of the connection of the token that hashes to
    /// `token_hash`, and whether the token is revoked: what a node checks
    /// before each use of a token it remembers, when other nodes share the
    /// database.
    async fn token_state(&self, token_hash: &[u8; 32]) -> Result<Option<(Status, bool)>>;
    /// Revokes a token of `connection`; answers false if there is no such
    /// token or it already was revoked.
    async fn revoke_token(&self, connection: &str, id: &str, at: SystemTime) -> Result<bool>;
    /// Records when tokens were last used (later times only).
    async fn touch_tokens(&self, used: &[(String, SystemTime)]) -> Result<()>;
}
