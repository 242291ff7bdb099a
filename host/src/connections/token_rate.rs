//! Each connection token's API rate limit (`--api-requests-per-minute`): a
//! token bucket per token, of `per_minute` (a burst of as many), refilling
//! at that rate.
//!
//! On one node (a database that is not [shared](crate::storage::ConnectionStorage::shared))
//! the bucket is in memory ([`Buckets`]). On nodes sharing a database the
//! bucket is the database's, `api:<token id>`
//! ([`LimitStorage::spend_budget`]), so that the limit is the token's
//! whichever nodes its requests reach; but no node asks the database per
//! request. Instead, per token:
//!
//! 1. A request takes one from the node's *lease* of the token's bucket, if
//!    it holds one with a token left that is younger than the lease's
//!    lifetime (`Limit::lease_for`). No statement.
//! 2. Else, unless the bucket was empty a moment ago (step 4), the node
//!    leases again: one statement takes up to the lease's size from the
//!    shared bucket, fewer when fewer are free, and the request takes one
//!    of them. One lease at a time per token on a node: requests that
//!    arrive meanwhile wait for it, then take from it.
//! 3. The size follows the node's demand, up to the batch
//!    (`Limit::batch`, a second's refill: a sixtieth of `per_minute`, at
//!    least 1): a
//!    lease used up is followed by one twice as large; one that lapsed with
//!    tokens left, by twice what was used of it. A node that sees one
//!    request a second takes two at a time, not a batch it would mostly
//!    waste; one that sees many takes a batch per statement.
//! 4. When the shared bucket has none free, the request is refused with
//!    the time until one is (`Retry-After`), and so is every request for
//!    the token on this node until then, without asking again.
//!
//! Why the limit holds: every request is admitted with a token that was
//! in the shared bucket, so the rate over time is `per_minute` however
//! many nodes there are. A lease's unused tokens are lost when it lapses,
//! never given back: they only make the nodes admit less. They could let
//! the nodes admit more only in this way: the shared bucket refills while
//! leases are out, up to full, and then a burst meets both. Since a lease
//! is used for at most `lease_for`, the time the bucket takes to refill one
//! batch, at any moment the tokens out on leases are at most what the
//! bucket refilled since the oldest of them was taken: over any interval,
//! the nodes together admit at most one batch more than one bucket in
//! memory would: a second's worth of the limit (at the default 6,000 a
//! minute, 100 more than the burst, once).
//!
//! What is left (the `RateLimit` header's `r` and `t`) is what this node
//! knows: its lease's tokens and the shared bucket's as of its last lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::rate_limit::{Buckets, Left};
use crate::storage::{StorageError, Store};

/// How many tokens' leases a node keeps before it drops the lapsed ones.
const PRUNE_AT: usize = 4096;

/// The rate limit of every connection token.
pub struct TokenRate {
    limit: Limit,
    kept: Kept,
}

/// Where the buckets are kept.
enum Kept {
    /// In memory: the node is the only one.
    Here(Buckets),
    /// In the shared database, leased by this node per token.
    Shared {
        store: Arc<dyn Store>,
        leases: Mutex<Leases>,
    },
}

/// This node's lease of each token it served.
#[derive(Default)]
struct Leases {
    by_token: HashMap<String, Arc<tokio::sync::Mutex<Lease>>>,
    /// How many leases [`Leases::get`] lets there be before it drops the
    /// lapsed ones (twice what the last look left, at least
    /// [`PRUNE_AT`]).
    look_at: usize,
}

impl Leases {
    /// `token_id`'s lease, made if the node has none.
    fn get(&mut self, token_id: &str, limit: Limit) -> Arc<tokio::sync::Mutex<Lease>> {
        if self.by_token.len() >= self.look_at.max(PRUNE_AT) {
            let now = Instant::now();
            self.by_token.retain(|_, lease| {
                Arc::strong_count(lease) > 1
                    || lease
                        .try_lock()
                        .map_or(true, |lease| lease.live(limit, now))
            });
            self.look_at = self.by_token.len() * 2;
        }
        self.by_token
            .entry(token_id.to_string())
            .or_default()
            .clone()
    }
}

/// A bucket's size and what leases of it may hold.
#[derive(Debug, Clone, Copy)]
struct Limit {
    per_minute: u32,
}

impl Limit {
    /// The most one lease takes: what the bucket refills in a second (a
    /// sixtieth of `per_minute`), at least 1. A node serving a token at
    /// a high rate asks the database about once per batch; what leases may
    /// add to a burst stays a second's worth of the limit.
    fn batch(self) -> u32 {
        (self.per_minute / 60).max(1)
    }

    /// How long a lease may be used: the time the bucket takes to refill
    /// one batch.
    fn lease_for(self) -> Duration {
        Duration::from_secs_f64(60.0 * f64::from(self.batch()) / f64::from(self.per_minute))
    }
}

/// A node's lease of one token's shared bucket.
#[derive(Debug, Default)]
struct Lease {
    /// When it was taken (none yet: `None`).
    at: Option<Instant>,
    /// How many it took, and how many of those are left.
    size: u32,
    left: u32,
    /// The shared bucket's tokens after the lease took, and the time until
    /// it was full again.
    shared_left: u32,
    full_in: Duration,
    /// The shared bucket was empty: no request is admitted before this.
    refused_until: Option<Instant>,
}

