//! The data plane: `/v1/{entity}` through the connection's adapter, with the
//! connection token.

use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::ApiError;
use super::request_id::RequestId;
use super::token::ConnectionAuth;
use crate::connections::{Connection, LastError};
use crate::manifest::Operation;
use crate::runtime::{Adapter, AdapterError, CallContext, CallError, ListRequest};
use crate::storage::StoredRecord;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;
const DEFAULT_PAGE_SIZE: u32 = 50;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Records per page, 1 to 500 (default 50).
    pub page_size: Option<u32>,
    /// Only records modified after this RFC 3339 timestamp.
    pub modified_after: Option<String>,
}

/// One page of unified records.
#[derive(Serialize, ToSchema)]
pub struct ListResponse {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Box<RawValue>>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An adapter call about to be made for a connection.
pub(super) struct Call {
    pub adapter: Adapter,
    pub ctx: CallContext,
}

impl Call {
    /// The declaration of `entity`, which [`prepare`] checked exists.
    pub(super) fn declared(&self, entity: &str) -> &crate::manifest::Entity {
        self.adapter
            .manifest()
            .entity(entity)
            .expect("prepare checked the entity")
    }
}

/// The connection's adapter, which must serve `entity`.
pub(super) fn adapter_for(
    state: &AppState,
    connection: &Connection,
    entity: &str,
) -> Result<Adapter, ApiError> {
    let adapter = state
        .connections
        .registry()
        .get(&connection.adapter_id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "adapter_unavailable",
                format!(
                    "adapter `{}` is not loaded on this host",
                    connection.adapter_id
                ),
            )
        })?;
    tracing::Span::current().record("adapter", adapter.id());
    let manifest = adapter.manifest();
    if manifest.entity(entity).is_none() {
        let entities: Vec<&str> = manifest.entities.iter().map(|e| e.name.as_str()).collect();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_entity",
            format!("adapter `{}` serves no entity `{entity}`", adapter.id()),
        )
        .with_details(json!({"entities": entities})));
    }
    Ok(adapter)
}

pub(super) fn prepare(
    state: &AppState,
    connection: &Connection,
    entity: &str,
    operation: Operation,
) -> Result<Call, ApiError> {
    let adapter = adapter_for(state, connection, entity)?;
    let declared = adapter
        .manifest()
        .entity(entity)
        .expect("adapter_for checked the entity");
    let Some(declared) = declared
        .operations
        .iter()
        .find(|o| o.operation == operation)
    else {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "operation_not_supported",
            format!(
                "adapter `{}` does not support {} on `{entity}`",
                adapter.id(),
                operation.as_str()
            ),
        ));
    };
    // Refused here, before the system is asked: the account's permissions
    // were recorded when it connected.
    let missing = connection.missing_permissions(&declared.permissions);
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_permissions",
            format!(
                "{} on `{entity}` needs permissions the account does not hold",
                operation.as_str()
            ),
        )
        .with_details(json!({"missing_permissions": missing})));
    }
    let ctx = state
        .connections
        .context(connection)
        .map_err(ApiError::internal)?;
    Ok(Call { adapter, ctx })
}

/// Maps a failed call to its API error, recording it on the connection (and
/// marking the connection as requiring reauthorization when the system
/// rejected its credentials).
pub(super) async fn failed(
    state: &AppState,
    connection: &Connection,
    request_id: &RequestId,
    error: CallError,
) -> ApiError {
    let credentials_rejected =
        matches!(error, CallError::Adapter(AdapterError::Unauthorized { .. }));
    let api_error = ApiError::from(error);
    let last = LastError {
        code: api_error.code.to_string(),
        message: api_error.message.clone(),
        at: SystemTime::now(),
        request_id: request_id.0.clone(),
    };
    if let Err(e) = state
        .connections
        .request_failed(connection, last, credentials_rejected)
        .await
    {
        return ApiError::internal(e);
    }
    api_error
}

/// Keeps what a call returned as the connection's stored records. A storage
/// failure is logged, not answered: the system has already done the work.
pub(super) async fn store(
    state: &AppState,
    connection: &Connection,
    entity: &str,
    records: &[&RawValue],
) {
    #[derive(Deserialize)]
    struct Id {
        id: Option<Value>,
    }
    let ids: Vec<Option<String>> = records
        .iter()
        .map(
            |r| match serde_json::from_str::<Id>(r.get()).ok().and_then(|i| i.id) {
                Some(Value::String(s)) => Some(s),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            },
        )
        .collect();
    let stored: Vec<StoredRecord> = records
        .iter()
        .zip(&ids)
        .filter_map(|(r, id)| {
            Some(StoredRecord {
                id: id.as_deref()?,
                json: r.get(),
            })
        })
        .collect();
    if let Err(e) = state
        .connections
        .storage()
        .upsert_records(&connection.id, entity, &stored, SystemTime::now())
        .await
    {
        tracing::error!(error = %e, connection = %connection.id, "could not store records");
    }
}

/// A page of records.
#[utoipa::path(get, path = "/v1/{entity}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path, description = "vendors, items, purchase-orders, ..."), ListQuery),
    responses((status = 200, body = ListResponse), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn list(
    ConnectionAuth(connection): ConnectionAuth,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(entity): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    let page_size = query.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("page_size must be 1 to {MAX_PAGE_SIZE}"),
        ));
    }
    if let Some(t) = &query.modified_after {
        humantime::parse_rfc3339_weak(t).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "modified_after must be an RFC 3339 timestamp, such as 2026-01-31T00:00:00Z",
            )
        })?;
    }
    let call = prepare(&state, &connection, &entity, Operation::List)?;
    let request = ListRequest {
        entity: entity.clone(),
        cursor: query.cursor,
        page_size,
        modified_after: query.modified_after,
    };
    match call.adapter.list(call.ctx, &request).await {
        Ok(page) => {
            let records: Vec<&RawValue> = page.records.iter().map(|r| &**r).collect();
            store(&state, &connection, &entity, &records).await;
            Ok(Json(ListResponse {
                data: page.records,
                next_cursor: page.next_cursor,
            }))
        }
        Err(e) => Err(failed(&state, &connection, &request_id, e).await),
    }
}

/// One record.
#[utoipa::path(get, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Object), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn get(
    ConnectionAuth(connection): ConnectionAuth,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path((entity, id)): Path<(String, String)>,
) -> Result<Json<Box<RawValue>>, ApiError> {
    let call = prepare(&state, &connection, &entity, Operation::Get)?;
    match call.adapter.get(call.ctx, &entity, &id).await {
        Ok(record) => {
            store(&state, &connection, &entity, &[&record]).await;
            Ok(Json(record))
        }
        Err(e) => Err(failed(&state, &connection, &request_id, e).await),
    }
}
