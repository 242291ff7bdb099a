//! How loading an adapter and calling it fail.

use thiserror::Error;

use crate::code::Code;
use crate::contract::{AdapterError, ContractError};
use crate::manifest::ManifestProblems;

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
    /// The host refused an outbound request of the call (a host outside
    /// the adapter's outbound hosts, a refused address, a secret to an
    /// untrusted origin), and the call failed.
    #[error("the host refused the adapter's outbound request: {0}")]
    OutboundDenied(String),
    /// A dry run held a request that may change the system, and stopped
    /// the call there (the adapter would have needed its answer). Not a
    /// failure: the held requests are the dry run's answer.
    #[error("the dry run stopped at a request that may change the system")]
    Held,
}

impl CallError {
    /// The stable code a client sees for this error.
    pub fn code(&self) -> Code {
        match self {
            CallError::Adapter(e) => e.code(),
            CallError::DeadlineExceeded(_) => Code::AdapterTimeout,
            CallError::MemoryLimitExceeded(_) => Code::AdapterMemoryLimit,
            CallError::Busy => Code::Busy,
            CallError::Trap(_) => Code::AdapterCrashed,
            CallError::InvalidOutput(_) => Code::AdapterInvalidOutput,
            CallError::OutboundDenied(_) => Code::OutboundDenied,
            // A dry run's stop is its answer, never an error a client
            // sees: if one ever escaped, it would be our failure.
            CallError::Held => Code::Internal,
        }
    }

    /// Case-specific facts for the client, by code.
    pub fn details(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        match self {
            CallError::Adapter(AdapterError::Forbidden {
                missing_permissions,
                ..
            }) => Some(json!({"missing_permissions": missing_permissions})),
            CallError::Adapter(AdapterError::Invalid { errors }) => Some(json!({"errors": errors})),
            CallError::Adapter(AdapterError::Conflict { state, .. }) => {
                Some(json!({"state": state}))
            }
            CallError::Adapter(AdapterError::RateLimited { retry_after_ms, .. }) => {
                Some(json!({"retry_after_ms": retry_after_ms}))
            }
            CallError::Adapter(AdapterError::Upstream { status, .. }) => {
                Some(json!({"upstream_status": status}))
            }
            _ => None,
        }
    }

    /// When to try again: the system's word for a 429 (a second if it gave
    /// none).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            CallError::Adapter(AdapterError::RateLimited { retry_after_ms, .. }) => Some(
                std::time::Duration::from_millis(retry_after_ms.unwrap_or(1000)),
            ),
            _ => None,
        }
    }

    /// Whether the system rejected the connection's credentials.
    pub fn credentials_rejected(&self) -> bool {
        matches!(self, CallError::Adapter(AdapterError::Unauthorized { .. }))
    }
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
    Manifest(#[from] ManifestProblems),
}
