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

impl From<crate::runtime::CallError> for ApiError {
    /// How a failed adapter call looks to the client. (An `unauthorized`
    /// from a data-plane call has a side effect on the connection: see
    /// `api::data`.)
    fn from(error: crate::runtime::CallError) -> Self {
        use crate::runtime::{AdapterError as A, CallError as C};
        use serde_json::json;
        let message = error.to_string();
        match error {
            C::Adapter(A::Unauthorized { .. }) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "connection_requires_reauthorization",
                message,
            ),
            C::Adapter(A::Forbidden {
                missing_permissions,
                ..
            }) => ApiError::new(StatusCode::FORBIDDEN, "insufficient_permissions", message)
                .with_details(json!({"missing_permissions": missing_permissions})),
            C::Adapter(A::Invalid { errors }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the system refused the record",
            )
            .with_details(json!({"errors": errors})),
            C::Adapter(A::NotFound { .. }) => {
                ApiError::new(StatusCode::NOT_FOUND, "record_not_found", message)
            }
            C::Adapter(A::Conflict { state, .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
                    .with_details(json!({"state": state}))
            }
            C::Adapter(A::RateLimited { retry_after_ms, .. }) => {
                let after = std::time::Duration::from_millis(retry_after_ms.unwrap_or(1000));
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                    .with_details(json!({"retry_after_ms": retry_after_ms}))
                    .with_retry_after(after)
            }
            C::Adapter(A::Upstream { status, .. }) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
                    .with_details(json!({"upstream_status": status}))
            }
            C::Adapter(A::Unsupported { .. }) => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "unsupported", message)
            }
            C::DeadlineExceeded(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "adapter_timeout", message)
            }
            C::MemoryLimitExceeded(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "adapter_memory_limit", message)
            }
            C::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message),
            C::Trap(_) => ApiError::new(StatusCode::BAD_GATEWAY, "adapter_crashed", message),
            C::InvalidOutput(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "adapter_invalid_output", message)
            }
        }
    }
}
