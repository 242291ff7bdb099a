//! The admin plane for connections: `/v1/connections`, `/v1/credits`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use super::json::ApiJson;
use crate::code::Code;
use crate::connections::{
    ConnectError, Connection, FieldMapping, LastError, NewConnection, PlatformKeyUse, Status,
};
use crate::rules::mapping::MappingIssue;

/// `POST /v1/connections`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// The adapter's id (`GET /v1/adapters`).
    pub adapter: String,
    /// The adapter's non-secret config values. Which are required, and
    /// their types, depend on the adapter: its config fields are in
    /// `GET /v1/adapters/{id}` (`manifest.config`); a missing or invalid one is
    /// refused with 422 `invalid_config`, each field in `details.errors`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// The adapter's secret config values; stored encrypted.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credentials: Map<String, Value>,
    /// A connection this one replaces (reconnecting): it is disconnected once
    /// the new credentials are verified, and its credit passes to the new one.
    pub replaces: Option<String>,
}

/// The account a connection reaches.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
}

/// A connection, as the admin sees it. Secrets are never shown.
#[derive(Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub adapter: String,
    pub adapter_version: String,
    pub status: Status,
    /// Why the status last changed.
    pub status_reason: Option<String>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub status_changed_at: SystemTime,
    pub account: AccountView,
    /// The permissions the account held when it connected.
    pub permissions: Vec<String>,
    /// The non-secret config values.
    pub config: BTreeMap<String, String>,
    pub last_error: Option<LastError>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: SystemTime,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disconnected_at: Option<SystemTime>,
    /// Records stored for this connection, per entity; they stay after a
    /// disconnect until `DELETE /v1/connections/{id}/data`.
    pub stored_records: BTreeMap<String, u64>,
    /// The audit trail keeps the (redacted) bodies of the connection's
    /// upstream exchanges (`PUT /v1/connections/{id}/audit`).
    pub audit_bodies: bool,
    /// Fields of the system shown under the customer's names
    /// (`PUT /v1/connections/{id}/mappings`).
    pub field_mappings: Vec<FieldMapping>,
    /// Mappings whose source the system no longer has as it was mapped.
    pub mapping_issues: Vec<MappingIssue>,
}

/// A new connection and its API token, which is shown only here.
#[derive(Serialize, ToSchema)]
pub struct ConnectionCreated {
    pub connection: ConnectionView,
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
}

#[derive(Serialize, ToSchema)]
pub struct Credits {
    pub total: u32,
    pub used: u32,
    pub available: u32,
}

#[derive(Serialize, ToSchema)]
pub struct DataDeleted {
    pub deleted_records: u64,
}

pub(super) async fn view(state: &AppState, c: Connection) -> Result<ConnectionView, ApiError> {
    let stored_records = state
        .connections
        .record_counts(&c.id)
        .await
        .map_err(ApiError::internal)?;
    let mapping_issues = state.connections.mapping_issues(&c);
    Ok(ConnectionView {
        mapping_issues,
        field_mappings: c.field_mappings,
        id: c.id,
        adapter: c.adapter_id,
        adapter_version: c.adapter_version,
        status: c.status,
        status_reason: c.status_reason,
        status_changed_at: c.status_changed_at,
        account: AccountView {
            id: c.account_id,
            name: c.account_name,
        },
        permissions: c.permissions,
        config: c.config,
        last_error: c.last_error,
        created_at: c.created_at,
        disconnected_at: c.disconnected_at,
        stored_records,
        audit_bodies: c.audit_bodies,
    })
}

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        let message = e.to_string();
        match e {
            ConnectError::UnknownAdapter(_) => ApiError::new(Code::AdapterNotFound, message),
            ConnectError::Config(errors) => ApiError::new(Code::InvalidConfig, message)
                .with_details(json!({"errors": errors.0})),
            ConnectError::CredentialsRejected(_) => {
                ApiError::new(Code::CredentialsRejected, message)
            }
            ConnectError::Call(e) => e.into(),
            ConnectError::NoCredits { .. } => ApiError::new(Code::NoCredits, message),
            ConnectError::UnknownReplaced(id) => not_found(&id),
            ConnectError::Storage(e) => ApiError::internal(e),
        }
    }
}

pub(super) fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::ConnectionNotFound, format!("no connection `{id}`"))
}

