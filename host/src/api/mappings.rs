//! `/v1/connections/{id}/mappings`: the fields of a connection's system
//! shown under the names its customer uses, and
//! `/v1/connections/{id}/refresh`, which asks the system again what the
//! account holds, so that a mapped field it dropped shows as drift.
//! What a mapping does is [`crate::rules::mapping`]; the operator's API.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::connections::{ConnectionView, not_found, view};
use super::error::ApiError;
use super::json::ApiJson;
use crate::code::Code;
use crate::connections::mappings::{MappingError, NewMapping};
use crate::connections::{Connection, FieldMapping};
use crate::rules::mapping::MappingIssue;

/// A connection's mappings, and those whose source has drifted.
#[derive(Serialize, ToSchema)]
pub struct Mappings {
    pub mappings: Vec<FieldMapping>,
    /// Mappings whose source the system no longer has as it was mapped:
    /// their targets read as `null` (with `mapping_errors` in the record)
    /// and refuse writes, until they are mapped again.
    pub issues: Vec<MappingIssue>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMappings {
    /// Every mapping of the connection (replacing those it had); at most 200.
    #[schema(max_items = 200)]
    pub mappings: Vec<NewMapping>,
}

impl From<MappingError> for ApiError {
    fn from(e: MappingError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            MappingError::NotFound(id) => not_found(&id),
            MappingError::Disconnected(_) => ApiError::new(Code::ConnectionNotActive, message),
            MappingError::AdapterUnavailable(_) => ApiError::new(Code::AdapterUnavailable, message),
            MappingError::Invalid(violations) => {
                ApiError::new(code, message).with_details(json!({"violations": violations}))
            }
            MappingError::CredentialsRejected(_) => {
                ApiError::new(Code::CredentialsRejected, message)
            }
            MappingError::Call(e) => e.into(),
            MappingError::Secrets => ApiError::internal(message),
            MappingError::Storage(e) => ApiError::internal(e),
        }
    }
}

fn mappings(state: &AppState, connection: Connection) -> Mappings {
    Mappings {
        issues: state.connections.mapping_issues(&connection),
        mappings: connection.field_mappings,
    }
}

/// A connection's field mappings, and the drifted ones.
///
/// # Errors
///
/// `connection_not_found`.
#[utoipa::path(get, path = "/v1/connections/{id}/mappings", tag = "connections",
    security(("admin_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Mappings), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn get(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Mappings>, ApiError> {
    let connection = state
        .connections
        .get(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(mappings(&state, connection)))
}

/// Sets a connection's field mappings: each shows a field of the system
/// (`source`, as `GET /v1/{entity}/meta` names it) as `custom.<name>` or
/// as a field of the unified model (`target`), for reads and, when
/// `writable`, for writes, under the source's rules (its access, required
/// flag, type and state locks). The next call reads through them; stored
/// records too, without a new sync.
///
/// # Errors
///
/// `connection_not_found`; `connection_not_active` for a disconnected
/// connection; `adapter_unavailable`; `mapping_source_read_only` when a
/// writable mapping names a field the system does not let anyone write,
/// `invalid_mapping` for any other problem, every one in
/// `details.violations` (a source the system does not have, a target that
/// cannot be one, a field mapped twice).
#[utoipa::path(put, path = "/v1/connections/{id}/mappings", tag = "connections",
    request_body = SetMappings, security(("admin_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Mappings), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn set(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetMappings>,
) -> Result<Json<Mappings>, ApiError> {
    let connection = state.connections.set_mappings(&id, body.mappings).await?;
    state.audit.admin(
        &admin.actor(),
        "connection.mappings_set",
        Some(&id),
        json!({"mappings": connection.field_mappings}),
    );
    Ok(Json(mappings(&state, connection)))
}

/// Asks the system again which custom fields the account has and keeps
/// them (the permissions stay those it held when it connected); a mapped
/// field the system no longer has then shows in `mapping_issues`.
///
/// # Errors
///
/// `connection_not_found`; `connection_not_active`; `adapter_unavailable`;
/// `credentials_rejected` when the system refuses the connection's
/// credentials; the code of a failed adapter call.
#[utoipa::path(post, path = "/v1/connections/{id}/refresh", tag = "connections",
    security(("admin_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn refresh(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let connection = state.connections.describe_again(&id).await?;
    state.audit.admin(
        &admin.actor(),
        "connection.refreshed",
        Some(&id),
        json!({"custom_fields": connection.custom_fields.len()}),
    );
    Ok(Json(view(&state, connection).await?))
}
