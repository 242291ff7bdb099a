//! The API's latest failed requests, kept so that an operator can find one
//! by the request id a customer reports.

use std::time::SystemTime;

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use super::Result;

/// A request the API answered with an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FailedRequest {
    pub request_id: String,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub at: SystemTime,
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub status: u16,
    /// The error's stable code and message, as the client saw them.
    pub code: String,
    pub message: String,
    /// The connection whose token the request carried, when it had one.
    pub connection_id: Option<String>,
    pub duration_ms: u64,
}

/// Which failed requests to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailedRequestFilter<'a> {
    pub request_id: Option<&'a str>,
    pub connection_id: Option<&'a str>,
}

#[async_trait]
pub trait RequestLogStorage: Send + Sync + 'static {
    /// Stores `requests`, then forgets all but the newest `keep`.
    async fn record_failed_requests(&self, requests: &[FailedRequest], keep: u32) -> Result<()>;
    /// The newest failed requests that match `filter`, newest first.
    async fn failed_requests(
        &self,
        filter: FailedRequestFilter<'_>,
        limit: u32,
    ) -> Result<Vec<FailedRequest>>;
}
