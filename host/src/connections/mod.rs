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

mod config;
mod service;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::SystemTime;

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use config::{ConfigError, split_config};
pub use service::{ConnectError, Connections, NewConnection};

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// The system rejected the connection's credentials: connect again.
    RequiresReauthorization,
    /// Disconnected by the customer; final.
    Disconnected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::RequiresReauthorization => "requires_reauthorization",
            Status::Disconnected => "disconnected",
        }
    }
}

impl FromStr for Status {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "active" => Ok(Status::Active),
            "requires_reauthorization" => Ok(Status::RequiresReauthorization),
            "disconnected" => Ok(Status::Disconnected),
            _ => Err(()),
        }
    }
}

/// The last error a connection's requests met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LastError {
    pub code: String,
    pub message: String,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
    pub request_id: String,
}

/// A connection as stored. `credentials` is sealed (see [`crate::secret_box`]).
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub adapter_id: String,
    pub adapter_version: String,
    pub status: Status,
    pub config: BTreeMap<String, String>,
    pub credentials: Vec<u8>,
    pub account_id: String,
    pub account_name: String,
    pub permissions: Vec<String>,
    /// Custom fields the account adds to the adapter's entities.
    pub custom_fields: Vec<crate::runtime::CustomField>,
    pub status_reason: Option<String>,
    pub status_changed_at: SystemTime,
    pub last_error: Option<LastError>,
    pub created_at: SystemTime,
    pub disconnected_at: Option<SystemTime>,
}

impl Connection {
    /// The permissions of `required` that the account did not hold when it
    /// connected.
    pub fn missing_permissions<'a>(&self, required: &'a [String]) -> Vec<&'a String> {
        required
            .iter()
            .filter(|p| !self.permissions.contains(p))
            .collect()
    }
}

/// A new connection API token: `ilk_conn_` and 64 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("ilk_conn_{}", hex::encode(bytes))
}

/// What is stored of a token: its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            Status::Active,
            Status::RequiresReauthorization,
            Status::Disconnected,
        ] {
            assert_eq!(s.as_str().parse(), Ok(s));
        }
    }

    #[test]
    fn tokens_are_unique_and_stored_as_hashes() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("ilk_conn_") && a.len() == 9 + 64);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
