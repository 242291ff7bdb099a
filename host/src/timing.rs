//! Where a data-plane request's time went, for its `Server-Timing` header
//! (W3C Server Timing): the layers that spend it add to one [`Timing`],
//! and the HTTP API writes it on the answer.
//!
//! - `upstream`: waiting for the system (every request an adapter sent);
//! - `guest`: the adapter's own work (its calls, less `upstream`);
//! - `instantiate`: making the call's fresh instance;
//! - `db`: the database's statements on the path (idempotency keys, write
//!   budgets);
//! - `host`: the rest, what Interlink itself adds (`total` less `guest` and
//!   `upstream`; `instantiate` and `db` are part of it);
//! - `total`: from the request's arrival to its answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A request's durations so far, in microseconds; shared by the layers that
/// add to it.
#[derive(Debug, Default)]
pub struct Timing {
    upstream: AtomicU64,
    guest: AtomicU64,
    instantiate: AtomicU64,
    db: AtomicU64,
}

/// What a duration is added to.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// Time inside the adapter's calls, upstream waits included: the
    /// `guest` figure is this less `upstream`.
    Call,
    Upstream,
    Instantiate,
    Db,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Timing {
    pub fn add(&self, part: Part, took: Duration) {
        let counter = match part {
            Part::Call => &self.guest,
            Part::Upstream => &self.upstream,
            Part::Instantiate => &self.instantiate,
            Part::Db => &self.db,
        };
        counter.fetch_add(micros(took), Ordering::Relaxed);
    }

    /// The `Server-Timing` header's value for a request that took `total`.
    pub fn header(&self, total: Duration) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let total = micros(total);
        let upstream = self.upstream.load(Ordering::Relaxed);
        let call = self.guest.load(Ordering::Relaxed);
        let guest = call.saturating_sub(upstream);
        let host = total.saturating_sub(guest + upstream);
        format!(
            "host;dur={:.3}, guest;dur={:.3}, upstream;dur={:.3}, instantiate;dur={:.3}, db;dur={:.3}, total;dur={:.3}",
            ms(host),
            ms(guest),
            ms(upstream),
            ms(self.instantiate.load(Ordering::Relaxed)),
            ms(self.db.load(Ordering::Relaxed)),
            ms(total),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_splits_the_total_into_host_guest_and_upstream() {
        let timing = Timing::default();
        timing.add(Part::Call, Duration::from_micros(900));
        timing.add(Part::Upstream, Duration::from_micros(600));
        timing.add(Part::Instantiate, Duration::from_micros(50));
        timing.add(Part::Db, Duration::from_micros(20));
        assert_eq!(
            timing.header(Duration::from_micros(1_500)),
            "host;dur=0.600, guest;dur=0.300, upstream;dur=0.600, instantiate;dur=0.050, db;dur=0.020, total;dur=1.500"
        );
    }
}
