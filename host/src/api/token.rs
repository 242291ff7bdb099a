//! The connection token, as an extractor: data-plane handlers take
//! [`ConnectionAuth`], and a request without a working token gets a 401 that
//! names its cause.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::json;

use super::AppState;
use super::auth::bearer;
use super::error::ApiError;
use crate::connections::{Connection, Status, token_hash};

/// The connection whose token the request carries; active.
pub struct ConnectionAuth(pub Connection);

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
        let connection = state
            .connections
            .storage()
            .connection_by_token(&token_hash(token))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                unauthorized(
                    "token_invalid",
                    "the token does not belong to any connection",
                )
            })?;
        tracing::Span::current().record("connection", connection.id.as_str());
        match connection.status {
            Status::Active => Ok(ConnectionAuth(connection)),
            Status::Disconnected => Err(unauthorized(
                "connection_disconnected",
                "the connection was disconnected; connect again to get a new token",
            )
            .with_details(json!({"connection_id": connection.id}))),
            Status::RequiresReauthorization => Err(unauthorized(
                "connection_requires_reauthorization",
                connection
                    .status_reason
                    .clone()
                    .unwrap_or_else(|| "the system rejected the connection's credentials".into()),
            )
            .with_details(json!({"connection_id": connection.id}))),
        }
    }
}