async fn find(state: &AppState, id: &str) -> Result<Connection, ApiError> {
    state
        .connections
        .get(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(id))
}

/// Connect an account: verifies the credentials with the system, takes a credit.
///
/// # Errors
///
/// - `adapter_not_found` when no adapter `adapter` is loaded;
/// - `invalid_config` when the config or credentials do not fit it, each
///   problem in `details.errors`;
/// - `connection_not_found` when the connection `replaces` names does not
///   exist;
/// - `no_credits` when every credit is held;
/// - `credentials_rejected` when the system refused the credentials, or the
///   code of the adapter's failure when its `connect` failed otherwise
///   (`upstream_error`, `adapter_timeout`, `busy`, ...);
/// - `internal` when the database failed.
#[utoipa::path(post, path = "/v1/connections", request_body = CreateConnection, tag = "connections",
    security(("admin_key" = [])),
    responses((status = 201, body = ConnectionCreated), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateConnection>,
) -> Result<(StatusCode, Json<ConnectionCreated>), ApiError> {
    let replaces = body.replaces.clone();
    let request = NewConnection {
        adapter: body.adapter,
        config: body.config,
        credentials: body.credentials,
        replaces: body.replaces,
        platform_key: PlatformKeyUse::Operator,
    };
    let (connection, token) = state.connections.create(request).await?;
    state.audit.admin(
        &admin.actor(),
        "connection.created",
        Some(&connection.id),
        json!({"adapter": connection.adapter_id, "replaces": replaces}),
    );
    let connection = view(&state, connection).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConnectionCreated { connection, token }),
    ))
}

/// Every connection, newest first.
///
/// # Errors
///
/// `internal` when the database failed.
#[utoipa::path(get, path = "/v1/connections", tag = "connections", security(("admin_key" = [])),
    responses((status = 200, body = ConnectionList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<ConnectionList>, ApiError> {
    let mut connections = Vec::new();
    for c in state.connections.list().await.map_err(ApiError::internal)? {
        connections.push(view(&state, c).await?);
    }
    Ok(Json(ConnectionList { connections }))
}

/// One connection: status, permissions, last error, stored records.
///
/// # Errors
///
/// `connection_not_found` when there is no connection `id`; `internal` when
/// the database failed.
#[utoipa::path(get, path = "/v1/connections/{id}", tag = "connections", security(("admin_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let c = find(&state, &id).await?;
    Ok(Json(view(&state, c).await?))
}

/// Disconnect: the token stops working at once, the credit returns, stored records stay.
///
/// # Errors
///
/// `connection_not_found` when there is no connection `id`; `internal` when
/// the database failed.
#[utoipa::path(post, path = "/v1/connections/{id}/disconnect", tag = "connections", security(("admin_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = 404, body = super::error::ErrorBody)))]
pub async fn disconnect(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let c = state
        .connections
        .disconnect(&id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(&id))?;
    state.audit.admin(
        &admin.actor(),
        "connection.disconnected",
        Some(&id),
        json!({}),
    );
    Ok(Json(view(&state, c).await?))
}

/// Delete the records stored for a connection and its kv store (cached access tokens); the connection stays.
///
/// # Errors
///
/// `connection_not_found` when there is no connection `id`; `internal` when
/// the database failed.
#[utoipa::path(delete, path = "/v1/connections/{id}/data", tag = "connections", security(("admin_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = DataDeleted), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete_data(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DataDeleted>, ApiError> {
    find(&state, &id).await?;
    let deleted_records = state
        .connections
        .delete_data(&id)
        .await
        .map_err(ApiError::internal)?;
    state.audit.admin(
        &admin.actor(),
        "connection.data_deleted",
        Some(&id),
        json!({"deleted_records": deleted_records}),
    );
    Ok(Json(DataDeleted { deleted_records }))
}

/// The connection credit pool.
///
/// # Errors
///
/// `internal` when the database failed.
#[utoipa::path(get, path = "/v1/credits", tag = "connections", security(("admin_key" = [])),
    responses((status = 200, body = Credits), (status = 401, body = super::error::ErrorBody)))]
pub async fn credits(_: Admin, State(state): State<AppState>) -> Result<Json<Credits>, ApiError> {
    let total = state.connections.credits();
    let used = state
        .connections
        .credits_used()
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Credits {
        total,
        used,
        available: total.saturating_sub(used),
    }))
}
