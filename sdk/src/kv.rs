//! A small key-value store per connection, kept by the host: for caching
//! access tokens and other values that outlive one call.

#[cfg(target_arch = "wasm32")]
use crate::bindings::interlink::adapter::kv as wit;

/// The value under `key`, if present and not expired. When there is none,
/// this call is the one that fills the key: until it [`set`]s it (or the
/// call ends, or ten seconds pass), the connection's other calls that get
/// the key, on any node, wait for its value. So an access token is fetched
/// once, not by every call that found it missing.
pub fn get(key: &str) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    return wit::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::kv_get(key)
}

/// Stores `value` under `key`, for at most `ttl_seconds` when given. Fails
/// when the connection's store is full.
pub fn set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), String> {
    #[cfg(target_arch = "wasm32")]
    return wit::set(key, value, ttl_seconds);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = ttl_seconds;
        crate::testing::kv_set(key, value);
        Ok(())
    }
}

/// Removes `key`.
pub fn delete(key: &str) {
    #[cfg(target_arch = "wasm32")]
    wit::delete(key);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::kv_delete(key);
}
