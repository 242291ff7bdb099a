//! Token buckets by key, each holding up to `per_minute` and refilling at
//! that rate: the write budget of each connection (the manifest's
//! `writes-per-minute`, or the operator's lower cap), each token's API
//! rate limit (`--api-requests-per-minute`) and each client address's
//! failed dashboard sign-ins. [`Buckets`] keeps them in memory; [`spend`] is
//! their arithmetic, which the database applies too when several nodes
//! share a connection's write budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What is left of a bucket after a take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Left {
    /// How many the take took: its cost, or as many whole ones as were
    /// free when fewer were.
    pub taken: u32,
    /// Whole requests that may follow at once.
    pub now: u32,
    /// Until the bucket is full again.
    pub full_in: Duration,
}

/// Token buckets, by key.
#[derive(Default)]
pub struct Buckets {
    buckets: Mutex<Keyed>,
}

#[derive(Default)]
struct Keyed {
    by_key: HashMap<String, Bucket>,
    /// How many buckets [`Buckets::forget_full`] lets there be before it
    /// looks through them again (twice what the last look left).
    look_at: usize,
}

impl Buckets {
    /// Takes one from `key`'s bucket of `per_minute` (a burst of up to
    /// `per_minute`), or answers how long until one is free.
    ///
    /// # Errors
    ///
    /// How long until one is free, when none is; nothing is taken then.
    pub fn take(&self, key: &str, per_minute: u32, now: Instant) -> Result<Left, Duration> {
        self.spend(key, per_minute, now, 1.0)
    }

    /// Whether [`Self::take`] would succeed now, without taking anything.
    ///
    /// # Errors
    ///
    /// As [`Self::take`].
    pub fn check(&self, key: &str, per_minute: u32, now: Instant) -> Result<Left, Duration> {
        self.spend(key, per_minute, now, 0.0)
    }

    /// Refills `key`'s bucket to `now`; if one is free, takes `cost` (1 or
    /// 0) of it.
    fn spend(&self, key: &str, per_minute: u32, now: Instant, cost: f64) -> Result<Left, Duration> {
        let buckets = &mut self.buckets.lock().unwrap().by_key;
        let bucket = match buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => buckets.entry(key.to_string()).or_insert(Bucket {
                tokens: f64::from(per_minute),
                at: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.at);
        bucket.at = now;
        spend(&mut bucket.tokens, elapsed, per_minute, cost)
    }

    /// Gives back one that [`Self::take`] took from `key`'s bucket of
    /// `per_minute` (the take did not count after all), up to full.
    pub fn give_back(&self, key: &str, per_minute: u32) {
        if let Some(bucket) = self.buckets.lock().unwrap().by_key.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(per_minute));
        }
    }

    /// Forgets the buckets (each of `per_minute`) that are full again at
    /// `now`, as a full bucket is the same as none, once there are more
    /// than `keep` and twice as many as the last time it did. For keys
    /// without a bound, such as client addresses: a key takes memory only
    /// while its bucket refills, and the time spent looking stays in
    /// proportion to the buckets made.
    pub fn forget_full(&self, per_minute: u32, now: Instant, keep: usize) {
        let mut buckets = self.buckets.lock().unwrap();
        if buckets.by_key.len() <= keep.max(buckets.look_at) {
            return;
        }
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0;
        buckets.by_key.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < capacity
        });
        buckets.look_at = buckets.by_key.len() * 2;
    }
}

