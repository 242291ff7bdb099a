//! `interlink:adapter/kv`: a small store per connection, for caching (an
//! access token, typically).
//!
//! The host serves it from its database ([`DatabaseKv`]): every node sees
//! the same values, sealed with the host's secret key, and a key that has no
//! value is filled by one call at a time. The first call that misses it gets
//! nothing and fills it; other calls that read it meanwhile, on any node,
//! wait until it is set (or the filler's call ends, or [`FILL_LEASE`]
//! passes), so an access token is fetched once, not by every call that
//! found it missing. The adapter tools (`interlink adapter ...`) use
//! [`MemoryKv`], in memory.
//!
//! Bounded, because adapters may be third-party code: a key is at most
//! [`MAX_KEY_BYTES`] (a longer one is never read, written or deleted, and
//! never reaches the database), a value [`MAX_VALUE_BYTES`], and a
//! connection holds at most [`MAX_KEYS`] keys, the keys being filled
//! included (every miss makes one). [`DatabaseKv::start_purging`] deletes
//! expired values and ended fills every [`PURGE_EVERY`]; a disconnect or a
//! deletion of the connection's data deletes its whole store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use crate::contract::latest::interlink::adapter::kv;
use crate::runtime::state::HostState;
use crate::secret_box::SecretBox;
use crate::storage::{KvRead, Store};

/// Bounds per connection.
pub const MAX_KEYS: usize = 256;
pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// How long a call may fill a key before others stop waiting for it.
pub const FILL_LEASE: Duration = Duration::from_secs(10);

/// The longest pause between two reads of a key being filled.
const FILL_POLL: Duration = Duration::from_millis(25);

/// How often [`DatabaseKv::start_purging`] deletes what no call will read.
pub const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Key-value storage, partitioned by connection id.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The value of `key`. If there is none, the call `holder` fills it
    /// (it gets `None`); while another call fills it, waits for its value,
    /// at most until `deadline`.
    async fn get(
        &self,
        connection: &str,
        key: &str,
        holder: &str,
        deadline: Instant,
    ) -> Option<Vec<u8>>;
    async fn set(
        &self,
        connection: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), String>;
    async fn delete(&self, connection: &str, key: &str);
    /// Ends the fills the call `holder` still holds: its call ended.
    async fn release(&self, connection: &str, holder: &str);
}

/// Checks a key against the bounds.
fn check_key(key: &str) -> Result<(), String> {
    if key.len() > MAX_KEY_BYTES {
        return Err(format!("keys are limited to {MAX_KEY_BYTES} bytes"));
    }
    Ok(())
}

/// Checks a key and a value against the bounds.
fn check_size(key: &str, value: &[u8]) -> Result<(), String> {
    check_key(key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("values are limited to {MAX_VALUE_BYTES} bytes"));
    }
    Ok(())
}

fn full() -> String {
    format!("the connection's store is full ({MAX_KEYS} keys)")
}

/// The kv store in the host's database, sealed with its secret key.
pub struct DatabaseKv {
    store: Arc<dyn Store>,
    secret_box: SecretBox,
}

impl DatabaseKv {
    pub fn new(store: Arc<dyn Store>, secret_box: SecretBox) -> Self {
        DatabaseKv { store, secret_box }
    }

    /// What a value is sealed for: its connection and key, so that a value
    /// cannot be moved to another.
    fn context(connection: &str, key: &str) -> String {
        format!("kv:{connection}:{key}")
    }

    /// Deletes, every [`PURGE_EVERY`] until the store is dropped, what no
    /// call will read again: expired values, fills that ended, the stores
    /// of disconnected connections.
    pub fn start_purging(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let kv = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PURGE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(kv) = kv.upgrade() else { return };
                match kv.store.kv_purge(SystemTime::now()).await {
                    Ok(0) => {}
                    Ok(rows) => tracing::debug!(rows, "purged the kv store"),
                    Err(e) => tracing::warn!(error = %e, "could not purge the kv store"),
                }
            }
        })
    }
}

