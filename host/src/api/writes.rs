//! Writes: `POST`, `PATCH` and `DELETE` on `/v1/{entity}`, through the data
//! plane's write path ([`crate::dataplane`]): permissions, field rules, state
//! locks, idempotency, the write budget, then the system.
//!
//! With `Prefer: dry-run` (RFC 7240), a write passes every check and runs the
//! adapter, but the first request that would change the system is answered
//! instead of sent ([`DryRun`]), with `Preference-Applied: dry-run`. With
//! `Prefer: include-upstream` ([`super::prefer`]), the answer carries the
//! write's exchanges with the system (a delete's answers 200 with them).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::AppState;
use super::data::RecordPath;
use super::error::ApiError;
use super::json::ApiJson;
use super::prefer::{Prefer, with_upstream};
use super::token::ConnectionAuth;
use crate::audit::upstream::Upstream;
use crate::code::Code;
use crate::connections::tokens::Access;
use crate::dataplane::Written;
use crate::runtime::HeldRequest;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        _ => Err(ApiError::new(
            Code::InvalidIdempotencyKey,
            "Idempotency-Key must be 1 to 255 visible characters",
        )),
    }
}

/// What a dry-run write would have sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRun {
    /// Always true: nothing was changed.
    pub dry_run: bool,
    /// The requests held instead of sent: the first request that would have
    /// changed the system (the adapter stops there, since it would need its
    /// answer), or none when the adapter changed nothing.
    pub requests: Vec<DryRunRequest>,
    /// With `Prefer: include-upstream`: the requests the dry run sent (those
    /// that only read), with their answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

/// A delete's answer with `Prefer: include-upstream`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// The delete's exchanges with the system.
    pub upstream: Upstream,
}

/// One request a dry run held, with the connection's secrets and its
/// credential headers (`Authorization`, `Cookie`) shown as `[redacted]`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<DryRunHeader>,
    /// The body: JSON when it is JSON, text otherwise.
    #[schema(value_type = Option<Object>)]
    pub body: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunHeader {
    pub name: String,
    pub value: String,
}

impl From<HeldRequest> for DryRunRequest {
    fn from(held: HeldRequest) -> Self {
        DryRunRequest {
            method: held.method,
            url: held.url,
            headers: held
                .headers
                .into_iter()
                .map(|(name, value)| DryRunHeader { name, value })
                .collect(),
            body: held
                .body
                .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))),
        }
    }
}

/// The answer of a dry run: 200, the held requests (and the exchanges, when
/// asked for), `Preference-Applied`.
fn dry_run(requests: Vec<HeldRequest>, prefer: Prefer, auth: &ConnectionAuth) -> Response {
    let body = DryRun {
        dry_run: true,
        requests: requests.into_iter().map(Into::into).collect(),
        upstream: prefer.upstream(auth),
    };
    prefer.applied(Json(body).into_response(), true)
}

/// The `Prefer` header of a write, as the OpenAPI document describes it.
const PREFER_WRITE: &str = "`dry-run`: run every check and the adapter, and answer the \
    request that would change the system instead of sending it. `include-upstream` (with the \
    token's `upstream` scope): the answer carries the write's exchanges with the system in \
    `upstream` (method, URL, status, bodies; no header, the connection's secrets redacted)";