impl Lease {
    /// Takes one, if the lease holds one and is still young enough.
    fn take(&mut self, limit: Limit, now: Instant) -> Option<Left> {
        let at = self.at?;
        let age = now.saturating_duration_since(at);
        if self.left == 0 || age >= limit.lease_for() {
            return None;
        }
        self.left -= 1;
        Some(Left {
            taken: 1,
            now: (self.left + self.shared_left).min(limit.per_minute),
            full_in: self.full_in.saturating_sub(age),
        })
    }

    /// Whether the lease still holds anything: tokens it may use, or a
    /// refusal that is not over.
    fn live(&self, limit: Limit, now: Instant) -> bool {
        let young = self
            .at
            .is_some_and(|at| now.saturating_duration_since(at) < limit.lease_for());
        young || self.refused_until.is_some_and(|until| now < until)
    }

    /// The size of the next lease (see the module's step 3).
    fn next_size(&self, limit: Limit) -> u32 {
        let used = self.size - self.left;
        let wanted = if self.left == 0 { self.size } else { used };
        (wanted * 2).clamp(1, limit.batch())
    }
}

impl TokenRate {
    /// `per_minute` requests a minute for each token, kept in `store` when
    /// it is shared, in memory when not.
    pub fn new(per_minute: u32, store: Arc<dyn Store>) -> Self {
        let kept = if store.shared() {
            Kept::Shared {
                store,
                leases: Default::default(),
            }
        } else {
            Kept::Here(Buckets::default())
        };
        TokenRate {
            limit: Limit { per_minute },
            kept,
        }
    }

    /// Requests a minute each token may make.
    pub fn per_minute(&self) -> u32 {
        self.limit.per_minute
    }

    /// Takes one request from token `token_id`'s limit: what is left, or
    /// how long until one is free.
    ///
    /// # Errors
    ///
    /// [`StorageError`] when the shared database failed.
    pub async fn take(&self, token_id: &str) -> Result<Result<Left, Duration>, StorageError> {
        let limit = self.limit;
        let (store, leases) = match &self.kept {
            Kept::Here(buckets) => {
                return Ok(buckets.take(token_id, limit.per_minute, Instant::now()));
            }
            Kept::Shared { store, leases } => (store, leases),
        };
        let lease = leases.lock().unwrap().get(token_id, limit);
        let mut lease = lease.lock().await;
        let now = Instant::now();
        if let Some(left) = lease.take(limit, now) {
            return Ok(Ok(left));
        }
        if let Some(until) = lease.refused_until.filter(|until| now < *until) {
            return Ok(Err(until - now));
        }
        let size = lease.next_size(limit);
        let key = format!("api:{token_id}");
        let spent = store
            .spend_budget(&key, limit.per_minute, SystemTime::now(), f64::from(size))
            .await?;
        let now = Instant::now();
        match spent {
            Ok(shared) => {
                *lease = Lease {
                    at: Some(now),
                    size: shared.taken,
                    left: shared.taken,
                    shared_left: shared.now,
                    full_in: shared.full_in,
                    refused_until: None,
                };
                // The spend took one at least: the new lease holds it.
                Ok(lease.take(limit, now).ok_or(Duration::ZERO))
            }
            Err(wait) => {
                lease.refused_until = Some(now + wait);
                Ok(Err(wait))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_minute: u32) -> Limit {
        Limit { per_minute }
    }

    #[test]
    fn a_batch_is_a_seconds_refill_and_lasts_that_second() {
        assert_eq!(limit(3).batch(), 1);
        assert_eq!(limit(3).lease_for(), Duration::from_secs(20));
        assert_eq!(limit(600).batch(), 10);
        assert_eq!(limit(600).lease_for(), Duration::from_secs(1));
        assert_eq!(limit(6_000).batch(), 100);
        assert_eq!(limit(6_000).lease_for(), Duration::from_secs(1));
        assert_eq!(limit(6_000_000).batch(), 100_000);
    }

    #[test]
    fn a_lease_grows_when_used_up_and_shrinks_to_what_was_used() {
        let limit = limit(6_000);
        let t0 = Instant::now();
        let mut lease = Lease::default();
        assert_eq!(lease.next_size(limit), 1, "the first lease is one");
        lease = Lease {
            at: Some(t0),
            size: 4,
            left: 4,
            ..Default::default()
        };
        for _ in 0..4 {
            assert!(lease.take(limit, t0).is_some());
        }
        assert!(lease.take(limit, t0).is_none(), "used up");
        assert_eq!(lease.next_size(limit), 8);
        lease.size = 80;
        lease.left = 0;
        assert_eq!(lease.next_size(limit), 100, "at most a batch");
        assert!(lease.live(limit, t0));
        assert!(!lease.live(limit, t0 + limit.lease_for()));
        lease.left = 77;
        assert_eq!(lease.next_size(limit), 6, "twice the three used");
        assert!(
            lease.take(limit, t0 + limit.lease_for()).is_none(),
            "lapsed"
        );
    }
}
