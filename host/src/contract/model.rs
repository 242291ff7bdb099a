//! The host's model of what crosses the contract: the arguments of a call,
//! the account `connect` reports, the page `list` answers and the errors
//! calls end with. Every contract version converts its WIT types to and from
//! these (see [`super::convert`]).

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use crate::code::Code;
use crate::manifest::CustomField;

/// Who a call is made for, as the adapter sees it: the connection's id and
/// its non-secret config values.
#[derive(Debug, Clone, Copy)]
pub struct CallFor<'a> {
    pub connection_id: &'a str,
    pub config: &'a BTreeMap<String, String>,
}

/// A request for one page of records.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub entity: String,
    pub cursor: Option<String>,
    pub page_size: u32,
    pub modified_after: Option<String>,
}

/// One page of records as the adapter answered it, before the host checks
/// it (every record JSON, the page and cursor within bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPage {
    pub records: Vec<String>,
    pub next_cursor: Option<String>,
}

/// The methods a passthrough request may have (the contract's
/// `http.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassthroughMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl PassthroughMethod {
    /// Whether a request with it changes nothing in the system.
    pub fn reads(self) -> bool {
        matches!(self, PassthroughMethod::Get | PassthroughMethod::Head)
    }
}

/// A client's request for the system's own API (`/v1/passthrough/{path}`).
#[derive(Debug, Clone)]
pub struct PassthroughRequest {
    pub method: PassthroughMethod,
    /// From `/`, with the query string.
    pub path: String,
    /// The client's headers that may be forwarded.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// The system's answer to a passthrough request, as the adapter relays it.
#[derive(Debug, Clone)]
pub struct PassthroughResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

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
    pub fn code(&self) -> Code {
        match self {
            AdapterError::Unauthorized { .. } => Code::ConnectionRequiresReauthorization,
            AdapterError::Forbidden { .. } => Code::InsufficientPermissions,
            AdapterError::Invalid { .. } => Code::ValidationFailed,
            AdapterError::NotFound { .. } => Code::RecordNotFound,
            AdapterError::Conflict { .. } => Code::Conflict,
            AdapterError::RateLimited { .. } => Code::RateLimited,
            AdapterError::Upstream { .. } => Code::UpstreamError,
            AdapterError::Unsupported { .. } => Code::Unsupported,
        }
    }
}

/// The longest text of an adapter's answer the host keeps (messages,
/// reasons); what is longer is cut. Adapters may be third-party code, and
/// their words end up in responses, logs and the database.
pub const MAX_TEXT: usize = 1024;
/// The longest name (a permission, a field path, a code).
pub const MAX_NAME: usize = 256;
/// The most items of a list in an answer (field errors, permissions).
pub const MAX_ITEMS: usize = 100;

/// `text` cut to at most `max` bytes, on a character boundary, marked `…`.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        text.truncate(text.floor_char_boundary(max.saturating_sub(3)));
        text.push('…');
    }
    text
}

fn cut_all(items: Vec<String>, max: usize) -> Vec<String> {
    items
        .into_iter()
        .take(MAX_ITEMS)
        .map(|i| cut(i, max))
        .collect()
}

impl AdapterError {
    /// This error with its texts and lists cut to the host's bounds.
    pub fn bounded(self) -> Self {
        match self {
            AdapterError::Unauthorized { message } => AdapterError::Unauthorized {
                message: cut(message, MAX_TEXT),
            },
            AdapterError::Forbidden {
                message,
                missing_permissions,
            } => AdapterError::Forbidden {
                message: cut(message, MAX_TEXT),
                missing_permissions: cut_all(missing_permissions, MAX_NAME),
            },
            AdapterError::Invalid { errors } => AdapterError::Invalid {
                errors: errors
                    .into_iter()
                    .take(MAX_ITEMS)
                    .map(|e| FieldError {
                        path: cut(e.path, MAX_NAME),
                        code: cut(e.code, MAX_NAME),
                        message: cut(e.message, MAX_TEXT),
                    })
                    .collect(),
            },
            AdapterError::NotFound { message } => AdapterError::NotFound {
                message: cut(message, MAX_TEXT),
            },
            AdapterError::Conflict { message, state } => AdapterError::Conflict {
                message: cut(message, MAX_TEXT),
                state: state.map(|s| cut(s, MAX_NAME)),
            },
            AdapterError::RateLimited {
                message,
                retry_after_ms,
            } => AdapterError::RateLimited {
                message: cut(message, MAX_TEXT),
                retry_after_ms,
            },
            AdapterError::Upstream { status, message } => AdapterError::Upstream {
                status,
                message: cut(message, MAX_TEXT),
            },
            AdapterError::Unsupported { message } => AdapterError::Unsupported {
                message: cut(message, MAX_TEXT),
            },
        }
    }
}

impl Account {
    /// This account with its texts and lists cut to the host's bounds.
    pub fn bounded(self) -> Self {
        Account {
            id: cut(self.id, MAX_NAME),
            name: cut(self.name, MAX_NAME),
            permissions: self
                .permissions
                .into_iter()
                .take(1000)
                .map(|p| cut(p, MAX_NAME))
                .collect(),
            custom_fields: self.custom_fields.into_iter().take(MAX_ITEMS).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_are_cut_to_the_bounds() {
        let error = AdapterError::Upstream {
            status: 500,
            message: "é".repeat(40 << 20),
        }
        .bounded();
        let AdapterError::Upstream { message, .. } = error else {
            unreachable!()
        };
        assert!(message.len() <= MAX_TEXT && message.ends_with('…'));
        let invalid = AdapterError::Invalid {
            errors: vec![
                FieldError {
                    path: "/x".into(),
                    code: "c".into(),
                    message: "m".into(),
                };
                100_000
            ],
        }
        .bounded();
        let AdapterError::Invalid { errors } = invalid else {
            unreachable!()
        };
        assert_eq!(errors.len(), MAX_ITEMS);
        assert_eq!(cut("short".into(), 10), "short");
    }
}
