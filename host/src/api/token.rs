//! The connection token, as an extractor: data-plane handlers take
//! [`ConnectionAuth`], and a request without a working token gets a 401 that
//! names its cause.
//!
//! The connection behind a token comes from memory when it was read before
//! ([`crate::connections::Connections::by_token`]); every status change
//! invalidates it first, so a disconnect refuses the very next request.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::json;

use super::AppState;
use super::auth::bearer;
use super::error::ApiError;
use super::request_id::{RequestConnection, RequestId};
use crate::connections::{Connection, Status, TokenOwner, token_hash};
use crate::dataplane::{Caller, Wait};

/// The active connection whose token the request carries, as the data
/// plane's caller (with the request's id; refused at its limits, not queued).
pub struct ConnectionAuth(pub Caller);

impl ConnectionAuth {
    pub fn connection(&self) -> &Connection {
        self.0.connection()
    }
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

impl FromRequestParts<AppState> for ConnectionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            unauthorized(
                "token_missing",
                "send the connection's API token as `Authorization: Bearer <token>`",
            )
        })?;
        let owner = state
            .connections()
            .by_token(&token_hash(token))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                unauthorized(
                    "token_invalid",
                    "the token does not belong to any connection",
                )
            })?;
        let connection = owner.connection();
        tracing::Span::current().record("connection", connection.id.as_str());
        if let Some(slot) = parts.extensions.get::<RequestConnection>() {
            slot.set(&connection.id);
        }
        match (&owner, connection.status) {
            (TokenOwner::Active(open), _) => {
                let request_id = parts
                    .extensions
                    .get::<RequestId>()
                    .map(|r| r.0.clone())
                    .unwrap_or_default();
                Ok(ConnectionAuth(Caller {
                    open: open.clone(),
                    request_id,
                    wait: Wait::Refuse,
                }))
            }
            (_, Status::RequiresReauthorization) => Err(unauthorized(
                "connection_requires_reauthorization",
                connection
                    .status_reason
                    .clone()
                    .unwrap_or_else(|| "the system rejected the connection's credentials".into()),
            )
            .with_details(json!({"connection_id": connection.id}))),
            _ => Err(unauthorized(
                "connection_disconnected",
                "the connection was disconnected; connect again to get a new token",
            )
            .with_details(json!({"connection_id": connection.id}))),
        }
    }
}
