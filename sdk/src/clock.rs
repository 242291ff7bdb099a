//! The host's clock: adapters have no other.

#[cfg(target_arch = "wasm32")]
use crate::bindings::interlink::adapter::clock as wit;

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return wit::now_ms();
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::now_ms()
}

/// Seconds since the Unix epoch, UTC (JWT `iat` and `exp`).
pub fn now_seconds() -> u64 {
    now_ms() / 1000
}
