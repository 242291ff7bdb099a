//! Syncs for the calling connection: `/v1/syncs/{entity}` (schedule, manual
//! run), `/v1/sync-status`, and `/v1/synced/{entity}`, which reads stored
//! records without calling the system.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use super::json::ApiJson;
use super::request_id::RequestId;
use super::token::ConnectionAuth;
use crate::code::Code;
use crate::connections::tokens::Access;
use crate::storage::syncs::{Counts, Run, RunError, RunKind, RunStatus, Schedule, Trigger};
use crate::sync::{ScheduleRequest, SyncError};

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        let code = match &e {
            SyncError::NotListable(_) => Code::UnknownEntity,
            SyncError::NoSchedule(_) => Code::NoSyncSchedule,
            SyncError::AlreadyRunning(_) => Code::SyncRunning,
            SyncError::Storage(e) => return ApiError::internal(e),
            _ => Code::InvalidSchedule,
        };
        ApiError::new(code, e.to_string())
    }
}

/// `PUT /v1/syncs/{entity}`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// Seconds between runs: 60 to 31,536,000 (a year), 3600 by default.
    #[schema(minimum = 60, maximum = 31_536_000)]
    #[serde(default, deserialize_with = "super::json::whole_number")]
    pub interval_seconds: Option<u64>,
    /// Records per page asked of the system: 1 to 1000, 200 by default.
    #[schema(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
    /// The first run reads records modified after this date or timestamp;
    /// without it, everything.
    pub backfill_since: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    pub entity: String,
    pub interval_seconds: u64,
    pub page_size: u32,
    pub backfill_since: Option<String>,
    /// Where the next run starts (records modified after it); none until a
    /// run succeeded, and the next run then reads everything.
    pub modified_after: Option<String>,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub next_run_at: SystemTime,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        ScheduleView {
            entity: s.entity,
            interval_seconds: s.interval.as_secs(),
            page_size: s.page_size,
            backfill_since: s.backfill_since,
            modified_after: s.modified_after,
            next_run_at: s.next_run_at,
        }
    }
}

