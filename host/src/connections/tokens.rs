//! Connection tokens: several per connection, each with a name, scopes, an
//! optional expiry and its last use. The token made at connect holds every
//! scope; others hold what they are given. Rotating is issuing a new token
//! and revoking the old one, without reconnecting.
//!
//! A scope is an access (`read`, `write`, `passthrough`, `syncs`,
//! `webhooks`, `audit`, `upstream`), or `read` or `write` of one entity
//! (`vendors:read`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use thiserror::Error;

use super::{Connections, Status, new_token, token_hash};
use crate::storage::{StorageError, StoredToken};

/// Tokens of one connection that are not revoked, at most.
pub const MAX_TOKENS_PER_CONNECTION: usize = 50;
/// The longest token name.
pub const MAX_NAME_CHARS: usize = 100;
/// How often the last use of tokens is written.
const WRITE_USE_EVERY: Duration = Duration::from_secs(5);

/// A token's id (not the token): `tok_` and a UUIDv7.
pub fn new_token_id() -> String {
    format!("tok_{}", uuid::Uuid::now_v7().simple())
}

/// A token to issue.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    /// Written scopes; `None` is every scope.
    pub scopes: Option<Vec<String>>,
    /// An RFC 3339 timestamp, as the client wrote it.
    pub expires_at: Option<String>,
}