/// The arithmetic of one bucket, wherever it is kept (here, or in the
/// database when nodes share it): refills `tokens` for `elapsed` at
/// `per_minute`, up to `per_minute`; if one is free, takes `cost` whole
/// ones (1, 0 to only check, or a batch a node leases: see
/// `connections::token_rate`), or as many as are free when fewer are, and
/// says what is left, or else how long until one is free.
///
/// # Errors
///
/// How long until one is free, when less than one is (`tokens` is refilled,
/// nothing taken); a minute when `per_minute` is 0.
pub fn spend(
    tokens: &mut f64,
    elapsed: Duration,
    per_minute: u32,
    cost: f64,
) -> Result<Left, Duration> {
    if per_minute == 0 {
        return Err(Duration::from_secs(60));
    }
    let capacity = f64::from(per_minute);
    let rate = capacity / 60.0;
    *tokens = (*tokens + elapsed.as_secs_f64() * rate).min(capacity);
    if *tokens >= 1.0 {
        let taken = cost.min(tokens.floor());
        *tokens -= taken;
        Ok(Left {
            taken: taken as u32,
            now: *tokens as u32,
            full_in: Duration::from_secs_f64((capacity - *tokens) / rate),
        })
    } else {
        Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_allows_a_burst_then_refills() {
        let budgets = Buckets::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            budgets.take("a", 3, t0).unwrap();
        }
        let wait = budgets.take("a", 3, t0).unwrap_err();
        assert!((19.0..=20.0).contains(&wait.as_secs_f64()), "{wait:?}");
        assert!(budgets.take("b", 3, t0).is_ok(), "buckets are per key");
        assert!(budgets.take("a", 3, t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn a_take_says_what_is_left_and_when_the_bucket_is_full_again() {
        let buckets = Buckets::default();
        let t0 = Instant::now();
        let left = buckets.take("a", 60, t0).unwrap();
        assert_eq!(left.now, 59);
        assert_eq!(left.full_in, Duration::from_secs(1));
        let left = buckets.take("a", 60, t0).unwrap();
        assert_eq!((left.now, left.full_in), (58, Duration::from_secs(2)));
    }

    #[test]
    fn a_take_given_back_does_not_count() {
        let buckets = Buckets::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            buckets.take("a", 2, t0).unwrap();
            buckets.give_back("a", 2);
        }
        buckets.give_back("a", 2);
        buckets.take("a", 2, t0).unwrap();
        buckets.take("a", 2, t0).unwrap();
        assert!(buckets.take("a", 2, t0).is_err(), "never more than full");
    }

    #[test]
    fn full_buckets_are_forgotten_past_a_size() {
        let buckets = Buckets::default();
        let t0 = Instant::now();
        for key in ["a", "b", "c"] {
            buckets.take(key, 60, t0).unwrap();
        }
        let t1 = t0 + Duration::from_millis(500);
        buckets.take("c", 60, t1).unwrap();
        let len = || buckets.buckets.lock().unwrap().by_key.len();
        buckets.forget_full(60, t0 + Duration::from_secs(1), 3);
        assert_eq!(len(), 3, "not past the size");
        buckets.forget_full(60, t0 + Duration::from_secs(1), 2);
        assert_eq!(len(), 1, "a and b are full again, c is not");
        buckets.take("d", 60, t1).unwrap();
        buckets.forget_full(60, t0 + Duration::from_secs(2), 0);
        assert_eq!(len(), 2, "not twice what the last look left");
        buckets.take("e", 60, t1).unwrap();
        buckets.forget_full(60, t0 + Duration::from_secs(2), 0);
        assert_eq!(len(), 0);
    }

    #[test]
    fn a_batch_takes_what_is_free_and_never_more() {
        let mut tokens = 5.5;
        let left = spend(&mut tokens, Duration::ZERO, 60, 3.0).unwrap();
        assert_eq!((left.taken, left.now), (3, 2));
        let left = spend(&mut tokens, Duration::ZERO, 60, 3.0).unwrap();
        assert_eq!((left.taken, left.now), (2, 0), "two were free");
        assert!((tokens - 0.5).abs() < 1e-9, "{tokens}");
        let wait = spend(&mut tokens, Duration::ZERO, 60, 3.0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500), "until one is free");
        assert_eq!(spend(&mut tokens, Duration::ZERO, 60, 0.0).ok(), None);
    }

    #[test]
    fn a_check_takes_nothing_but_says_what_a_take_would() {
        let budgets = Buckets::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            budgets.check("a", 1, t0).unwrap();
        }
        budgets.take("a", 1, t0).unwrap();
        assert!(budgets.check("a", 1, t0).is_err());
        assert!(budgets.take("a", 1, t0).is_err());
    }
}
