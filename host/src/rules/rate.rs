//! The write budget of each connection: a token bucket per connection that
//! refills at the manifest's `writes-per-minute` (or the operator's lower cap).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Write budgets, by connection id.
#[derive(Default)]
pub struct WriteBudgets {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl WriteBudgets {
    /// Takes one write from `connection`'s budget of `per_minute` writes (a
    /// burst of up to `per_minute`), or answers how long until one is free.
    pub fn take(&self, connection: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        self.spend(connection, per_minute, now, 1.0)
    }

    /// Whether [`Self::take`] would succeed now, without taking anything.
    pub fn check(&self, connection: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        self.spend(connection, per_minute, now, 0.0)
    }

    /// Refills `connection`'s bucket to `now`; if a write is free, takes
    /// `cost` (1 or 0) of it.
    fn spend(
        &self,
        connection: &str,
        per_minute: u32,
        now: Instant,
        cost: f64,
    ) -> Result<(), Duration> {
        if per_minute == 0 {
            return Err(Duration::from_secs(60));
        }
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap();
        let bucket = buckets.entry(connection.to_string()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_allows_a_burst_then_refills() {
        let budgets = WriteBudgets::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            budgets.take("a", 3, t0).unwrap();
        }
        let wait = budgets.take("a", 3, t0).unwrap_err();
        assert!((19.0..=20.0).contains(&wait.as_secs_f64()), "{wait:?}");
        assert!(
            budgets.take("b", 3, t0).is_ok(),
            "budgets are per connection"
        );
        assert!(budgets.take("a", 3, t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn a_check_takes_nothing_but_says_what_a_take_would() {
        let budgets = WriteBudgets::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            budgets.check("a", 1, t0).unwrap();
        }
        budgets.take("a", 1, t0).unwrap();
        assert!(budgets.check("a", 1, t0).is_err());
        assert!(budgets.take("a", 1, t0).is_err());
    }
}
