//! Typed adapter failures.

use crate::bindings::interlink::adapter::types::{
    AdapterError, Conflict, FieldError, Forbidden, RateLimited, UpstreamFailure,
};

/// What an adapter operation returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an adapter operation failed. The host maps each case to a precise HTTP
/// error: `unauthorized` marks the connection as requiring reauthorization,
/// `forbidden` becomes a 403 listing the missing permissions, `invalid` a 422
/// listing each field, and so on.
pub type Error = AdapterError;

impl AdapterError {
    /// The system rejected the connection's credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        AdapterError::Unauthorized(message.into())
    }

    /// The account lacks `missing` permissions (in the system's own terms).
    pub fn forbidden(message: impl Into<String>, missing: Vec<String>) -> Self {
        AdapterError::Forbidden(Forbidden {
            message: message.into(),
            missing_permissions: missing,
        })
    }

    /// One field breaks a rule. `path` is a JSON pointer into the record
    /// (`/lines/0/item_id`); `code` is machine-readable (`required`).
    pub fn invalid(
        path: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AdapterError::Invalid(vec![FieldError {
            path: path.into(),
            code: code.into(),
            message: message.into(),
        }])
    }

    /// No such record.
    pub fn not_found(message: impl Into<String>) -> Self {
        AdapterError::NotFound(message.into())
    }

    /// The record's state (`state`, when known) forbids the request.
    pub fn conflict(message: impl Into<String>, state: Option<String>) -> Self {
        AdapterError::Conflict(Conflict {
            message: message.into(),
            state,
        })
    }

    /// The system asked to slow down.
    pub fn rate_limited(message: impl Into<String>, retry_after_ms: Option<u64>) -> Self {
        AdapterError::RateLimited(RateLimited {
            message: message.into(),
            retry_after_ms,
        })
    }

    /// The system failed with HTTP `status` (0 when it never answered).
    pub fn upstream(status: u16, message: impl Into<String>) -> Self {
        AdapterError::Upstream(UpstreamFailure {
            status,
            message: message.into(),
        })
    }

    /// The adapter does not support this request.
    pub fn unsupported(message: impl Into<String>) -> Self {
        AdapterError::Unsupported(message.into())
    }
}

impl From<serde_json::Error> for AdapterError {
    /// A response body the adapter could not decode is the system's failure.
    fn from(error: serde_json::Error) -> Self {
        AdapterError::upstream(0, format!("unexpected response from the system: {error}"))
    }
}
