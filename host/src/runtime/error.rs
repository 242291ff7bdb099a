//! How loading an adapter and calling it fail.

use serde::Serialize;
use thiserror::Error;

use crate::contract::ContractError;
use crate::manifest::ManifestError;

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

/// Why a call into an adapter did not produce its result.
#[derive(Debug, Error)]
pub enum CallError {
    /// The adapter answered with a typed error.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The call ran past its deadline and was stopped.
    #[error("the adapter did not finish within {0:?} and was stopped")]
    DeadlineExceeded(std::time::Duration),
    /// The adapter tried to grow its memory past the limit and was stopped.
    #[error("the adapter exceeded its memory limit of {0} bytes and was stopped")]
    MemoryLimitExceeded(usize),
    /// Every instance slot is taken; the call may be retried.
    #[error("the host is at its limit of concurrent adapter calls")]
    Busy,
    /// The adapter trapped (a panic, an out-of-bounds access, ...).
    #[error("the adapter crashed: {0}")]
    Trap(String),
    /// The adapter returned something the contract does not allow.
    #[error("the adapter returned an invalid result: {0}")]
    InvalidOutput(String),
}

/// Why a component could not be loaded as an adapter.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error(
        "the component imports something Interlink does not provide ({0}); adapters may import only the interlink:adapter interfaces (no WASI): build for wasm32-unknown-unknown with interlink-sdk"
    )]
    Imports(String),
    #[error("the adapter's manifest could not be read: {0}")]
    Describe(CallError),
    #[error("invalid manifest: {0}")]
    Manifest(#[from] ManifestError),
}
