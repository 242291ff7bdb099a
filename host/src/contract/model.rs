//! The host's model of what adapters answer: the account `connect` reports
//! and the errors calls end with. Every contract version converts its WIT
//! types into these (see [`super::v0_1_0`]).

use serde::Serialize;
use thiserror::Error;

use crate::manifest::CustomField;

/// The account a connection reaches, as `connect` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
    pub custom_fields: Vec<CustomField>,
}

/// One problem with one field of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A JSON pointer into the record (`/lines/0/item_id`).
    pub path: String,
    pub code: String,
    pub message: String,
}

/// A failure the adapter reported, in the host's model (see the contract's
/// `adapter-error`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdapterError {
    #[error("the system rejected the connection's credentials: {message}")]
    Unauthorized { message: String },
    #[error("the account lacks permissions: {message}")]
    Forbidden {
        message: String,
        missing_permissions: Vec<String>,
    },
    #[error("the record is invalid")]
    Invalid { errors: Vec<FieldError> },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Conflict {
        message: String,
        state: Option<String>,
    },
    #[error("the system is rate-limiting requests: {message}")]
    RateLimited {
        message: String,
        retry_after_ms: Option<u64>,
    },
    #[error("the system failed (status {status}): {message}")]
    Upstream { status: u16, message: String },
    #[error("{message}")]
    Unsupported { message: String },
}

impl AdapterError {
    /// The stable code a client sees for this error.
    pub fn code(&self) -> &'static str {
        match self {
            AdapterError::Unauthorized { .. } => "connection_requires_reauthorization",
            AdapterError::Forbidden { .. } => "insufficient_permissions",
            AdapterError::Invalid { .. } => "validation_failed",
            AdapterError::NotFound { .. } => "record_not_found",
            AdapterError::Conflict { .. } => "conflict",
            AdapterError::RateLimited { .. } => "rate_limited",
            AdapterError::Upstream { .. } => "upstream_error",
            AdapterError::Unsupported { .. } => "unsupported",
        }
    }
}
