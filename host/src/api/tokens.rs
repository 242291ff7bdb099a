//! The admin plane for connection tokens:
//! `/v1/connections/{id}/tokens`. Issue a named, scoped, optionally expiring
//! token; list them with their last use; revoke one. Rotating a token is
//! issuing a new one and revoking the old one: the connection stays.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::connections::not_found;
use super::error::ApiError;
use super::json::ApiJson;
use crate::code::Code;
use crate::connections::tokens::{NewToken, TokenError};
use crate::storage::StoredToken;

/// `POST /v1/connections/{id}/tokens`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for, for people (`reporting`, `ci`); 1 to 100
    /// characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// What it may do: `read`, `write`, `passthrough`, `syncs`, `webhooks`,
    /// `audit`, `upstream`, or reading or writing one entity (`vendors:read`,
    /// `purchase-orders:write`). Every scope when absent.
    #[schema(min_items = 1, value_type = Option<Vec<ScopeName>>)]
    pub scopes: Option<Vec<String>>,
    /// When it stops working (RFC 3339, in the future); never when absent.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// The schema of a scope's written form; an entity scope must name an
/// entity of the connection's adapter (refused with `invalid_token`).
pub struct ScopeName;

impl utoipa::PartialSchema for ScopeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(
                "^(read|write|passthrough|syncs|webhooks|audit|upstream|[!-9;-~]{1,64}:(read|write))$",
            ))
            .into()
    }
}

impl ToSchema for ScopeName {}

/// A connection token, as the admin sees it: never the token itself.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub connection_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<SystemTime>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: SystemTime,
    /// When it last authenticated a request (recorded within seconds).
    #[serde(with = "humantime_serde")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<SystemTime>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<SystemTime>,
}

impl From<StoredToken> for TokenView {
    fn from(t: StoredToken) -> Self {
        TokenView {
            id: t.id,
            connection_id: t.connection_id,
            name: t.name,
            scopes: t.scopes,
            expires_at: t.expires_at,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new token, which is shown only here.
#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub details: TokenView,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    /// Oldest first, revoked ones included.
    pub tokens: Vec<TokenView>,
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let message = e.to_string();
        match e {
            TokenError::UnknownConnection(id) => not_found(&id),
            TokenError::Disconnected(_) => {
                // Not the token's 401: the operator acts on a connection
                // that is no longer active.
                ApiError::new(Code::ConnectionDisconnected, message)
                    .with_status(StatusCode::CONFLICT)
            }
            TokenError::UnknownToken { .. } => ApiError::new(Code::TokenNotFound, message),
            TokenError::Scope(_)
            | TokenError::UnknownEntity { .. }
            | TokenError::Name
            | TokenError::InvalidExpiry
            | TokenError::ExpiresInThePast => ApiError::new(Code::InvalidToken, message),
            TokenError::TooMany => ApiError::new(Code::TooManyTokens, message),
            TokenError::Storage(e) => ApiError::internal(e),
        }
    }
}

/// Issue another token for a connection, with a name, scopes and an
/// optional expiry.
///
/// # Errors
///
/// - `connection_not_found` when there is no connection `id`;
///   `connection_disconnected` (409) when it is disconnected;
/// - `invalid_token` when the name, a scope (or an entity it names) or
///   `expires_at` is refused;
/// - `too_many_tokens` when the connection holds as many tokens as it may;
/// - `internal` when the database failed.
#[utoipa::path(post, path = "/v1/connections/{id}/tokens", tag = "connections",
    security(("admin_key" = [])), params(("id" = String, Path)), request_body = CreateToken,
    responses((status = 201, body = TokenCreated), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let new = NewToken {
        name: body.name,
        scopes: body.scopes,
        expires_at: body.expires_at,
    };
    let (stored, token) = state.connections.issue_token(&id, new).await?;
    state.audit.admin(
        &admin.actor(),
        "token.issued",
        Some(&id),
        json!({"token_id": stored.id, "name": stored.name, "scopes": stored.scopes}),
    );
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            token,
            details: stored.into(),
        }),
    ))
}

/// A connection's tokens, with their scopes and last use.
///
/// # Errors
///
/// `connection_not_found` when there is no connection `id`; `internal` when
/// the database failed.
#[utoipa::path(get, path = "/v1/connections/{id}/tokens", tag = "connections",
    security(("admin_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TokenList), (status = 404, body = super::error::ErrorBody)))]
pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TokenList>, ApiError> {
    let tokens = state.connections.tokens(&id).await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke a token: the very next request with it gets 401 `token_invalid`.
///
/// # Errors
///
/// `connection_not_found` when there is no connection `id`,
/// `token_not_found` when it has no token `token_id`; `internal` when the
/// database failed.
#[utoipa::path(delete, path = "/v1/connections/{id}/tokens/{token_id}", tag = "connections",
    security(("admin_key" = [])), params(("id" = String, Path), ("token_id" = String, Path)),
    responses((status = 200, body = TokenView), (status = 404, body = super::error::ErrorBody)))]
pub async fn revoke(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<Json<TokenView>, ApiError> {
    let token = state.connections.revoke_token(&id, &token_id).await?;
    state.audit.admin(
        &admin.actor(),
        "token.revoked",
        Some(&id),
        json!({"token_id": token_id}),
    );
    Ok(Json(token.into()))
}