#[async_trait]
impl KvStore for DatabaseKv {
    async fn get(
        &self,
        connection: &str,
        key: &str,
        holder: &str,
        deadline: Instant,
    ) -> Option<Vec<u8>> {
        // A key no write accepts has no value, and makes no row.
        check_key(key).ok()?;
        let mut pause = Duration::from_millis(2);
        loop {
            let now = SystemTime::now();
            let read = self
                .store
                .kv_get(connection, key, holder, now, now + FILL_LEASE, MAX_KEYS)
                .await;
            match read {
                Ok(KvRead::Value(sealed)) => {
                    let context = Self::context(connection, key);
                    return self.secret_box.open(&sealed, &context).ok();
                }
                Ok(KvRead::Fill | KvRead::Full) => return None,
                Ok(KvRead::Filling) if Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(FILL_POLL);
                }
                Ok(KvRead::Filling) => return None,
                Err(e) => {
                    tracing::warn!(connection, error = %e, "could not read the kv store");
                    return None;
                }
            }
        }
    }

    async fn set(
        &self,
        connection: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), String> {
        check_size(key, &value)?;
        let sealed = self
            .secret_box
            .seal(&value, &Self::context(connection, key));
        let now = SystemTime::now();
        let stored = self
            .store
            .kv_set(
                connection,
                key,
                &sealed,
                ttl.map(|t| now + t),
                now,
                MAX_KEYS,
            )
            .await
            .map_err(|e| {
                tracing::warn!(connection, error = %e, "could not write the kv store");
                "the host could not store the value".to_string()
            })?;
        if stored { Ok(()) } else { Err(full()) }
    }

    async fn delete(&self, connection: &str, key: &str) {
        if check_key(key).is_err() {
            return;
        }
        if let Err(e) = self.store.kv_delete(connection, key).await {
            tracing::warn!(connection, error = %e, "could not delete from the kv store");
        }
    }

    async fn release(&self, connection: &str, holder: &str) {
        if let Err(e) = self.store.kv_release(connection, holder).await {
            tracing::warn!(connection, error = %e, "could not end a kv fill; its lease ends it");
        }
    }
}

type Entry = (Vec<u8>, Option<Instant>);

