//! `/v1/connect-sessions`: links an operator gives customers to connect
//! their own accounts (`connections::connect_sessions`), and the token of
//! the connection made through one, for the operator only.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::connections::{ConnectionView, view};
use super::error::ApiError;
use super::json::ApiJson;
use crate::code::Code;
use crate::connections::connect_sessions::{
    ConnectSession, ConnectSessionError, FieldRequest, Preset, SessionStatus, status,
};

impl From<ConnectSessionError> for ApiError {
    fn from(e: ConnectSessionError) -> Self {
        match e {
            ConnectSessionError::Connect(e) => e.into(),
            ConnectSessionError::Storage(e) => ApiError::internal(e),
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

/// `POST /v1/connect-sessions`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectSession {
    /// The adapter the customer connects through.
    pub adapter: String,
    /// A connection the new one replaces (a reconnect): disconnected once
    /// the customer's new credentials are verified.
    pub replaces: Option<String>,
    /// How long the link is valid, in seconds: 1 to 604800 (7 days);
    /// 3600 when absent.
    #[schema(minimum = 1, maximum = 604800)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    pub expires_in: Option<u64>,
    /// Offers the host's platform certificate on the link, for the
    /// customer's system only: the config values that pick it (fields the
    /// adapter's own outbound hosts are made of, e.g. NetSuite's
    /// `{"account_id": "1234567"}`). A connection through the link may sign
    /// with the platform key only with exactly these values, and none for
    /// such fields left out. Without it, a
    /// link offers the platform certificate only when it replaces a
    /// connection that signs with it, for that connection's values. The
    /// values become the link's presets, shown to the customer read-only,
    /// whichever key they choose.
    pub platform_key_for: Option<BTreeMap<String, String>>,
    /// The fields your application needs, which the customer maps to their
    /// own once connected (each becomes a field mapping of the new
    /// connection, with `writable` as asked): at most 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub fields: Vec<FieldRequest>,
    /// Config values you fix for the link, by field name: the customer
    /// cannot change them, and sees them read-only only when `visible`
    /// (e.g. `{"base_url": {"value": "https://proxy.example"}}`). Every
    /// required field the adapter declares operator-only needs one; a
    /// secret is never preset, but `platform` for a private key on a link
    /// that offers the platform certificate.
    #[serde(default)]
    pub presets: BTreeMap<String, Preset>,
}

/// A connect session, as the operator sees it.
#[derive(Serialize, ToSchema)]
pub struct ConnectSessionView {
    pub id: String,
    pub adapter: String,
    pub replaces: Option<String>,
    pub status: SessionStatus,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: SystemTime,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: SystemTime,
    /// The connection the customer made through the link.
    pub connection: Option<ConnectionView>,
    /// The config values the platform certificate is offered for.
    pub platform_key_for: Option<BTreeMap<String, String>>,
    /// Attempts to connect through the link that failed; at 10 it is
    /// locked.
    pub failed_attempts: u32,
    /// The fields the link asks the customer to map.
    pub fields: Vec<FieldRequest>,
    /// The config values fixed for the link.
    pub presets: BTreeMap<String, Preset>,
}

/// A new connect session and its link, shown once.
#[derive(Serialize, ToSchema)]
pub struct ConnectSessionCreated {
    pub session: ConnectSessionView,
    /// The link to give the customer. Anyone holding it can connect an
    /// account through it until it is used or expires.
    pub url: String,
}

/// The token of the connection made through a session.
#[derive(Serialize, ToSchema)]
pub struct ConnectSessionToken {
    pub connection_id: String,
    pub token: String,
}

async fn session_view(
    state: &AppState,
    session: ConnectSession,
) -> Result<ConnectSessionView, ApiError> {
    let connection = match &session.connection_id {
        Some(id) => match state
            .connections
            .get(id)
            .await
            .map_err(ApiError::internal)?
        {
            Some(c) => Some(view(state, c).await?),
            None => None,
        },
        None => None,
    };
    Ok(ConnectSessionView {
        status: status(&session, SystemTime::now()),
        id: session.id,
        adapter: session.adapter_id,
        replaces: session.replaces,
        created_at: session.created_at,
        expires_at: session.expires_at,
        connection,
        platform_key_for: session.platform_key_for,
        failed_attempts: session.failed_attempts,
        fields: session.field_requests,
        presets: session.presets,
    })
}

async fn find(state: &AppState, id: &str) -> Result<ConnectSession, ApiError> {
    state
        .connections
        .connect_session(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                Code::ConnectSessionNotFound,
                format!("no connect session `{id}`"),
            )
        })
}

