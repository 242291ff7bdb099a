//! The log of failed requests: the request-id middleware hands every error
//! response to [`FailedRequests::record`], and a background task stores them
//! in batches, so that an operator can find a request by the id a customer
//! reports (`GET /v1/failed-requests`, the dashboard's requests page).
//!
//! Recording never slows or fails a request: the queue is bounded, and when
//! it is full (a flood of refused requests outpacing the database) the
//! newest entries are dropped and counted in the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use crate::code::Code;
use crate::storage::requests::{FailedRequest, FailedRequestFilter};
use crate::storage::{StorageError, Store};

/// How many failed requests are kept in storage.
pub const KEEP: u32 = 10_000;
/// How many wait in memory for the writer.
const QUEUE: usize = 1024;
/// How many the writer stores in one transaction.
const BATCH: usize = 256;

/// The recorder's handle; cheap to share.
pub struct FailedRequests {
    queue: mpsc::Sender<FailedRequest>,
    dropped: AtomicU64,
    store: Arc<dyn Store>,
}

impl FailedRequests {
    /// Starts the writer. It ends when the last handle is dropped.
    pub fn start(store: Arc<dyn Store>) -> Arc<Self> {
        let (queue, mut receiver) = mpsc::channel(QUEUE);
        let writer = store.clone();
        tokio::spawn(async move {
            let store = writer;
            let mut batch = Vec::with_capacity(BATCH);
            while receiver.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.record_failed_requests(&batch, KEEP).await {
                    tracing::warn!(error = %e, lost = batch.len(), "could not store failed requests");
                }
                batch.clear();
            }
        });
        Arc::new(FailedRequests {
            queue,
            dropped: AtomicU64::new(0),
            store,
        })
    }

    /// The stored failed requests `filter` selects, newest first, at most
    /// `limit`.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn list(
        &self,
        filter: FailedRequestFilter<'_>,
        limit: u32,
    ) -> Result<Vec<FailedRequest>, StorageError> {
        self.store.failed_requests(filter, limit).await
    }

    /// Queues `request` for storage, or drops it when the queue is full.
    pub fn record(&self, request: FailedRequest) {
        if self.queue.try_send(request).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "failed-request log is full; dropping entries");
            }
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FailedRequestQuery {
    /// Only the request(s) with this id (the `x-request-id` a client got).
    #[param(max_length = 128)]
    pub request_id: Option<String>,
    /// Only requests made with this connection's token.
    pub connection_id: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct FailedRequestList {
    /// Newest first.
    pub requests: Vec<FailedRequest>,
}

/// The latest failed requests (any 4xx or 5xx answer of the API), newest
/// first; the newest 10,000 are kept.
///
/// # Errors
///
/// `invalid_query` when `limit` is not 1 to 500; `internal` when the
/// database failed.
#[utoipa::path(get, path = "/v1/failed-requests", tag = "connections", security(("admin_key" = [])),
    params(FailedRequestQuery),
    responses((status = 200, body = FailedRequestList), (status = "4XX", body = super::error::ErrorBody)))]
pub async fn list(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<FailedRequestQuery>,
) -> Result<Json<FailedRequestList>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            Code::InvalidQuery,
            "`limit` must be 1 to 500",
        ));
    }
    let filter = FailedRequestFilter {
        request_id: query.request_id.as_deref().filter(|s| !s.is_empty()),
        connection_id: query.connection_id.as_deref().filter(|s| !s.is_empty()),
    };
    let requests = state.failed_requests.list(filter, limit).await?;
    Ok(Json(FailedRequestList { requests }))
}
