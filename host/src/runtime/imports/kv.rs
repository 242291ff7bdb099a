//! `interlink:adapter/kv`: a small store per connection, for caching.
//!
//! The store is behind [`KvStore`] so that it can move into the host's
//! database; [`MemoryKv`] keeps it in memory, bounded per connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::contract::latest::interlink::adapter::kv;
use crate::runtime::state::HostState;

/// Bounds per connection.
pub const MAX_KEYS: usize = 256;
pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Key-value storage, partitioned by connection id.
pub trait KvStore: Send + Sync + 'static {
    fn get(&self, connection: &str, key: &str) -> Option<Vec<u8>>;
    fn set(
        &self,
        connection: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), String>;
    fn delete(&self, connection: &str, key: &str);
}

type Entry = (Vec<u8>, Option<Instant>);

/// An in-memory [`KvStore`].
#[derive(Default)]
pub struct MemoryKv {
    connections: Mutex<HashMap<String, HashMap<String, Entry>>>,
}

impl KvStore for MemoryKv {
    fn get(&self, connection: &str, key: &str) -> Option<Vec<u8>> {
        let mut all = self.connections.lock().unwrap();
        let entries = all.get_mut(connection)?;
        match entries.get(key) {
            Some((_, Some(expiry))) if *expiry <= Instant::now() => {
                entries.remove(key);
                None
            }
            Some((value, _)) => Some(value.clone()),
            None => None,
        }
    }

    fn set(
        &self,
        connection: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), String> {
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("keys are limited to {MAX_KEY_BYTES} bytes"));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("values are limited to {MAX_VALUE_BYTES} bytes"));
        }
        let mut all = self.connections.lock().unwrap();
        let entries = all.entry(connection.to_string()).or_default();
        let now = Instant::now();
        entries.retain(|_, (_, expiry)| expiry.is_none_or(|e| e > now));
        if entries.len() >= MAX_KEYS && !entries.contains_key(key) {
            return Err(format!("the connection's store is full ({MAX_KEYS} keys)"));
        }
        entries.insert(key.to_string(), (value, ttl.map(|t| now + t)));
        Ok(())
    }

    fn delete(&self, connection: &str, key: &str) {
        if let Some(entries) = self.connections.lock().unwrap().get_mut(connection) {
            entries.remove(key);
        }
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        if self.describing {
            return None;
        }
        self.services.kv.get(&self.ctx.connection_id, &key)
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), String> {
        if self.describing {
            return Err("there is no connection's store while describing".into());
        }
        let ttl = ttl_seconds.map(|s| Duration::from_secs(s.into()));
        self.services
            .kv
            .set(&self.ctx.connection_id, &key, value, ttl)
    }

    async fn delete(&mut self, key: String) {
        if !self.describing {
            self.services.kv.delete(&self.ctx.connection_id, &key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_per_connection_and_expire() {
        let kv = MemoryKv::default();
        kv.set("a", "token", b"1".to_vec(), None).unwrap();
        kv.set("a", "short", b"2".to_vec(), Some(Duration::ZERO))
            .unwrap();
        assert_eq!(kv.get("a", "token"), Some(b"1".to_vec()));
        assert_eq!(kv.get("b", "token"), None);
        assert_eq!(kv.get("a", "short"), None);
        kv.delete("a", "token");
        assert_eq!(kv.get("a", "token"), None);
    }

    #[test]
    fn a_connection_cannot_grow_without_bound() {
        let kv = MemoryKv::default();
        for i in 0..MAX_KEYS {
            kv.set("a", &i.to_string(), vec![], None).unwrap();
        }
        assert!(kv.set("a", "one-more", vec![], None).is_err());
        assert!(
            kv.set("a", "0", vec![1], None).is_ok(),
            "overwriting is fine"
        );
        assert!(
            kv.set("b", "k", vec![0; MAX_VALUE_BYTES + 1], None)
                .is_err()
        );
    }
}