/// Create a link for a customer to connect their own account.
///
/// # Errors
///
/// - `invalid_body` when `expires_in` is out of its range, or
///   `platform_key_for` does not fit the adapter (it takes no private key;
///   the values are none, name a field that does not pick the system, or
///   one is empty);
/// - `invalid_config` when a preset does not fit the adapter (no such
///   field, a value of the wrong type, empty or too long, a secret, a value
///   other than `platform_key_for`'s) or a required field only the operator
///   sets has none;
/// - `invalid_mapping` when `fields` cannot be mapped;
/// - `adapter_not_found` when no adapter `adapter` is loaded;
/// - `connection_not_found` when the connection `replaces` names does not
///   exist;
/// - `internal` when the database failed.
#[utoipa::path(post, path = "/v1/connect-sessions", request_body = CreateConnectSession,
    tag = "connect-sessions", security(("admin_key" = [])),
    responses((status = 201, body = ConnectSessionCreated), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateConnectSession>,
) -> Result<(StatusCode, Json<ConnectSessionCreated>), ApiError> {
    let (session, secret) = state
        .connections
        .create_connect_session(
            &body.adapter,
            body.replaces,
            body.expires_in.map(Duration::from_secs),
            body.platform_key_for,
            body.fields,
            body.presets,
        )
        .await?;
    state.audit.admin(
        &admin.actor(),
        "connect_link.created",
        session.replaces.as_deref(),
        json!({"session": session.id, "adapter": session.adapter_id,
            "presets": session.presets.keys().collect::<Vec<_>>()}),
    );
    let url = state.public_url(&format!("/connect/{secret}"));
    Ok((
        StatusCode::CREATED,
        Json(ConnectSessionCreated {
            session: session_view(&state, session).await?,
            url,
        }),
    ))
}

/// A connect session: open, connected (with its connection) or expired.
///
/// # Errors
///
/// `connect_session_not_found` when there is no session `id`; `internal`
/// when the database failed.
#[utoipa::path(get, path = "/v1/connect-sessions/{id}", tag = "connect-sessions",
    security(("admin_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ConnectSessionView), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn get(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectSessionView>, ApiError> {
    let session = find(&state, &id).await?;
    Ok(Json(session_view(&state, session).await?))
}

/// The API token of the connection made through the session: once. The
/// customer never sees it.
///
/// # Errors
///
/// - `connect_session_not_found` when there is no session `id`;
/// - `not_connected` when no connection was made through it yet;
/// - `token_claimed` when its token was claimed before (or no longer
///   opens);
/// - `internal` when the database failed.
#[utoipa::path(post, path = "/v1/connect-sessions/{id}/token", tag = "connect-sessions",
    security(("admin_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ConnectSessionToken), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn claim_token(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectSessionToken>, ApiError> {
    let session = find(&state, &id).await?;
    let Some(connection_id) = session.connection_id else {
        return Err(ApiError::new(
            Code::NotConnected,
            "the customer has not connected through this link yet",
        ));
    };
    let token = state
        .connections
        .claim_connect_token(&id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                Code::TokenClaimed,
                "the token of this session's connection was already claimed",
            )
        })?;
    Ok(Json(ConnectSessionToken {
        connection_id,
        token,
    }))
}
