//! The data plane's writes: `POST`, `PATCH` and `DELETE` on `/v1/{entity}`.
//!
//! Before the system is called, a write passes, in order: the permission
//! check ([`super::data::prepare`]), the field rules
//! ([`crate::rules::fields`]), the state locks ([`crate::rules::state`],
//! which read the record first when a lock can apply), the idempotency key
//! (creates), and the connection's write budget ([`crate::rules::rate`]). A
//! write refused by any of them never reaches the system. A system that
//! answers 429 is retried with backoff, honouring its `Retry-After`.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::data::{Call, failed, prepare, store};
use super::error::ApiError;
use super::json::ApiJson;
use super::request_id::RequestId;
use super::token::ConnectionAuth;
use crate::connections::Connection;
use crate::manifest::{Field, Operation};
use crate::rules::fields::{Schema, Write, check};
use crate::rules::{Violation, state};
use crate::runtime::{AdapterError, CallError};
use crate::storage::IdempotencyClaim;

/// Upstream 429s retried before the client gets one.
const MAX_RETRIES: u32 = 3;
/// The longest wait between two tries, whatever the system asks.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// How long an idempotency key is remembered.
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Runs `call` again while the system answers 429, waiting as it asks (or
/// 250 ms, doubling), at most [`MAX_RETRIES`] times.
pub(super) async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut backoff = Duration::from_millis(250);
    for attempt in 0.. {
        match call().await {
            Err(CallError::Adapter(AdapterError::RateLimited {
                retry_after_ms,
                message,
            })) if attempt < MAX_RETRIES => {
                let wait = retry_after_ms
                    .map(Duration::from_millis)
                    .unwrap_or(backoff)
                    .min(MAX_RETRY_WAIT);
                tracing::info!(attempt, wait_ms = wait.as_millis() as u64, %message, "the system is rate-limiting; retrying");
                tokio::time::sleep(wait).await;
                backoff *= 2;
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "the body must be a JSON object",
        )),
    }
}

/// The custom fields the connection's account adds to `entity`.
fn account_fields(connection: &Connection, entity: &str) -> Vec<Field> {
    connection
        .custom_fields
        .iter()
        .filter(|c| c.entity == entity)
        .map(|c| c.field.clone())
        .collect()
}

/// Checks the field rules; all violations come back in one error, whose
/// code is the first one's.
fn check_fields(
    call: &Call,
    connection: &Connection,
    entity: &str,
    body: &Map<String, Value>,
    write: Write,
) -> Result<(), ApiError> {
    let declared = call.declared(entity);
    let extra = account_fields(connection, entity);
    let violations: Vec<Violation> = check(&Schema::new(declared, &extra), body, write);
    match violations.first() {
        None => Ok(()),
        Some(first) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            first.code,
            match violations.len() {
                1 => first.message.clone(),
                n => format!("{n} fields break the rules of `{entity}`; see details.errors"),
            },
        )
        .with_details(json!({"errors": violations}))),
    }
}

/// Reads the record and checks the state locks, when one can apply.
async fn check_state(
    state: &AppState,
    call: &Call,
    connection: &Connection,
    request_id: &RequestId,
    (entity, id): (&str, &str),
    operation: Operation,
    patch: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    let declared = call.declared(entity);
    if !state::may_lock(declared, operation) {
        return Ok(());
    }
    let current = match with_retries(|| call.adapter.get(call.ctx.clone(), entity, id)).await {
        Ok(record) => record,
        Err(e) => return Err(failed(state, connection, request_id, e).await),
    };
    let current: Value = serde_json::from_str(current.get()).map_err(ApiError::internal)?;
    state::check(declared, &current, operation, patch).map_err(|locked| {
        let what = match locked.operation {
            Some(op) => format!("{} is refused", op.as_str()),
            None => format!("{} cannot change", locked.locked_fields.join(", ")),
        };
        let reason = if locked.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", locked.reason)
        };
        ApiError::new(
            StatusCode::CONFLICT,
            "state_locked",
            format!(
                "the record's {} is `{}`{reason}: {what}",
                locked.field, locked.state
            ),
        )
        .with_details(json!(locked))
    })
}

/// Takes one write from the connection's budget: the manifest's
/// `writes-per-minute`, or the operator's lower cap.
fn take_write(state: &AppState, call: &Call, connection: &Connection) -> Result<(), ApiError> {
    let declared = call.adapter.manifest().limits.writes_per_minute;
    let Some(per_minute) = [declared, state.max_writes_per_minute]
        .into_iter()
        .flatten()
        .min()
    else {
        return Ok(());
    };
    state
        .write_budgets
        .take(&connection.id, per_minute, Instant::now())
        .map_err(|wait| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("this connection may write {per_minute} times a minute; retry later"),
            )
            .with_details(json!({"writes_per_minute": per_minute}))
            .with_retry_after(wait)
        })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 255 => Ok(Some(key.to_string())),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible characters",
        )),
    }
}

