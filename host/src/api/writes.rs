//! Writes: `POST`, `PATCH` and `DELETE` on `/v1/{entity}`, through the data
//! plane's write path ([`crate::dataplane`]): permissions, field rules, state
//! locks, idempotency, the write budget, then the system.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use serde_json::value::RawValue;

use super::AppState;
use super::data::RecordPath;
use super::error::ApiError;
use super::json::ApiJson;
use super::token::ConnectionAuth;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible characters",
        )),
    }
}

/// Create a record (with its children).
#[utoipa::path(post, path = "/v1/{entity}", tag = "data", security(("connection_token" = [])),
    params(("entity" = String, Path), ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters; replays the first result of a key for 24 h instead of creating again")),
    request_body = Object,
    responses((status = 201, body = Object), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn create(
    ConnectionAuth(caller): ConnectionAuth,
    State(state): State<AppState>,
    Path(entity): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let created = state.dataplane.create(&caller, &entity, body, key).await?;
    let status = StatusCode::from_u16(created.status).map_err(ApiError::internal)?;
    let mut reply = (status, Json(created.record)).into_response();
    if created.replayed {
        reply
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(reply)
}

/// Change the fields present in the body.
#[utoipa::path(patch, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(RecordPath), request_body = Object,
    responses((status = 200, body = Object), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn update(
    ConnectionAuth(caller): ConnectionAuth,
    State(state): State<AppState>,
    Path(RecordPath { entity, id }): Path<RecordPath>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Box<RawValue>>, ApiError> {
    Ok(Json(
        state.dataplane.update(&caller, &entity, &id, body).await?,
    ))
}

/// Delete a record.
#[utoipa::path(delete, path = "/v1/{entity}/{id}", tag = "data", security(("connection_token" = [])),
    params(RecordPath),
    responses((status = 204), (status = "4XX", body = super::openapi::ErrorBody)))]
pub async fn delete(
    ConnectionAuth(caller): ConnectionAuth,
    State(state): State<AppState>,
    Path(RecordPath { entity, id }): Path<RecordPath>,
) -> Result<StatusCode, ApiError> {
    state.dataplane.delete(&caller, &entity, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
