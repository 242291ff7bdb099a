//! The audit trail over HTTP ([`crate::audit`]): `GET /v1/audit` pages it
//! newest first, `GET /v1/audit/export` streams a time range of it as JSON
//! Lines, oldest first. The admin key reads every connection's entries; a
//! connection token with the `audit` scope reads its own connection's, and
//! no other's. `PUT /v1/connections/{id}/audit` sets whether a connection's
//! upstream bodies are kept.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{Admin, bearer, key_hash};
use super::connections::{ConnectionView, not_found, view};
use super::error::ApiError;
use super::json::ApiJson;
use super::token::ConnectionAuth;
use crate::code::Code;
use crate::connections::tokens::Access;
use crate::storage::audit::{AuditEntry, AuditFilter, AuditKind, AuditOutcome, AuditPage, micros};

/// Entries of one page, at most.
const MAX_LIMIT: u32 = 1_000;
/// Entries the export reads from the database at a time.
const EXPORT_PAGE: u32 = 1_000;

/// Who reads the trail: the operator (every connection) or one
/// connection's token with the `audit` scope.
pub enum Reader {
    Admin,
    Connection(String),
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some_and(|key| key_hash(key) == state.admin_key_hash) {
            return Ok(Reader::Admin);
        }
        let auth = ConnectionAuth::from_request_parts(parts, state).await?;
        auth.require(Access::Audit, None)?;
        Ok(Reader::Connection(auth.connection().id.clone()))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// From this time (RFC 3339, inclusive).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Before this time (RFC 3339, exclusive).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Only this connection's entries (the admin's filter; a token reads
    /// its own connection's only).
    pub connection_id: Option<String>,
    /// Only the entries of this request (its `x-request-id`).
    #[param(max_length = 128)]
    pub request_id: Option<String>,
    pub kind: Option<AuditKind>,
    pub outcome: Option<AuditOutcome>,
    /// The `next_cursor` of the page before (the list only).
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// At most this many, 1 to 1,000 (default 100; the list only).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl AuditQuery {
    /// The filter the query asks for, as `reader` may read it, and the
    /// cursor it gives.
    fn filter(&self, reader: &Reader) -> Result<(AuditFilter, Option<u64>), ApiError> {
        let cursor = match self.cursor.as_deref() {
            None => None,
            Some(cursor) => Some(
                cursor
                    .parse::<u64>()
                    .ok()
                    .filter(|c| *c < 1 << 63)
                    .ok_or_else(|| {
                        ApiError::new(
                            Code::InvalidCursor,
                            "`cursor` must be the `next_cursor` of an earlier page",
                        )
                    })?,
            ),
        };
        let time = |name: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    crate::timestamps::parse(t).map(|t| micros(t.into())).ok_or_else(|| {
                        ApiError::new(
                            Code::InvalidQuery,
                            format!("`{name}` must be an RFC 3339 time, such as 2026-12-06T10:00:00Z"),
                        )
                    })
                })
                .transpose()
        };
        if self.limit.is_some_and(|l| !(1..=MAX_LIMIT).contains(&l)) {
            return Err(ApiError::new(
                Code::InvalidQuery,
                "`limit` must be 1 to 1000",
            ));
        }
        if self.request_id.as_ref().is_some_and(|r| r.len() > 128) {
            return Err(ApiError::new(
                Code::InvalidQuery,
                "`request_id` is at most 128 characters",
            ));
        }
        let connection_id = match reader {
            Reader::Admin => self.connection_id.clone().filter(|c| !c.is_empty()),
            Reader::Connection(own) => Some(own.clone()),
        };
        let filter = AuditFilter {
            from_us: time("from", &self.from)?,
            to_us: time("to", &self.to)?,
            connection_id,
            request_id: self.request_id.clone().filter(|r| !r.is_empty()),
            kind: self.kind,
            outcome: self.outcome,
        };
        Ok((filter, cursor))
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass it as `cursor` for the older entries; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The audit trail, newest first: data-plane calls, upstream requests,
/// credential uses, write decisions, admin actions and MCP tool calls.
///
/// # Errors
///
/// `invalid_query` for a time that is not RFC 3339, a `request_id` longer
/// than 128 characters or a `limit` that is not 1 to 1,000; `invalid_cursor` for a cursor this API did not give;
/// `insufficient_scope` for a token without `audit`; `internal` when the
/// database failed.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    security(("admin_key" = []), ("connection_token" = [])),
    params(AuditQuery),
    responses((status = 200, body = AuditList), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn list(
    reader: Reader,
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let (filter, before) = query.filter(&reader)?;
    let limit = query.limit.unwrap_or(100);
    let entries = state
        .audit
        .read(&filter, AuditPage::Before(before), limit)
        .await?;
    let next_cursor = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(Json(AuditList {
        entries,
        next_cursor,
    }))
}

/// The audit trail of a time range, oldest first, as JSON Lines (one entry
/// per line, as `GET /v1/audit` shows it), streamed.
///
/// # Errors
///
/// As `GET /v1/audit`. A database failure once the answer started ends it
/// early, with a last line `{"error": ...}`.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit",
    security(("admin_key" = []), ("connection_token" = [])),
    params(AuditQuery),
    responses((status = 200, content_type = "application/jsonl", body = String),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn export(
    reader: Reader,
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let (filter, _) = query.filter(&reader)?;
    let audit = state.audit.clone();
    // Each step reads the next page after the last entry sent; `None` once
    // the range is done (or failed).
    let pages = futures::stream::unfold(Some(0u64), move |after| {
        let (audit, filter) = (audit.clone(), filter.clone());
        async move {
            let after = after?;
            match audit
                .read(&filter, AuditPage::After(after), EXPORT_PAGE)
                .await
            {
                Ok(entries) if entries.is_empty() => None,
                Ok(entries) => {
                    let next = (entries.len() == EXPORT_PAGE as usize)
                        .then(|| entries.last().map(|e| e.seq))
                        .flatten();
                    let mut lines = Vec::new();
                    for entry in &entries {
                        serde_json::to_writer(&mut lines, entry).expect("entries serialize");
                        lines.push(b'\n');
                    }
                    Some((lines, next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "the audit export stopped");
                    let line = json!({"error": {"code": Code::Internal, "message": "the database failed; the export is incomplete"}});
                    Some((format!("{line}\n").into_bytes(), None))
                }
            }
        }
    });
    let body = Body::from_stream(pages.map(Ok::<_, std::convert::Infallible>));
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl"),
    );
    Ok(response)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Keep the bodies of the connection's upstream exchanges in the trail,
    /// redacted (every form of every secret of the connection masked), up
    /// to 64 KiB each. Off by default.
    pub bodies: bool,
}

/// Sets what the audit trail keeps of a connection.
///
/// # Errors
///
/// `connection_not_found` when there is no connection `id`; `invalid_json`
/// or `invalid_body` for a body that is not `{"bodies": true|false}`;
/// `internal` when the database failed.
#[utoipa::path(put, path = "/v1/connections/{id}/audit", request_body = AuditSettings,
    tag = "audit", security(("admin_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn settings(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AuditSettings>,
) -> Result<Json<ConnectionView>, ApiError> {
    let connection = state
        .connections
        .set_audit_bodies(&id, body.bodies)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(&id))?;
    state.audit.admin(
        &admin.actor(),
        "connection.audit_settings",
        Some(&id),
        json!({"bodies": body.bodies}),
    );
    Ok(Json(view(&state, connection).await?))
}
