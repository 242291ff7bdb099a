//! How a data-plane call fails, with the stable code every caller reports:
//! the HTTP API answers it, a sync run records it.

use std::time::Duration;

use serde_json::{Value, json};
use thiserror::Error;

use crate::code::Code;
use crate::connections::LookupError;
use crate::manifest::Operation;
use crate::rules::Violation;
use crate::rules::state::StateLocked;
use crate::runtime::CallError;
use crate::storage::StorageError;

/// Why a data-plane call did not happen or did not succeed.
#[derive(Debug, Error)]
pub enum DataError {
    /// The connection's adapter is not loaded on this host.
    #[error("adapter `{0}` is not loaded on this host")]
    AdapterUnavailable(String),
    #[error("adapter `{adapter}` serves no entity `{entity}`")]
    UnknownEntity {
        adapter: String,
        entity: String,
        /// The entities it does serve.
        entities: Vec<String>,
    },
    #[error("adapter `{adapter}` does not support {} on `{entity}`", operation.as_str())]
    OperationNotSupported {
        adapter: String,
        entity: String,
        operation: Operation,
    },
    /// Refused before the system is asked: the account's permissions were
    /// recorded when it connected.
    #[error("{} on `{entity}` needs permissions the account does not hold", operation.as_str())]
    InsufficientPermissions {
        entity: String,
        operation: Operation,
        missing: Vec<String>,
    },
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// A record id or cursor an adapter could mistake for more than a value.
    #[error("{0}")]
    InvalidReference(String),
    /// The write breaks field rules; every violation, in one error.
    #[error("{}", field_rules_message(entity, violations))]
    FieldRules {
        entity: String,
        violations: Vec<Violation>,
    },
    #[error("{}", state_locked_message(.0))]
    StateLocked(StateLocked),
    /// The connection's write budget is spent.
    #[error("this connection may write {per_minute} times a minute; retry later")]
    WriteBudget {
        per_minute: u32,
        retry_after: Duration,
    },
    /// The connection has its whole share of the host's calls running or
    /// waiting.
    #[error(
        "this connection already has {limit} calls running or waiting, its share of the host; retry later"
    )]
    TooManyRequests { limit: u32, retry_after: Duration },
    /// The call waited its whole time for one of the connection's
    /// `max-concurrent-requests`.
    #[error(
        "this connection's calls kept all {concurrency} of its adapter's concurrent requests busy for {waited:?}; retry later"
    )]
    QueueTimeout {
        concurrency: u32,
        waited: Duration,
        retry_after: Duration,
    },
    #[error(
        "adapter `{0}` does not declare passthrough: its system's own API cannot be called through it"
    )]
    PassthroughNotDeclared(String),
    #[error("{0}")]
    InvalidPassthroughPath(String),
    /// A dry run of a passthrough request that may change the system: the
    /// host cannot tell what it would write, so it cannot rehearse it.
    #[error(
        "`Prefer: dry-run` rehearses only GET and HEAD through passthrough: the host cannot \
         tell what another method would change in the system, so nothing was sent"
    )]
    PassthroughDryRun,
    #[error("a request with this Idempotency-Key is still running")]
    IdempotencyKeyInFlight,
    #[error("this Idempotency-Key was used with another body; use a new key for a new record")]
    IdempotencyKeyReused,
    /// The adapter call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A failure of the host's own (database, stored secrets).
    #[error("{0}")]
    Internal(String),
}

fn field_rules_message(entity: &str, violations: &[Violation]) -> String {
    match violations {
        [one] => one.message.clone(),
        many => format!(
            "{} fields break the rules of `{entity}`; see details.errors",
            many.len()
        ),
    }
}

fn state_locked_message(locked: &StateLocked) -> String {
    let what = match locked.operation {
        Some(op) => format!("{} is refused", op.as_str()),
        None => format!("{} cannot change", locked.locked_fields.join(", ")),
    };
    let reason = if locked.reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", locked.reason)
    };
    format!(
        "the record's {} is `{}`{reason}: {what}",
        locked.field, locked.state
    )
}

impl From<StorageError> for DataError {
    fn from(e: StorageError) -> Self {
        DataError::Internal(e.to_string())
    }
}

impl From<LookupError> for DataError {
    fn from(e: LookupError) -> Self {
        DataError::Internal(e.to_string())
    }
}

impl DataError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> Code {
        match self {
            DataError::AdapterUnavailable(_) => Code::AdapterUnavailable,
            DataError::UnknownEntity { .. } => Code::UnknownEntity,
            DataError::OperationNotSupported { .. } => Code::OperationNotSupported,
            DataError::InsufficientPermissions { .. } => Code::InsufficientPermissions,
            DataError::NotAnObject => Code::InvalidBody,
            DataError::InvalidReference(_) => Code::InvalidRecordId,
            DataError::FieldRules { violations, .. } => {
                violations.first().map_or(Code::InvalidBody, |v| v.code)
            }
            DataError::StateLocked(_) => Code::StateLocked,
            DataError::WriteBudget { .. } => Code::RateLimited,
            DataError::TooManyRequests { .. } | DataError::QueueTimeout { .. } => {
                Code::TooManyRequests
            }
            DataError::PassthroughNotDeclared(_) => Code::PassthroughNotSupported,
            DataError::InvalidPassthroughPath(_) => Code::InvalidPassthroughPath,
            DataError::PassthroughDryRun => Code::DryRunUnsupported,
            DataError::IdempotencyKeyInFlight => Code::IdempotencyKeyInFlight,
            DataError::IdempotencyKeyReused => Code::IdempotencyKeyReused,
            DataError::Call(e) => e.code(),
            DataError::Internal(_) => Code::Internal,
        }
    }

    /// Case-specific facts for the client: field errors, missing
    /// permissions, the locking state, ...
    pub fn details(&self) -> Option<Value> {
        match self {
            DataError::UnknownEntity { entities, .. } => Some(json!({"entities": entities})),
            DataError::InsufficientPermissions { missing, .. } => {
                Some(json!({"missing_permissions": missing}))
            }
            DataError::FieldRules { violations, .. } => Some(json!({"errors": violations})),
            DataError::StateLocked(locked) => Some(json!(locked)),
            DataError::WriteBudget { per_minute, .. } => {
                Some(json!({"writes_per_minute": per_minute}))
            }
            DataError::TooManyRequests { limit, .. } => {
                Some(json!({"max_calls_per_connection": limit}))
            }
            DataError::QueueTimeout { concurrency, .. } => {
                Some(json!({"max_concurrent_requests": concurrency}))
            }
            DataError::Call(e) => e.details(),
            _ => None,
        }
    }

    /// When the client may try again, for refusals that pass.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DataError::WriteBudget { retry_after, .. }
            | DataError::TooManyRequests { retry_after, .. }
            | DataError::QueueTimeout { retry_after, .. } => Some(*retry_after),
            DataError::Call(e) => e.retry_after(),
            _ => None,
        }
    }

    /// Whether the system rejected the connection's credentials.
    pub fn credentials_rejected(&self) -> bool {
        matches!(self, DataError::Call(e) if e.credentials_rejected())
    }
}