/// Create a record (with its children).
#[utoipa::path(post, path = "/v1/{entity}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path), ("Idempotency-Key" = Option<String>, Header,
        description = "Replays the first result of a key for 24 h instead of creating again")),
    request_body = Object,
    responses((status = 201, body = Object), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn create(
    ConnectionAuth(connection): ConnectionAuth,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(entity): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let record = object(body)?;
    let call = prepare(&state, &connection, &entity, Operation::Create)?;
    check_fields(&call, &connection, &entity, &record, Write::Create)?;
    let text = Value::Object(record).to_string();

    let key = idempotency_key(&headers)?;
    let storage = state.connections.storage();
    if let Some(key) = &key {
        let hash = hex::encode(Sha256::digest(format!("{entity}\n{text}").as_bytes()));
        let now = SystemTime::now();
        let claim = storage
            .claim_idempotency_key(&connection.id, key, &hash, now, now - IDEMPOTENCY_WINDOW)
            .await
            .map_err(ApiError::internal)?;
        match claim {
            IdempotencyClaim::Claimed => {}
            IdempotencyClaim::Replay { status, response } => {
                let record = RawValue::from_string(response).map_err(ApiError::internal)?;
                let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
                let mut reply = (status, Json(record)).into_response();
                reply
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                return Ok(reply);
            }
            IdempotencyClaim::InFlight => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_flight",
                    "a request with this Idempotency-Key is still running",
                ));
            }
            IdempotencyClaim::Mismatch => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another body; use a new key for a new record",
                ));
            }
        }
    }
    let outcome = match take_write(&state, &call, &connection) {
        Err(refused) => Err(refused),
        Ok(()) => {
            match with_retries(|| call.adapter.create(call.ctx.clone(), &entity, text.clone()))
                .await
            {
                Ok(record) => Ok(record),
                Err(e) => Err(failed(&state, &connection, &request_id, e).await),
            }
        }
    };
    match outcome {
        Ok(record) => {
            store(&state, &connection, &entity, &[&record]).await;
            if let Some(key) = &key
                && let Err(e) = storage
                    .complete_idempotency_key(&connection.id, key, 201, record.get())
                    .await
            {
                tracing::error!(error = %e, "could not record the idempotent result");
            }
            Ok((StatusCode::CREATED, Json(record)).into_response())
        }
        Err(error) => {
            if let Some(key) = &key
                && let Err(e) = storage.release_idempotency_key(&connection.id, key).await
            {
                tracing::error!(error = %e, "could not release an idempotency key");
            }
            Err(error)
        }
    }
}

/// Change the fields present in the body.
#[utoipa::path(patch, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path), ("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn update(
    ConnectionAuth(connection): ConnectionAuth,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path((entity, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Box<RawValue>>, ApiError> {
    let patch = object(body)?;
    let call = prepare(&state, &connection, &entity, Operation::Update)?;
    check_fields(&call, &connection, &entity, &patch, Write::Update)?;
    check_state(
        &state,
        &call,
        &connection,
        &request_id,
        (&entity, &id),
        Operation::Update,
        Some(&patch),
    )
    .await?;
    take_write(&state, &call, &connection)?;
    let text = Value::Object(patch).to_string();
    match with_retries(|| {
        call.adapter
            .update(call.ctx.clone(), &entity, &id, text.clone())
    })
    .await
    {
        Ok(record) => {
            store(&state, &connection, &entity, &[&record]).await;
            Ok(Json(record))
        }
        Err(e) => Err(failed(&state, &connection, &request_id, e).await),
    }
}

/// Delete a record.
#[utoipa::path(delete, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn delete(
    ConnectionAuth(connection): ConnectionAuth,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path((entity, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let call = prepare(&state, &connection, &entity, Operation::Delete)?;
    check_state(
        &state,
        &call,
        &connection,
        &request_id,
        (&entity, &id),
        Operation::Delete,
        None,
    )
    .await?;
    take_write(&state, &call, &connection)?;
    match with_retries(|| call.adapter.delete(call.ctx.clone(), &entity, &id)).await {
        Ok(()) => {
            let storage = state.connections.storage();
            if let Err(e) = storage
                .mark_deleted(&connection.id, &entity, &id, SystemTime::now())
                .await
            {
                tracing::error!(error = %e, connection = %connection.id, "could not mark a stored record deleted");
            }
            Ok(StatusCode::NO_CONTENT)
        }
        Err(e) => Err(failed(&state, &connection, &request_id, e).await),
    }
}
