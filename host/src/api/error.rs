//! The one error shape of the API:
//! `{"error": {"code", "message", "request_id", "details"?}}`.
//!
//! Handlers return [`ApiError`]; the request-id middleware
//! ([`super::request_id`]) writes the body, since only it knows the id. Error
//! responses that axum itself produces (unknown routes, wrong methods, bodies
//! too large) are rewritten into the same shape there.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::dataplane::DataError;
use crate::runtime::CallError;

/// Every error the API answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `token_invalid`, `invalid_config`, ...
    pub code: String,
    /// For people.
    pub message: String,
    /// Also in the `x-request-id` header and in the logs.
    pub request_id: String,
    /// Case-specific: field errors, missing permissions, ...
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// An error a client sees. `code` is stable and machine-readable.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Sent as `Retry-After` (whole seconds, rounded up).
    #[serde(skip)]
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// A failure of ours: logged in full, answered without internals.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the logs have details under this request id",
        )
    }

    /// The error for a status that a layer answered without a body of ours.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "this route does not take that method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "the request body has the wrong content type",
            ),
            s if s.is_client_error() => ("bad_request", "the request is malformed"),
            _ => ("internal", "internal error"),
        };
        Self::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.max(1).into());
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The HTTP status of every code a domain error can carry; the codes the
/// API itself makes (`token_invalid`, `invalid_query`, ...) name their status
/// where they are made.
fn status_of(code: &str) -> StatusCode {
    match code {
        "connection_requires_reauthorization" => StatusCode::UNAUTHORIZED,
        "insufficient_permissions" => StatusCode::FORBIDDEN,
        "unknown_entity" | "record_not_found" => StatusCode::NOT_FOUND,
        "operation_not_supported" => StatusCode::METHOD_NOT_ALLOWED,
        "state_locked" | "conflict" | "idempotency_key_in_flight" => StatusCode::CONFLICT,
        "rate_limited" | "too_many_requests" => StatusCode::TOO_MANY_REQUESTS,
        "upstream_error"
        | "adapter_memory_limit"
        | "adapter_crashed"
        | "adapter_invalid_output"
        | "outbound_denied" => StatusCode::BAD_GATEWAY,
        "unsupported" | "passthrough_not_supported" => StatusCode::NOT_IMPLEMENTED,
        "adapter_timeout" => StatusCode::GATEWAY_TIMEOUT,
        "busy" | "adapter_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        "invalid_record_id" | "invalid_passthrough_path" | "dry_run_unsupported" => {
            StatusCode::BAD_REQUEST
        }
        // The write rules, invalid bodies, refused records and reused keys.
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<DataError> for ApiError {
    fn from(error: DataError) -> Self {
        if let DataError::Internal(message) = &error {
            return ApiError::internal(message);
        }
        let code = error.code();
        let mut api = ApiError::new(status_of(code), code, error.to_string());
        api.details = error.details();
        api.retry_after = error.retry_after();
        api
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        DataError::Call(error).into()
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        ApiError::internal(error)
    }
}