/// A sync run.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub entity: String,
    pub status: RunStatus,
    pub trigger: Trigger,
    pub kind: RunKind,
    pub modified_after: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
    pub pages: u64,
    pub error: Option<RunError>,
    /// The id in the run's logs (the request that started it, for manual runs).
    pub request_id: String,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: SystemTime,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<SystemTime>,
    pub duration_ms: Option<u64>,
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        RunView {
            duration_ms: r.finished_at.map(|f| {
                f.duration_since(r.started_at)
                    .unwrap_or_default()
                    .as_millis() as u64
            }),
            id: r.id,
            entity: r.entity,
            status: r.status,
            trigger: r.trigger,
            kind: r.kind,
            modified_after: r.modified_after,
            counts: r.counts,
            pages: r.pages,
            error: r.error,
            request_id: r.request_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// Creates or replaces the sync schedule of an entity. Its first run starts
/// at once. Needs the `syncs` scope and the entity's `read` (as every sync
/// route: a token sees the syncs of what it may read).
///
/// # Errors
///
/// - `insufficient_scope` when the token lacks `syncs` or the entity's
///   `read`;
/// - `unknown_entity` when the connection's adapter is not loaded, or does
///   not list `entity`;
/// - `invalid_schedule` when `interval_seconds`, `page_size` or
///   `backfill_since` is out of its range or not a time;
/// - `internal` when the database failed.
#[utoipa::path(put, path = "/v1/syncs/{entity}", tag = "syncs", security(("connection_token" = [])),
    params(("entity" = String, Path)), request_body = ScheduleBody,
    responses((status = 200, body = ScheduleView), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn put(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(entity): Path<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> Result<Json<ScheduleView>, ApiError> {
    auth.require(Access::Syncs, None)?;
    auth.require(Access::Read, Some(&entity))?;
    let connection = auth.connection();
    let request = ScheduleRequest {
        interval: body.interval_seconds.map(Duration::from_secs),
        page_size: body.page_size,
        backfill_since: body.backfill_since,
    };
    let schedule = state
        .syncs
        .put_schedule(connection, &entity, request)
        .await?;
    Ok(Json(schedule.into()))
}

/// Removes the sync schedule of an entity. Stored records stay.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `syncs` or the entity's
/// `read`; `no_sync_schedule` when the entity has no schedule; `internal`
/// when the database failed.
#[utoipa::path(delete, path = "/v1/syncs/{entity}", tag = "syncs", security(("connection_token" = [])),
    params(("entity" = String, Path)),
    responses((status = 204), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn delete(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(entity): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Access::Syncs, None)?;
    auth.require(Access::Read, Some(&entity))?;
    let connection = auth.connection();
    if state
        .syncs
        .delete_schedule(&connection.id, &entity)
        .await
        .map_err(ApiError::internal)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(SyncError::NoSchedule(entity).into())
    }
}

#[derive(Deserialize, IntoParams)]
pub struct RunQuery {
    /// Read everything, not only what changed, and mark what is gone as deleted.
    #[serde(default)]
    pub full: bool,
}

/// Starts a run of an entity's schedule now.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `syncs` or the entity's
/// `read`; `no_sync_schedule` when the entity has no schedule;
/// `sync_running` when a run of it is running (or the connection stopped
/// being active meanwhile); `internal` when the database failed.
#[utoipa::path(post, path = "/v1/syncs/{entity}/run", tag = "syncs", security(("connection_token" = [])),
    params(("entity" = String, Path), RunQuery),
    responses((status = 202, body = RunView), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn run(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(entity): Path<String>,
    Query(query): Query<RunQuery>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    auth.require(Access::Syncs, None)?;
    auth.require(Access::Read, Some(&entity))?;
    let connection = auth.connection();
    let run = state
        .syncs
        .trigger(connection, &entity, query.full, &request_id.0)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

#[derive(Serialize, ToSchema)]
pub struct SyncStatus {
    pub schedules: Vec<ScheduleView>,
    /// The latest runs, newest first.
    pub runs: Vec<RunView>,
}

/// The connection's sync schedules and its latest 50 runs, of the entities
/// the token may read.
///
/// # Errors
///
/// `insufficient_scope` when the token lacks `syncs`; `internal` when the
/// database failed.
#[utoipa::path(get, path = "/v1/sync-status", tag = "syncs", security(("connection_token" = [])),
    responses((status = 200, body = SyncStatus), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn status(
    auth: ConnectionAuth,
    State(state): State<AppState>,
) -> Result<Json<SyncStatus>, ApiError> {
    auth.require(Access::Syncs, None)?;
    let connection = auth.connection();
    let mut status = sync_status(&state, &connection.id).await?;
    status.schedules.retain(|s| auth.reads(&s.entity));
    status.runs.retain(|r| auth.reads(&r.entity));
    Ok(Json(status))
}

/// The sync schedules and latest runs of any connection, disconnected ones
/// included (their token no longer works).
///
/// # Errors
///
/// `internal` when the database failed. A connection that does not exist
/// has no schedules and no runs.
#[utoipa::path(get, path = "/v1/connections/{id}/sync-status", tag = "syncs", security(("admin_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SyncStatus), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn admin_status(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SyncStatus>, ApiError> {
    sync_status(&state, &id).await.map(Json)
}

/// The sync schedules and latest 50 runs of `connection`.
///
/// # Errors
///
/// The database failed.
pub async fn sync_status(state: &AppState, connection: &str) -> Result<SyncStatus, ApiError> {
    let (schedules, runs) = state
        .syncs
        .status(connection, 50)
        .await
        .map_err(ApiError::internal)?;
    Ok(SyncStatus {
        schedules: schedules.into_iter().map(Into::into).collect(),
        runs: runs.into_iter().map(Into::into).collect(),
    })
}

/// The largest page of stored records a client may ask for.
pub const SYNCED_MAX_PAGE_SIZE: u32 = 1000;
/// The page of stored records when a client asks for none.
pub const SYNCED_DEFAULT_PAGE_SIZE: u32 = 100;

#[derive(Deserialize, IntoParams)]
pub struct SyncedQuery {
    /// Where the previous page ended (its `next_cursor`); empty for the
    /// first page.
    #[param(max_length = 2048, pattern = "^([0-9a-f]{2})*$")]
    pub cursor: Option<String>,
    /// Records per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
    /// Only records that changed in Interlink's copy after this timestamp.
    #[param(format = DateTime)]
    pub modified_after: Option<String>,
}

/// A stored record with its history markers.
#[derive(Serialize, ToSchema)]
pub struct SyncedRecordView {
    pub id: String,
    #[schema(value_type = Object)]
    pub record: Box<RawValue>,
    pub first_seen_at: String,
    pub last_modified_at: String,
    /// When a full sync found it gone.
    pub deleted_at: Option<String>,
    /// The run that last changed it (none when it was stored by a read).
    pub run_id: Option<String>,
    pub content_hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct SyncedPage {
    pub data: Vec<SyncedRecordView>,
    pub next_cursor: Option<String>,
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(Code::InvalidQuery, message)
}

/// Stored records of an entity, oldest change first, without calling the
/// system.
///
/// # Errors
///
/// `insufficient_scope` when the token may not read `entity`;
/// `invalid_query` for a page size out of bounds, a cursor this endpoint
/// did not make, or a `modified_after` that is not an RFC 3339 timestamp;
/// `internal` when the database failed.
#[utoipa::path(get, path = "/v1/synced/{entity}", tag = "syncs", security(("connection_token" = [])),
    params(("entity" = String, Path), SyncedQuery),
    responses((status = 200, body = SyncedPage), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn synced(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    Path(entity): Path<String>,
    Query(query): Query<SyncedQuery>,
) -> Result<Json<SyncedPage>, ApiError> {
    auth.require(Access::Read, Some(&entity))?;
    let connection = auth.connection();
    let page_size = query.page_size.unwrap_or(SYNCED_DEFAULT_PAGE_SIZE);
    if !(1..=SYNCED_MAX_PAGE_SIZE).contains(&page_size) {
        return Err(invalid(&format!(
            "page_size must be 1 to {SYNCED_MAX_PAGE_SIZE}"
        )));
    }
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => {
            let text = hex::decode(cursor)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid("not a cursor of this endpoint"))?;
            let (modified, id) = text
                .split_once('\n')
                .ok_or_else(|| invalid("not a cursor of this endpoint"))?;
            Some((modified.to_string(), id.to_string()))
        }
        None => None,
    };
    let modified_after = match &query.modified_after {
        Some(t) => Some(
            crate::timestamps::parse(t)
                .map(crate::timestamps::micros)
                .ok_or_else(|| invalid("modified_after must be an RFC 3339 timestamp"))?,
        ),
        None => None,
    };
    let records = state
        .syncs
        .synced_records(
            &connection.id,
            &entity,
            after.as_ref().map(|(m, i)| (m.as_str(), i.as_str())),
            modified_after.as_deref(),
            page_size + 1,
        )
        .await
        .map_err(ApiError::internal)?;
    let more = records.len() > page_size as usize;
    let mut records: Vec<_> = records.into_iter().take(page_size as usize).collect();
    // Stored as the system answered: the connection's mappings as they are
    // now apply on the way out.
    let raw = records
        .iter_mut()
        .map(|r| {
            RawValue::from_string(std::mem::take(&mut r.data))
                .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"))
        })
        .collect();
    let raw = state.dataplane.mapped_records(connection, &entity, raw)?;
    let data: Vec<SyncedRecordView> = records
        .into_iter()
        .zip(raw)
        .map(|(r, record)| SyncedRecordView {
            record,
            id: r.id,
            first_seen_at: r.first_seen_at,
            last_modified_at: r.last_modified_at,
            deleted_at: r.deleted_at,
            run_id: r.run_id,
            content_hash: r.content_hash,
        })
        .collect();
    let next_cursor = more
        .then(|| data.last())
        .flatten()
        .map(|r| hex::encode(format!("{}\n{}", r.last_modified_at, r.id)));
    Ok(Json(SyncedPage { data, next_cursor }))
}