/// Why a token was not issued, listed or revoked.
#[derive(Debug, Error)]
pub enum TokenError {
    #[error("no connection `{0}`")]
    UnknownConnection(String),
    #[error(
        "connection `{0}` is disconnected; reconnecting makes a new connection with a new token"
    )]
    Disconnected(String),
    #[error("connection `{connection}` has no token `{token}`")]
    UnknownToken { connection: String, token: String },
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("`{entity}` is not an entity of adapter `{adapter}`; it serves: {served}")]
    UnknownEntity {
        entity: String,
        adapter: String,
        served: String,
    },
    #[error("a token's name is 1 to {MAX_NAME_CHARS} characters")]
    Name,
    #[error("`expires_at` is not an RFC 3339 timestamp, such as 2027-01-31T00:00:00Z")]
    InvalidExpiry,
    #[error("`expires_at` is not in the future")]
    ExpiresInThePast,
    #[error(
        "the connection has {MAX_TOKENS_PER_CONNECTION} tokens that are not revoked; revoke one first"
    )]
    TooMany,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Connections {
    /// Issues another token for `connection`. Answers it as stored, with
    /// the token itself, which is not stored and cannot be shown again.
    ///
    /// # Errors
    ///
    /// - [`TokenError::UnknownConnection`] when there is no connection
    ///   `connection`, [`TokenError::Disconnected`] when it is
    ///   disconnected;
    /// - [`TokenError::Name`] when the trimmed name is empty or longer than
    ///   [`MAX_NAME_CHARS`];
    /// - [`TokenError::Scope`] when the scopes are none or one is not a
    ///   scope, [`TokenError::UnknownEntity`] when one names an entity the
    ///   connection's adapter (when loaded) does not serve;
    /// - [`TokenError::InvalidExpiry`] when `expires_at` is not an RFC 3339
    ///   timestamp, [`TokenError::ExpiresInThePast`] when it is not in the
    ///   future;
    /// - [`TokenError::TooMany`] when the connection holds
    ///   [`MAX_TOKENS_PER_CONNECTION`] tokens that are not revoked;
    /// - [`TokenError::Storage`] when the database failed.
    pub async fn issue_token(
        &self,
        connection: &str,
        new: NewToken,
    ) -> Result<(StoredToken, String), TokenError> {
        let owner = self
            .storage
            .connection(connection)
            .await?
            .ok_or_else(|| TokenError::UnknownConnection(connection.into()))?;
        if owner.status == Status::Disconnected {
            return Err(TokenError::Disconnected(connection.into()));
        }
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(TokenError::Name);
        }
        let scopes = match &new.scopes {
            Some(written) => Scopes::parse(written)?,
            None => Scopes::full(),
        };
        if let Some(adapter) = self.registry.get(&owner.adapter_id) {
            let entities = &adapter.manifest().entities;
            if let Some(entity) = scopes
                .iter()
                .filter_map(|s| s.entity.as_deref())
                .find(|e| !entities.iter().any(|served| served.name == *e))
            {
                return Err(TokenError::UnknownEntity {
                    entity: entity.into(),
                    adapter: owner.adapter_id.clone(),
                    served: entities
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let expires_at = match &new.expires_at {
            Some(text) => Some(SystemTime::from(
                crate::timestamps::parse(text).ok_or(TokenError::InvalidExpiry)?,
            )),
            None => None,
        };
        let now = SystemTime::now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(TokenError::ExpiresInThePast);
        }
        let token = StoredToken {
            id: new_token_id(),
            connection_id: connection.into(),
            name: name.into(),
            scopes: scopes.written(),
            expires_at,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let secret = new_token();
        if !self
            .storage
            .insert_token(&token, &token_hash(&secret), MAX_TOKENS_PER_CONNECTION)
            .await?
        {
            return Err(TokenError::TooMany);
        }
        tracing::info!(connection, token = %token.id, name = %token.name, scopes = ?token.scopes, "token issued");
        Ok((token, secret))
    }

    /// The tokens of `connection`, oldest first, with their last use.
    ///
    /// # Errors
    ///
    /// [`TokenError::UnknownConnection`] when there is no connection
    /// `connection`; [`TokenError::Storage`] when the database failed.
    pub async fn tokens(&self, connection: &str) -> Result<Vec<StoredToken>, TokenError> {
        if self.storage.connection(connection).await?.is_none() {
            return Err(TokenError::UnknownConnection(connection.into()));
        }
        self.write_token_use().await?;
        Ok(self.storage.tokens(connection).await?)
    }

    /// Revokes a token of `connection`: the very next request with it is
    /// refused. Revoking a revoked token changes nothing.
    ///
    /// # Errors
    ///
    /// [`TokenError::UnknownConnection`] when there is no connection
    /// `connection`, [`TokenError::UnknownToken`] when it has no token
    /// `token`; [`TokenError::Storage`] when the database failed.
    pub async fn revoke_token(
        &self,
        connection: &str,
        token: &str,
    ) -> Result<StoredToken, TokenError> {
        if self
            .storage
            .revoke_token(connection, token, SystemTime::now())
            .await?
        {
            tracing::info!(connection, token, "token revoked");
        }
        self.cache.invalidate(connection);
        self.tokens(connection)
            .await?
            .into_iter()
            .find(|t| t.id == token)
            .ok_or_else(|| TokenError::UnknownToken {
                connection: connection.into(),
                token: token.into(),
            })
    }

    /// Notes that a token was used now; written within a few seconds.
    pub fn token_used(&self, token_id: &str) {
        self.token_use.record(token_id, SystemTime::now());
    }

    /// Writes the last uses noted since the last write.
    ///
    /// # Errors
    ///
    /// The database failed; the uses taken for this write are not written.
    pub async fn write_token_use(&self) -> Result<(), StorageError> {
        let used = self.token_use.take();
        if used.is_empty() {
            return Ok(());
        }
        self.storage.touch_tokens(&used).await
    }

    /// Writes the last use of tokens every few seconds, off the request path.
    pub fn start_token_use_writer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let connections = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(WRITE_USE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(connections) = connections.upgrade() else {
                    return;
                };
                if let Err(e) = connections.write_token_use().await {
                    tracing::warn!(error = %e, "could not record when tokens were last used");
                }
            }
        })
    }
}

