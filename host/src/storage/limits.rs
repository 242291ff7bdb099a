//! Limits that hold across every node sharing the database: token buckets
//! (each connection's write budget), and slots of a connection's upstream
//! concurrency (the adapter's `max-concurrent-requests`).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::Result;
use crate::rate_limit::Left;

#[async_trait]
pub trait LimitStorage: Send + Sync + 'static {
    /// Refills the bucket `key` of `per_minute` to `now` and, if one is
    /// free, takes `cost` whole ones (1, 0 to only check, or a batch), or as
    /// many as are free when fewer are: what it took and what is left, or
    /// how long until one is free ([`crate::rate_limit::spend`]). Takes on
    /// several nodes are serialized per bucket.
    async fn spend_budget(
        &self,
        key: &str,
        per_minute: u32,
        now: SystemTime,
        cost: f64,
    ) -> Result<std::result::Result<Left, Duration>>;
    /// Takes a free slot of `connection`'s `slots` (or one whose holder's
    /// time ran out) for `holder` until `until`: the slot's number, or
    /// `None` when every slot is held.
    async fn take_upstream_slot(
        &self,
        connection: &str,
        slots: u32,
        holder: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Option<u32>>;
    /// Holds every slot `holder` took, of any connection, until `until`;
    /// answers how many it still held.
    async fn renew_upstream_slots(&self, holder: &str, until: SystemTime) -> Result<u64>;
    /// Frees the slots `slots` of `connection` that `holder` took.
    async fn free_upstream_slots(
        &self,
        connection: &str,
        holder: &str,
        slots: &[u32],
    ) -> Result<()>;
}
