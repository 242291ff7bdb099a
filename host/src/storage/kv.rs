//! Each connection's kv store as kept in the database, where every node's
//! calls see the same values, and where one call at a time fills a missing
//! key (an access token is fetched once, not by every call that missed it).
//!
//! A connection holds at most `max_keys` rows: values, and keys being
//! filled (a miss makes a row, so misses count too). The rows are counted
//! and added one call at a time per connection, across every node sharing
//! the database, so racing calls cannot pass the bound. Rows no call will read
//! again go: a fill that ended without a value at once ([`kv_release`]),
//! expired values and lapsed fills at the connection's next miss or write
//! and at every [`kv_purge`], and a connection's whole store when it is
//! disconnected or its data deleted ([`kv_clear`]).
//!
//! [`kv_release`]: KvStorage::kv_release
//! [`kv_purge`]: KvStorage::kv_purge
//! [`kv_clear`]: KvStorage::kv_clear

use std::time::SystemTime;

use async_trait::async_trait;

use super::Result;

/// What a read of a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvRead {
    /// The key's value (sealed, as it was stored).
    Value(Vec<u8>),
    /// No value: the reader now fills the key, until the time it gave.
    Fill,
    /// No value, and another call is filling the key.
    Filling,
    /// No value, and the connection's store is full: no row was made, and
    /// a write of the key would be refused too.
    Full,
}

#[async_trait]
pub trait KvStorage: Send + Sync + 'static {
    /// The value of `key` if it holds one that has not expired at `now`.
    /// If not, `holder` becomes the key's filler until `fill_until`, unless
    /// another holder fills it (and its time has not run out), or the
    /// connection already holds `max_keys` other keys (values or fills).
    async fn kv_get(
        &self,
        connection: &str,
        key: &str,
        holder: &str,
        now: SystemTime,
        fill_until: SystemTime,
        max_keys: usize,
    ) -> Result<KvRead>;
    /// Stores `value` (which ends any fill of the key), unless the
    /// connection already holds `max_keys` other live keys (values or
    /// fills); answers whether it did. The bound holds however many calls
    /// race on however many nodes: keys are added one at a time per
    /// connection.
    async fn kv_set(
        &self,
        connection: &str,
        key: &str,
        value: &[u8],
        expires_at: Option<SystemTime>,
        now: SystemTime,
        max_keys: usize,
    ) -> Result<bool>;
    /// Removes the value of `key` (a fill in progress goes on).
    async fn kv_delete(&self, connection: &str, key: &str) -> Result<()>;
    /// Ends the fills `holder` still holds (its call ended without a
    /// value): their rows go.
    async fn kv_release(&self, connection: &str, holder: &str) -> Result<()>;
    /// Deletes, on every connection, the rows no call will read again at
    /// `now`: expired values, fills whose time ran out, and the stores of
    /// disconnected connections (a call still running at the disconnect may
    /// have written one). Answers how many.
    async fn kv_purge(&self, now: SystemTime) -> Result<u64>;
    /// Deletes a connection's whole store; answers how many rows.
    async fn kv_clear(&self, connection: &str) -> Result<u64>;
}
