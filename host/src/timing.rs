//! Where a data-plane request's time went, for its `Server-Timing` header
//! (W3C Server Timing): the layers that spend it add to one [`Timing`],
//! and the HTTP API writes it on the answer.
//!
//! - `upstream`: waiting for the system (every request an adapter sent);
//! - `guest`: the adapter's own work (its calls, less `upstream`);
//! - `instantiate`: making the call's fresh instance;
//! - `db`: the database's statements on the path (idempotency keys, write
//!   budgets);
//! - `auth`: finding the token and its connection, and its rate limit;
//! - `admission`: entering the connection's share of the host and its
//!   upstream gate (waiting at the gate included);
//! - `encode`: writing a read's answer (its records into one JSON body);
//! - `host`: the rest, what Interlink itself adds (`total` less `guest` and
//!   `upstream`; `instantiate`, `db`, `auth`, `admission` and `encode` are
//!   part of it);
//! - `total`: from the request's arrival to its answer.

use std::fmt::Write;
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
    auth: AtomicU64,
    admission: AtomicU64,
    encode: AtomicU64,
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
    Auth,
    Admission,
    Encode,
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
            Part::Auth => &self.auth,
            Part::Admission => &self.admission,
            Part::Encode => &self.encode,
        };
        counter.fetch_add(micros(took), Ordering::Relaxed);
    }

    /// The `Server-Timing` header's value for a request that took `total`.
    pub fn header(&self, total: Duration) -> String {
        let total = micros(total);
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let upstream = load(&self.upstream);
        let guest = load(&self.guest).saturating_sub(upstream);
        let host = total.saturating_sub(guest + upstream);
        let metrics = [
            ("host", host),
            ("guest", guest),
            ("upstream", upstream),
            ("instantiate", load(&self.instantiate)),
            ("db", load(&self.db)),
            ("auth", load(&self.auth)),
            ("admission", load(&self.admission)),
            ("encode", load(&self.encode)),
            ("total", total),
        ];
        // Milliseconds with three decimals, written from the integer
        // microseconds (every answer carries it: no float formatting).
        let mut header = String::with_capacity(160);
        for (i, (name, us)) in metrics.into_iter().enumerate() {
            if i > 0 {
                header.push_str(", ");
            }
            let _ = write!(header, "{name};dur={}.{:03}", us / 1000, us % 1000);
        }
        header
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
        timing.add(Part::Auth, Duration::from_micros(7));
        timing.add(Part::Admission, Duration::from_micros(3));
        timing.add(Part::Encode, Duration::from_micros(11));
        assert_eq!(
            timing.header(Duration::from_micros(1_500)),
            "host;dur=0.600, guest;dur=0.300, upstream;dur=0.600, instantiate;dur=0.050, \
             db;dur=0.020, auth;dur=0.007, admission;dur=0.003, encode;dur=0.011, total;dur=1.500"
        );
    }
}