/// What a request does, as a scope names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading records: live (`GET /v1/{entity}`), stored and their schema.
    Read,
    /// Creating, updating and deleting records.
    Write,
    /// Calling the system's own API through `/v1/passthrough`.
    Passthrough,
    /// Scheduling and running syncs, and reading their status.
    Syncs,
    /// Managing webhook subscriptions and their deliveries.
    Webhooks,
    /// Reading the connection's own audit trail (`GET /v1/audit`).
    Audit,
    /// Seeing a read's or a write's exchanges with the system
    /// (`Prefer: include-upstream`), besides the scope of the read or write.
    Upstream,
}

impl Access {
    const ALL: [Access; 7] = [
        Access::Read,
        Access::Write,
        Access::Passthrough,
        Access::Syncs,
        Access::Webhooks,
        Access::Audit,
        Access::Upstream,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Passthrough => "passthrough",
            Access::Syncs => "syncs",
            Access::Webhooks => "webhooks",
            Access::Audit => "audit",
            Access::Upstream => "upstream",
        }
    }
}

/// One scope a token holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access: Access,
    /// The one entity it is limited to (`read` and `write` only).
    pub entity: Option<String>,
}

/// Why a scope is not one.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a scope: scopes are `read`, `write`, `passthrough`, `syncs`, `webhooks`, \
     `audit`, `upstream`, `<entity>:read` and `<entity>:write`"
)]
pub struct ScopeError(pub String);

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, ScopeError> {
        let (entity, access) = match text.split_once(':') {
            Some((entity, access)) => (Some(entity), access),
            None => (None, text),
        };
        let access = Access::ALL
            .into_iter()
            .find(|a| a.as_str() == access)
            .ok_or_else(|| ScopeError(text.into()))?;
        match entity {
            None => Ok(Scope {
                access,
                entity: None,
            }),
            Some(entity)
                if matches!(access, Access::Read | Access::Write)
                    && (1..=64).contains(&entity.len())
                    && entity.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Scope {
                    access,
                    entity: Some(entity.into()),
                })
            }
            Some(_) => Err(ScopeError(text.into())),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entity {
            Some(entity) => write!(f, "{entity}:{}", self.access.as_str()),
            None => f.write_str(self.access.as_str()),
        }
    }
}

/// The scopes of one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Every scope: the token made at connect.
    pub fn full() -> Self {
        Scopes(
            Access::ALL
                .into_iter()
                .map(|access| Scope {
                    access,
                    entity: None,
                })
                .collect(),
        )
    }

    /// Parses written scopes; an empty list is refused (a token that may
    /// do nothing is a mistake).
    ///
    /// # Errors
    ///
    /// A [`ScopeError`] naming the first text that is not a scope, or the
    /// empty text when `written` is empty.
    pub fn parse<S: AsRef<str>>(written: &[S]) -> Result<Self, ScopeError> {
        if written.is_empty() {
            return Err(ScopeError(String::new()));
        }
        let mut scopes: Vec<Scope> = Vec::new();
        for text in written {
            let scope: Scope = text.as_ref().parse()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(Scopes(scopes))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// The written form, as stored and shown.
    pub fn written(&self) -> Vec<String> {
        self.0.iter().map(Scope::to_string).collect()
    }

    /// Whether `access` (to `entity`, for reads and writes) is allowed.
    pub fn allows(&self, access: Access, entity: Option<&str>) -> bool {
        self.0.iter().any(|s| {
            s.access == access
                && match (&s.entity, entity) {
                    (None, _) => true,
                    (Some(own), Some(entity)) => own == entity,
                    (Some(_), None) => false,
                }
        })
    }

    /// The entities these scopes may read, or `None` when they may read
    /// every one (`read`).
    pub fn readable_entities(&self) -> Option<Vec<String>> {
        let mut entities = Vec::new();
        for scope in self.0.iter().filter(|s| s.access == Access::Read) {
            match &scope.entity {
                None => return None,
                Some(entity) => entities.push(entity.clone()),
            }
        }
        Some(entities)
    }

    /// The scope a request for `access` (to `entity`) needs, as an error
    /// names it: the entity's own when there is one.
    pub fn needed(access: Access, entity: Option<&str>) -> String {
        Scope {
            access,
            entity: entity.map(Into::into),
        }
        .to_string()
    }
}

/// What the request path knows of a token: enough to refuse it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub token_id: String,
    pub scopes: Scopes,
    pub expires_at: Option<SystemTime>,
    pub revoked: bool,
}

