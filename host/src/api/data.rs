//! Reads: `GET /v1/{entity}` and `GET /v1/{entity}/{id}`, live from the
//! system through the data plane. Nothing is stored on the way: the stored
//! copy of a connection's records is what its syncs write. With
//! `Prefer: include-upstream` ([`super::prefer`]), the answer carries the
//! read's exchanges with the system.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::AppState;
use super::error::ApiError;
use super::prefer::{Prefer, with_upstream};
use super::token::ConnectionAuth;
use crate::audit::upstream::Upstream;
use crate::code::Code;
use crate::connections::tokens::Access;
use crate::runtime::ListRequest;
use crate::timing::Part;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The page size when a client asks for none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

#[derive(Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Where the previous page ended (its `next_cursor`); empty for the
    /// first page.
    #[param(max_length = 2048, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub cursor: Option<String>,
    /// Records per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub page_size: Option<u32>,
    /// Only records modified after this RFC 3339 timestamp.
    #[param(format = DateTime)]
    pub modified_after: Option<String>,
}

/// `/v1/{entity}/{id}`
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RecordPath {
    /// vendors, items, purchase-orders, ...
    pub entity: String,
    /// The record's id: 1 to 256 characters, no `/`, `\`, `?`, `#`, `%` or
    /// control characters, not made only of dots.
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = r"^(?!\.+$)[^/\\?#%\u0000-\u001F\u007F-\u009F]+$"
    )]
    pub id: String,
}

/// One page of unified records.
#[derive(Serialize, ToSchema)]
pub struct ListResponse {
    #[schema(value_type = Vec<UnifiedRecord>)]
    pub data: Vec<Box<RawValue>>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// With `Prefer: include-upstream`: the read's exchanges with the
    /// system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

/// A page of records.
///
/// # Errors
///
/// - `insufficient_scope` when the token may not read `entity`, or asks
///   for `include-upstream` without the `upstream` scope;
/// - `invalid_query` for a page size out of bounds or a `modified_after`
///   that is not an RFC 3339 timestamp; `invalid_record_id` for a cursor
///   too long or with control characters;
/// - `adapter_unavailable`, `unknown_entity`, `operation_not_supported` or
///   `insufficient_permissions` when the connection's adapter is not
///   loaded, does not serve the entity or the operation on it, or the
///   account lacks the operation's permissions;
/// - `too_many_requests` when the connection is at its limits;
/// - the code of a failed adapter call: the system's answer
///   (`record_not_found`, `rate_limited` once retries are spent,
///   `upstream_error`, `connection_requires_reauthorization`, ...) or the
///   adapter's failure (`adapter_timeout`, `adapter_crashed`,
///   `adapter_invalid_output`, `outbound_denied`, `busy`, ...);
/// - `internal` when the database failed.
#[utoipa::path(get, path = "/v1/{entity}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path, description = "vendors, items, purchase-orders, ..."), ListQuery,
        ("Prefer" = Option<String>, Header, description = PREFER_READ)),
    responses((status = 200, body = ListResponse), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn list(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(entity): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require(Access::Read, Some(&entity))?;
    let prefer = Prefer::checked(&headers, &auth)?;
    let page = async {
        let request = list_request(entity, query)?;
        Ok::<_, ApiError>(state.dataplane.list(&auth.caller, &request).await?)
    }
    .await
    .map_err(|e| prefer.failed(&auth, e))?;
    let answer = encoded(&auth, || {
        Json(ListResponse {
            data: page.records,
            next_cursor: page.next_cursor,
            upstream: prefer.upstream(&auth),
        })
        .into_response()
    });
    Ok(prefer.applied(answer, false))
}

/// The `Prefer` header of a read, as the OpenAPI document describes it.
const PREFER_READ: &str = "`include-upstream` (with the token's `upstream` scope): the \
    answer carries the read's exchanges with the system in `upstream` (method, URL, status, \
    bodies; no header, the connection's secrets redacted)";

/// The list request `query` makes of `entity`, checked.
///
/// # Errors
///
/// 400 `invalid_query`: a page size out of bounds, or a `modified_after`
/// that is not an RFC 3339 timestamp.
pub fn list_request(entity: String, query: ListQuery) -> Result<ListRequest, ApiError> {
    let page_size = query.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::new(
            Code::InvalidQuery,
            format!("page_size must be 1 to {MAX_PAGE_SIZE}"),
        ));
    }
    let modified_after = match &query.modified_after {
        Some(t) => Some(crate::timestamps::normalize(t).ok_or_else(|| {
            ApiError::new(
                Code::InvalidQuery,
                "modified_after must be an RFC 3339 timestamp, such as 2026-01-31T00:00:00Z",
            )
        })?),
        None => None,
    };
    Ok(ListRequest {
        entity,
        cursor: query.cursor.filter(|c| !c.is_empty()),
        page_size,
        modified_after,
    })
}

/// One record.
///
/// # Errors
///
/// `insufficient_scope` when the token may not read `entity` (or asks for
/// `include-upstream` without `upstream`); `invalid_record_id` when `id` is
/// not a record id; then those of `GET /v1/{entity}` from the adapter on.
#[utoipa::path(get, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(RecordPath, ("Prefer" = Option<String>, Header, description = PREFER_READ)),
    responses((status = 200, body = UnifiedRecord), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn get(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(RecordPath { entity, id }): Path<RecordPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require(Access::Read, Some(&entity))?;
    let prefer = Prefer::checked(&headers, &auth)?;
    let record = state
        .dataplane
        .get(&auth.caller, &entity, &id)
        .await
        .map_err(|e| prefer.failed(&auth, e))?;
    let record = with_upstream(record, prefer.upstream(&auth))?;
    let answer = encoded(&auth, || Json(record).into_response());
    Ok(prefer.applied(answer, false))
}

/// The answer `encode` writes, its time added to the request's `encode`.
fn encoded(auth: &ConnectionAuth, encode: impl FnOnce() -> Response) -> Response {
    let started = Instant::now();
    let answer = encode();
    auth.caller
        .trail
        .timing
        .add(Part::Encode, started.elapsed());
    answer
}

/// A record of the unified model (`interlink-model`): the one of the path's
/// entity.
pub struct UnifiedRecord;

impl PartialSchema for UnifiedRecord {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("Vendor"))
            .item(Ref::from_schema_name("Item"))
            .item(Ref::from_schema_name("PurchaseOrder"))
            .description(Some(
                "The record of the path's entity, in the unified model: a `Vendor` for \
                 `vendors`, an `Item` for `items`, a `PurchaseOrder` for `purchase-orders`. \
                 Which fields an adapter serves, and how each may be written, is in \
                 `GET /v1/{entity}/meta`. With `Prefer: include-upstream`, the record \
                 has one member more, `upstream` (an `Upstream`): the call's exchanges \
                 with the system.",
            ))
            .into()
    }
}

impl ToSchema for UnifiedRecord {}