/// An in-memory [`KvStore`], for one process that makes one call at a
/// time (the adapter tools): a missing key is always the caller's to fill.
#[derive(Default)]
pub struct MemoryKv {
    connections: Mutex<HashMap<String, HashMap<String, Entry>>>,
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, connection: &str, key: &str, _: &str, _: Instant) -> Option<Vec<u8>> {
        check_key(key).ok()?;
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

    async fn set(
        &self,
        connection: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), String> {
        check_size(key, &value)?;
        let mut all = self.connections.lock().unwrap();
        let entries = all.entry(connection.to_string()).or_default();
        let now = Instant::now();
        entries.retain(|_, (_, expiry)| expiry.is_none_or(|e| e > now));
        if entries.len() >= MAX_KEYS && !entries.contains_key(key) {
            return Err(full());
        }
        entries.insert(key.to_string(), (value, ttl.map(|t| now + t)));
        Ok(())
    }

    async fn delete(&self, connection: &str, key: &str) {
        if let Some(entries) = self.connections.lock().unwrap().get_mut(connection) {
            entries.remove(key);
        }
    }

    async fn release(&self, _: &str, _: &str) {}
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        if self.describing {
            return None;
        }
        let value = self
            .services
            .kv
            .get(&self.ctx.connection_id, &key, &self.call_id, self.deadline)
            .await;
        if value.is_none() {
            self.filling = true;
        }
        value
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
            .await
    }

    async fn delete(&mut self, key: String) {
        if !self.describing {
            self.services.kv.delete(&self.ctx.connection_id, &key).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's kv store on a fresh SQLite database.
    async fn database_kv() -> (DatabaseKv, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::storage::sqlite::SqliteStorage::open(&dir.path().join("kv.db"))
            .await
            .unwrap();
        (
            DatabaseKv::new(Arc::new(store), SecretBox::new([7; 32])),
            dir,
        )
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn values_are_per_connection_and_expire() {
        let (database, _dir) = database_kv().await;
        let stores: [&dyn KvStore; 2] = [&MemoryKv::default(), &database];
        for kv in stores {
            kv.set("a", "token", b"1".to_vec(), None).await.unwrap();
            kv.set("a", "short", b"2".to_vec(), Some(Duration::ZERO))
                .await
                .unwrap();
            assert_eq!(kv.get("a", "token", "h", soon()).await, Some(b"1".to_vec()));
            assert_eq!(kv.get("b", "token", "h", soon()).await, None);
            assert_eq!(kv.get("a", "short", "h", soon()).await, None);
            kv.delete("a", "token").await;
            assert_eq!(kv.get("a", "token", "h", soon()).await, None);
        }
    }

    #[tokio::test]
    async fn a_connection_cannot_grow_without_bound() {
        let (database, _dir) = database_kv().await;
        let stores: [&dyn KvStore; 2] = [&MemoryKv::default(), &database];
        for kv in stores {
            for i in 0..MAX_KEYS {
                kv.set("a", &i.to_string(), vec![], None).await.unwrap();
            }
            assert!(kv.set("a", "one-more", vec![], None).await.is_err());
            assert!(
                kv.set("a", "0", vec![1], None).await.is_ok(),
                "overwriting is fine"
            );
            assert!(
                kv.set("b", "k", vec![0; MAX_VALUE_BYTES + 1], None)
                    .await
                    .is_err()
            );
        }
    }

    /// Before: `get` of a missing key made a row whatever the key's size
    /// and outside the quota, so a loop of misses with megabyte keys filled
    /// the disk.
    #[tokio::test]
    async fn misses_make_no_row_for_a_key_too_long_and_none_past_the_quota() {
        let (kv, _dir) = database_kv().await;
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(kv.get("a", &long, "h", soon()).await, None);
        kv.delete("a", &long).await;
        assert_eq!(kv.store.kv_clear("a").await.unwrap(), 0, "no row made");

        for i in 0..MAX_KEYS + 10 {
            assert_eq!(kv.get("a", &format!("miss-{i}"), "h", soon()).await, None);
        }
        assert!(
            kv.set("a", "one-more", vec![1], None).await.is_err(),
            "the fills hold the whole quota"
        );
        kv.release("a", "h").await;
        kv.set("a", "token", vec![1], None).await.unwrap();
        assert_eq!(
            kv.store.kv_clear("a").await.unwrap(),
            1,
            "only the value is left"
        );
    }

    #[tokio::test]
    async fn values_are_sealed_and_calls_wait_for_the_one_that_fills_a_key() {
        let (kv, _dir) = database_kv().await;
        let kv = Arc::new(kv);
        assert_eq!(
            kv.get("a", "token", "first", soon()).await,
            None,
            "first fills it"
        );
        let waiting = {
            let kv = kv.clone();
            tokio::spawn(async move { kv.get("a", "token", "second", soon()).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "the second call waits for the first"
        );
        kv.set("a", "token", b"secret-token".to_vec(), None)
            .await
            .unwrap();
        assert_eq!(waiting.await.unwrap(), Some(b"secret-token".to_vec()));

        // A filler whose call ends without a value lets the next one fill.
        kv.delete("a", "token").await;
        assert_eq!(kv.get("a", "token", "third", soon()).await, None);
        kv.release("a", "third").await;
        assert_eq!(kv.get("a", "token", "fourth", Instant::now()).await, None);

        // What the database holds is sealed, for its connection and key.
        let stored = || {
            let now = SystemTime::now();
            kv.store.kv_get("a", "other", "x", now, now, MAX_KEYS)
        };
        assert_eq!(stored().await.unwrap(), KvRead::Fill);
        kv.set("a", "other", b"secret-token".to_vec(), None)
            .await
            .unwrap();
        let KvRead::Value(sealed) = stored().await.unwrap() else {
            panic!("a value is stored")
        };
        assert!(!sealed.windows(12).any(|w| w == b"secret-token"));
    }
}