impl Grant {
    /// The grant of a stored token; its scopes were checked when it was
    /// made, and one that no longer parses grants nothing.
    pub fn of(token: &StoredToken) -> Self {
        Grant {
            token_id: token.id.clone(),
            scopes: Scopes::parse(&token.scopes).unwrap_or(Scopes(Vec::new())),
            expires_at: token.expires_at,
            revoked: token.revoked_at.is_some(),
        }
    }

    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// When tokens were last used, kept in memory and written in batches off the
/// request path.
#[derive(Default)]
pub(super) struct TokenUse {
    pending: Mutex<HashMap<String, SystemTime>>,
}

impl TokenUse {
    pub fn record(&self, token_id: &str, at: SystemTime) {
        let mut pending = self.pending.lock().unwrap();
        match pending.get_mut(token_id) {
            Some(last) => *last = (*last).max(at),
            None => {
                pending.insert(token_id.to_string(), at);
            }
        }
    }

    /// What was recorded since the last take.
    pub fn take(&self) -> Vec<(String, SystemTime)> {
        std::mem::take(&mut *self.pending.lock().unwrap())
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_written_as_access_or_entity_and_access() {
        let scopes = Scopes::parse(&["read", "vendors:write", "syncs", "read"]).unwrap();
        assert_eq!(scopes.written(), ["read", "vendors:write", "syncs"]);
        assert_eq!(
            Scopes::full().written(),
            [
                "read",
                "write",
                "passthrough",
                "syncs",
                "webhooks",
                "audit",
                "upstream"
            ]
        );
        for wrong in [
            "admin",
            "vendors:syncs",
            ":read",
            "ven dors:read",
            "read:",
            "a:b:read",
        ] {
            assert_eq!(
                Scopes::parse(&[wrong]),
                Err(ScopeError(wrong.into())),
                "{wrong}"
            );
        }
        assert!(Scopes::parse::<&str>(&[]).is_err(), "no scope at all");
    }

    #[test]
    fn an_entity_scope_allows_that_entity_only() {
        let scopes = Scopes::parse(&["vendors:read", "write"]).unwrap();
        assert!(scopes.allows(Access::Read, Some("vendors")));
        assert!(!scopes.allows(Access::Read, Some("items")));
        assert!(!scopes.allows(Access::Read, None), "not every entity");
        assert!(scopes.allows(Access::Write, Some("items")));
        assert!(!scopes.allows(Access::Syncs, None));
        assert_eq!(Scopes::needed(Access::Read, Some("items")), "items:read");
        assert_eq!(Scopes::needed(Access::Webhooks, None), "webhooks");
    }

    #[test]
    fn a_grant_expires_at_its_time_and_a_stored_scope_that_no_longer_parses_grants_nothing() {
        let now = SystemTime::now();
        let token = StoredToken {
            id: "tok_1".into(),
            connection_id: "c1".into(),
            name: "ci".into(),
            scopes: vec!["read".into(), "future_scope".into()],
            expires_at: Some(now),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let grant = Grant::of(&token);
        assert!(grant.expired(now));
        assert!(!grant.expired(now - std::time::Duration::from_secs(1)));
        assert!(!grant.scopes.allows(Access::Read, Some("vendors")));
    }

    #[test]
    fn token_use_keeps_the_latest_time_until_taken() {
        let uses = TokenUse::default();
        let t = SystemTime::UNIX_EPOCH;
        uses.record("a", t + std::time::Duration::from_secs(2));
        uses.record("a", t + std::time::Duration::from_secs(1));
        assert_eq!(
            uses.take(),
            [("a".to_string(), t + std::time::Duration::from_secs(2))]
        );
        assert!(uses.take().is_empty());
    }
}
