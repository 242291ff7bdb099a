//! A small key-value store per connection, kept by the host: for caching
//! access tokens and other values that outlive one call.

use crate::bindings::interlink::adapter::kv as wit;

/// The value under `key`, if present and not expired.
pub fn get(key: &str) -> Option<Vec<u8>> {
    wit::get(key)
}

/// Stores `value` under `key`, for at most `ttl_seconds` when given. Fails
/// when the connection's store is full.
pub fn set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), String> {
    wit::set(key, value, ttl_seconds)
}

/// Removes `key`.
pub fn delete(key: &str) {
    wit::delete(key)
}
