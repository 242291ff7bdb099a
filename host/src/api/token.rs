//! The connection token, as an extractor: data-plane handlers take
//! [`ConnectionAuth`], and a request without a working token gets a 401 that
//! names its cause: `token_missing`, `token_invalid` (unknown or revoked),
//! `token_expired`, `connection_requires_reauthorization`,
//! `connection_disconnected`. Each handler then asks for the scope it needs
//! ([`ConnectionAuth::require`]: 403 `insufficient_scope`), and every token
//! has its own rate limit (429 `token_rate_limited`, with `Retry-After`),
//! announced on every answer in `RateLimit-Policy` and `RateLimit`.
//!
//! The token and its connection come from memory when they were read before
//! ([`crate::connections::Connections::by_token`]); every status change
//! and revocation invalidates them first, so the very next request is
//! refused.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use serde_json::json;

use super::AppState;
use super::auth::bearer;
use super::error::ApiError;
use super::request_id::{RequestConnection, RequestId, ResponseHeaders};
use crate::code::Code;
use crate::connections::tokens::{Access, Grant, Scopes};
use crate::connections::{Connection, Status, TokenOwner, token_hash};
use crate::dataplane::{Caller, Wait};
use crate::timing::{Part, Timing};

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The active connection whose token the request carries, as the data
/// plane's caller (with the request's id; refused at its limits, not
/// queued), and what the token may do.
#[derive(Clone)]
pub struct ConnectionAuth {
    pub caller: Caller,
    grant: Arc<Grant>,
}

impl ConnectionAuth {
    pub fn connection(&self) -> &Connection {
        self.caller.connection()
    }

    /// The token's id (not the token).
    pub fn token_id(&self) -> &str {
        &self.grant.token_id
    }

    /// Whether the token holds the scope for `access` (to `entity`, for
    /// reads and writes).
    pub fn allows(&self, access: Access, entity: Option<&str>) -> bool {
        self.grant.scopes.allows(access, entity)
    }

    /// Whether the token may read `entity`'s records.
    pub fn reads(&self, entity: &str) -> bool {
        self.allows(Access::Read, Some(entity))
    }

    /// The entities the token may read, or `None` when it may read every
    /// one.
    pub fn readable_entities(&self) -> Option<Vec<String>> {
        self.grant.scopes.readable_entities()
    }

    /// Refuses the request unless the token holds the scope for `access`
    /// (to `entity`, for reads and writes).
    ///
    /// # Errors
    ///
    /// `insufficient_scope` when it does not, with the scope needed and the
    /// token's scopes in `details`.
    pub fn require(&self, access: Access, entity: Option<&str>) -> Result<(), ApiError> {
        if self.allows(access, entity) {
            return Ok(());
        }
        let needed = Scopes::needed(access, entity);
        Err(ApiError::new(
            Code::InsufficientScope,
            format!("this token does not hold the `{needed}` scope"),
        )
        .with_details(json!({
            "required_scope": needed,
            "token_scopes": self.grant.scopes.written(),
        })))
    }
}

/// Takes one request from the token's rate limit, announcing the policy
/// and what is left on the answer (draft-ietf-httpapi-ratelimit-headers).
async fn rate_limit(state: &AppState, grant: &Grant, parts: &Parts) -> Result<(), ApiError> {
    let Some(rate) = &state.api_rate else {
        return Ok(());
    };
    let per_minute = rate.per_minute();
    let taken = rate
        .take(&grant.token_id)
        .await
        .map_err(ApiError::internal)?;
    if let Some(headers) = parts.extensions.get::<ResponseHeaders>() {
        let (left, reset) = match taken {
            Ok(left) => (left.now, left.full_in.as_secs_f64().ceil() as u64),
            Err(wait) => (0, wait.as_secs_f64().ceil() as u64),
        };
        let policy = format!("\"token\";q={per_minute};w=60");
        let now = format!("\"token\";r={left};t={reset}");
        for (name, value) in [(&RATELIMIT_POLICY, policy), (&RATELIMIT, now)] {
            headers.insert(name.clone(), HeaderValue::from_str(&value).expect("ASCII"));
        }
    }
    taken.map(drop).map_err(|wait| {
        ApiError::new(
            Code::TokenRateLimited,
            format!("this token may make {per_minute} requests a minute; retry later"),
        )
        .with_retry_after(wait)
    })
}

impl FromRequestParts<AppState> for ConnectionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let started = Instant::now();
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                Code::TokenMissing,
                "send the connection's API token as `Authorization: Bearer <token>`",
            )
        })?;
        let found = state
            .connections
            .by_token(&token_hash(token))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::new(
                    Code::TokenInvalid,
                    "the token does not belong to any connection",
                )
            })?;
        let (grant, owner) = (found.grant, found.owner);
        let connection = owner.connection();
        tracing::Span::current().record("connection", connection.id.as_str());
        if let Some(slot) = parts.extensions.get::<RequestConnection>() {
            slot.set(&connection.id);
        }
        if grant.revoked {
            return Err(ApiError::new(Code::TokenInvalid, "the token was revoked"));
        }
        if grant.expired(SystemTime::now()) {
            return Err(ApiError::new(
                Code::TokenExpired,
                "the token has expired; ask for a new one",
            ));
        }
        let open = match (&owner, connection.status) {
            (TokenOwner::Active(open), _) => open.clone(),
            (_, Status::RequiresReauthorization) => {
                return Err(ApiError::new(
                    Code::ConnectionRequiresReauthorization,
                    connection.status_reason.clone().unwrap_or_else(|| {
                        "the system rejected the connection's credentials".into()
                    }),
                )
                .with_details(json!({"connection_id": connection.id})));
            }
            _ => {
                return Err(ApiError::new(
                    Code::ConnectionDisconnected,
                    "the connection was disconnected; connect again to get a new token",
                )
                .with_details(json!({"connection_id": connection.id})));
            }
        };
        rate_limit(state, &grant, parts).await?;
        state.connections.token_used(&grant.token_id);
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let timing = parts
            .extensions
            .get::<Arc<Timing>>()
            .cloned()
            .unwrap_or_default();
        timing.add(Part::Auth, started.elapsed());
        let actor = (
            format!("token:{}", grant.token_id),
            Some(grant.token_id.clone()),
        );
        Ok(ConnectionAuth {
            caller: Caller::new(open, request_id, actor, timing, Wait::Refuse),
            grant,
        })
    }
}
