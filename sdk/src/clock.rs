//! The host's clock: adapters have no other.

use crate::bindings::interlink::adapter::clock as wit;

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> u64 {
    wit::now_ms()
}

/// Seconds since the Unix epoch, UTC (JWT `iat` and `exp`).
pub fn now_seconds() -> u64 {
    now_ms() / 1000
}