/// Create a record (with its children).
///
/// # Errors
///
/// - `insufficient_scope` when the token may not write `entity`;
///   `invalid_idempotency_key` when the `Idempotency-Key` is not 1 to 255
///   visible characters;
/// - `invalid_body` when the body is not a JSON object;
/// - those of `GET /v1/{entity}` for the adapter, the entity and the
///   operation;
/// - the first violation's code when the body breaks field rules
///   (`field_required`, `field_read_only`, `unknown_field`, `invalid_type`,
///   ...), every violation in `details.errors`;
/// - `idempotency_key_in_flight` while a request with the key runs,
///   `idempotency_key_reused` when the key was used with another body;
/// - `rate_limited` when the connection's write budget is spent;
/// - those of `GET /v1/{entity}` for the call, its limits and the database.
#[utoipa::path(post, path = "/v1/{entity}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path), ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters; replays the first result of a key for 24 h instead of creating again"),
        ("Prefer" = Option<String>, Header, description = PREFER_WRITE)),
    request_body = super::data::UnifiedRecord,
    responses((status = 201, body = super::data::UnifiedRecord),
        (status = 200, description = "`Prefer: dry-run`: what the create would send", body = DryRun),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn create(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(entity): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    auth.require(Access::Write, Some(&entity))?;
    let prefer = Prefer::checked(&headers, &auth)?;
    let written = async {
        let key = idempotency_key(&headers)?;
        Ok::<_, ApiError>(
            state
                .dataplane
                .create(&auth.caller, &entity, body, key, prefer.mode())
                .await?,
        )
    }
    .await
    .map_err(|e| prefer.failed(&auth, e))?;
    let created = match written {
        Written::Done(created) => created,
        Written::DryRun(requests) => return Ok(dry_run(requests, prefer, &auth)),
    };
    let status = StatusCode::from_u16(created.status).map_err(ApiError::internal)?;
    let record = with_upstream(created.record, prefer.upstream(&auth))?;
    let mut reply = prefer.applied((status, Json(record)).into_response(), false);
    if created.replayed {
        reply
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(reply)
}

/// Change the fields present in the body.
///
/// # Errors
///
/// - `insufficient_scope` when the token may not write `entity`;
///   `invalid_record_id` when `id` is not a record id; `invalid_body` when
///   the body is not a JSON object;
/// - those of `GET /v1/{entity}` for the adapter, the entity and the
///   operation;
/// - the first violation's code when the body breaks field rules
///   (`field_read_only`, `field_create_only`, `unknown_field`,
///   `invalid_type`, ...), every violation in `details.errors`;
/// - `state_locked` when the record's state locks the update or a field it
///   changes;
/// - `rate_limited` when the connection's write budget is spent;
/// - those of `GET /v1/{entity}` for the calls (the record is read first
///   when a lock can apply), their limits and the database.
#[utoipa::path(patch, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(RecordPath, ("Prefer" = Option<String>, Header, description = PREFER_WRITE)),
    request_body = super::data::UnifiedRecord,
    responses((status = 200, description = "The record as stored; with `Prefer: dry-run`, a `DryRun`", body = Object),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn update(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(RecordPath { entity, id }): Path<RecordPath>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    auth.require(Access::Write, Some(&entity))?;
    let prefer = Prefer::checked(&headers, &auth)?;
    let written = state
        .dataplane
        .update(&auth.caller, &entity, &id, body, prefer.mode())
        .await
        .map_err(|e| prefer.failed(&auth, e))?;
    Ok(match written {
        Written::Done(record) => {
            let record = with_upstream(record, prefer.upstream(&auth))?;
            prefer.applied(Json::<Box<RawValue>>(record).into_response(), false)
        }
        Written::DryRun(requests) => dry_run(requests, prefer, &auth),
    })
}

/// Delete a record.
///
/// # Errors
///
/// - `insufficient_scope` when the token may not write `entity`;
///   `invalid_record_id` when `id` is not a record id;
/// - those of `GET /v1/{entity}` for the adapter, the entity and the
///   operation;
/// - `state_locked` when the record's state locks the delete;
/// - `rate_limited` when the connection's write budget is spent;
/// - those of `GET /v1/{entity}` for the calls (the record is read first
///   when a lock can apply), their limits and the database.
#[utoipa::path(delete, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(RecordPath, ("Prefer" = Option<String>, Header, description = PREFER_WRITE)),
    responses((status = 204),
        (status = 200, description = "`Prefer: dry-run`: what the delete would send (a `DryRun`); \
            `Prefer: include-upstream` alone: the delete's exchanges (a `Deleted`)", body = Object),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn delete(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(RecordPath { entity, id }): Path<RecordPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require(Access::Write, Some(&entity))?;
    let prefer = Prefer::checked(&headers, &auth)?;
    let written = state
        .dataplane
        .delete(&auth.caller, &entity, &id, prefer.mode())
        .await
        .map_err(|e| prefer.failed(&auth, e))?;
    Ok(match (written, prefer.upstream(&auth)) {
        (Written::Done(()), None) => StatusCode::NO_CONTENT.into_response(),
        (Written::Done(()), Some(upstream)) => {
            prefer.applied(Json(Deleted { upstream }).into_response(), false)
        }
        (Written::DryRun(requests), _) => dry_run(requests, prefer, &auth),
    })
}
