//! `GET /v1/{entity}/meta`: everything a client needs to build a valid write
//! for the calling connection, without trial and error.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::token::ConnectionAuth;
use crate::connections::Connection;
use crate::connections::mappings::account_fields;
use crate::connections::tokens::Access;
use crate::manifest::{ChildCollection, Field, Operation, RateLimits, StateLock};
use crate::rules::mapping;

/// An operation, what it needs, and whether this connection has it.
#[derive(Serialize, ToSchema)]
pub struct OperationMeta {
    pub operation: Operation,
    pub permissions: Vec<String>,
    /// The account holds every permission the operation needs.
    pub allowed: bool,
    pub missing_permissions: Vec<String>,
}

/// A field of the system under the name this connection uses.
#[derive(Serialize, ToSchema)]
pub struct MappedField {
    /// The declaration the target inherits (its `name` is the target);
    /// absent when the source has drifted.
    pub field: Option<Field>,
    /// The system's field it shows.
    pub source: String,
    /// Why the mapping does not work now: the system no longer has the
    /// source, or has it with another type.
    pub issue: Option<String>,
}

/// The rules of one entity, for one connection.
#[derive(Serialize, ToSchema)]
pub struct EntityMeta {
    pub entity: String,
    pub adapter: String,
    pub adapter_version: String,
    pub description: String,
    /// Standard fields, then the custom fields the account adds.
    pub fields: Vec<Field>,
    /// The connection's mapped fields: each with its source's type,
    /// access (read-only unless the mapping is writable) and required flag,
    /// under its mapped name; writes to them follow the source's rules.
    pub mapped_fields: Vec<MappedField>,
    pub children: Vec<ChildCollection>,
    pub state_locks: Vec<StateLock>,
    pub operations: Vec<OperationMeta>,
    /// The limits in force for this connection (the operator may have
    /// lowered the adapter's write rate).
    pub rate_limits: RateLimits,
}

/// The rules of an entity for the calling connection: each field's access,
/// required and custom flags; child collections; state locks; what each
/// operation needs and whether the connection holds it; rate limits.
///
/// # Errors
///
/// `insufficient_scope` when the token may not read `entity`;
/// `adapter_unavailable` when the connection's adapter is not loaded,
/// `unknown_entity` when it does not serve `entity`.
#[utoipa::path(get, path = "/v1/{entity}/meta", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path)),
    responses((status = 200, body = EntityMeta), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn get(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(entity): Path<String>,
) -> Result<Json<EntityMeta>, ApiError> {
    auth.require(Access::Read, Some(&entity))?;
    entity_meta(&state, auth.connection(), &entity).map(Json)
}

/// The rules of `entity` for `connection`, as `GET /v1/{entity}/meta`
/// answers them.
///
/// # Errors
///
/// The adapter is not loaded, or does not serve `entity`.
pub fn entity_meta(
    state: &AppState,
    connection: &Connection,
    entity: &str,
) -> Result<EntityMeta, ApiError> {
    let adapter = state.dataplane.resolve(connection, entity)?;
    let manifest = adapter.manifest();
    let declared = manifest.entity(entity).expect("resolve checked the entity");
    let extra = account_fields(connection, entity);
    let mapped_fields = mapping::resolve(&connection.field_mappings, declared, &extra)
        .iter()
        .map(|r| MappedField {
            field: mapping::target_field(r),
            source: r.mapping.source.clone(),
            issue: r.drift.as_ref().map(|d| d.message(r.mapping)),
        })
        .collect();
    let mut fields = declared.fields.clone();
    fields.extend(extra);
    let operations = declared
        .operations
        .iter()
        .map(|o| {
            let missing: Vec<String> = connection
                .missing_permissions(&o.permissions)
                .into_iter()
                .cloned()
                .collect();
            OperationMeta {
                operation: o.operation,
                permissions: o.permissions.clone(),
                allowed: missing.is_empty(),
                missing_permissions: missing,
            }
        })
        .collect();
    let writes_per_minute = state.dataplane.writes_per_minute(&adapter);
    Ok(EntityMeta {
        entity: declared.name.clone(),
        adapter: manifest.id.clone(),
        adapter_version: manifest.version.clone(),
        description: declared.description.clone(),
        fields,
        mapped_fields,
        children: declared.children.clone(),
        state_locks: declared.state_locks.clone(),
        operations,
        rate_limits: RateLimits {
            max_concurrent_requests: manifest.limits.max_concurrent_requests,
            writes_per_minute,
        },
    })
}
