//! What the MCP door keeps: confirm tokens, each good for one write.

use std::time::SystemTime;

use async_trait::async_trait;

use super::Result;

/// A confirm token, as stored: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The SHA-256 of the token.
    pub token_hash: [u8; 32],
    pub connection_id: String,
    /// What the token is bound to (a hash the door computes).
    pub binding: String,
    pub expires_at: SystemTime,
}

#[async_trait]
pub trait ConfirmationStorage: Send + Sync + 'static {
    /// Stores a confirmation, and forgets those expired at `now`.
    async fn insert_confirmation(&self, confirmation: &Confirmation, now: SystemTime)
    -> Result<()>;
    /// Takes the confirmation `token_hash` of `connection` out, once:
    /// answers its binding if it had not expired at `now`. Of two nodes
    /// taking the same token at once, one gets it.
    async fn take_confirmation(
        &self,
        token_hash: &[u8; 32],
        connection: &str,
        now: SystemTime,
    ) -> Result<Option<String>>;
}
