//! Connections: an account of a system, connected through one adapter, and
//! the lifecycle the customer sees.
//!
//! ```text
//!   POST /v1/connections ──▶ active ──(the system rejects the credentials)──▶ requires_reauthorization
//!                               │                                                 │
//!                               └──────────────(disconnect)───────────────────────┴──▶ disconnected
//! ```
//!
//! A connection holds one credit of the pool until it is disconnected.
//! Disconnecting is final: reconnecting creates a new connection, with a new
//! token. Its stored records stay until the customer deletes them.

mod cache;
mod config;
pub mod connect_sessions;
pub mod mappings;
mod service;
pub mod token_rate;
pub mod tokens;

use rand::RngCore;
use sha2::{Digest, Sha256};

pub use crate::storage::connections::{Connection, FieldMapping, LastError, Status};
pub use cache::{Authenticated, TokenOwner};
pub use config::{ConfigError, split_config};
pub use service::{ConnectError, Connections, LookupError, NewConnection, PlatformKeyUse};
pub use token_rate::TokenRate;

use crate::runtime::CallContext;

/// A connection ready for calls: as stored, with its secrets opened into
/// the context every adapter call gets.
#[derive(Debug)]
pub struct OpenConnection {
    pub connection: Connection,
    pub ctx: CallContext,
}

/// A new connection API token: `ilk_conn_` and 64 hex digits.
pub fn new_token() -> String {
    new_secret("ilk_conn_")
}

/// 32 random bytes in hex after `prefix`: tokens, links, session cookies.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// What is stored of a token: its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_stored_as_hashes() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("ilk_conn_") && a.len() == 9 + 64);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
