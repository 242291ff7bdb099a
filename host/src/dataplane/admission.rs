//! Fairness between connections: how many calls of one connection run, and
//! how many may wait.
//!
//! A call is admitted in two steps, before any instance is taken:
//!
//! 1. its connection's **share**: at most `max_calls` calls of one
//!    connection are admitted at once, running or waiting. An API call past
//!    the share is refused at once (429 `too_many_requests`), so one
//!    connection can never hold more than its share of the host while the
//!    others are served; a background caller (a sync run) waits instead;
//! 2. its connection's **gate**: at most the adapter's
//!    `max-concurrent-requests` admitted calls run at once. Calls wait here
//!    without an instance slot; a call makes one upstream request at a time,
//!    so the gate bounds the connection's requests in flight to the system.
//!
//! Only then does the call take a slot of the instance pool, so a
//! connection's waiting calls never take slots from other connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a caller does when its connection is at its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Refused at once past the share; waits for the gate at most the
    /// queue timeout. For API requests, whose client can retry.
    Refuse,
    /// Waits for the share and the gate as long as it takes. For sync runs.
    Queue,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The connection has `limit` calls admitted already.
    ShareFull { limit: u32 },
    /// The call waited for the gate, which lets `concurrency` calls run,
    /// longer than the queue timeout.
    GateTimeout { concurrency: u32, waited: Duration },
}

/// Proof of admission; dropping it lets the next call in.
pub struct Admitted {
    _share: OwnedSemaphorePermit,
    _gate: OwnedSemaphorePermit,
}

struct Slots {
    share: Arc<Semaphore>,
    gate: Arc<Semaphore>,
    /// The concurrency the gate was made for: an adapter upgrade may change
    /// it, and then the gate is made anew.
    gate_limit: u32,
}

/// The share and the gate of every connection that made a call.
pub struct Admission {
    max_calls: u32,
    queue_timeout: Duration,
    slots: Mutex<HashMap<String, Slots>>,
}

impl Admission {
    /// `max_calls` admitted calls per connection; an API call waits for its
    /// gate at most `queue_timeout`.
    pub fn new(max_calls: u32, queue_timeout: Duration) -> Self {
        Admission {
            max_calls: max_calls.max(1),
            queue_timeout,
            slots: Mutex::default(),
        }
    }

    /// The most calls one connection may have admitted.
    pub fn max_calls(&self) -> u32 {
        self.max_calls
    }

    /// The share and the gate of `connection`, whose adapter allows
    /// `concurrency` requests in flight.
    /// Answers the gate's concurrency too (the adapter's, within the share).
    fn slots(&self, connection: &str, concurrency: u32) -> (Arc<Semaphore>, Arc<Semaphore>, u32) {
        let concurrency = concurrency.clamp(1, self.max_calls);
        let mut all = self.slots.lock().unwrap();
        let slots = all.entry(connection.to_string()).or_insert_with(|| Slots {
            share: Arc::new(Semaphore::new(self.max_calls as usize)),
            gate: Arc::new(Semaphore::new(concurrency as usize)),
            gate_limit: concurrency,
        });
        if slots.gate_limit != concurrency {
            // Calls in flight keep their permits of the old gate and finish.
            slots.gate = Arc::new(Semaphore::new(concurrency as usize));
            slots.gate_limit = concurrency;
        }
        (slots.share.clone(), slots.gate.clone(), concurrency)
    }

    /// Admits one call of `connection`, whose adapter allows `concurrency`
    /// requests in flight.
    pub async fn enter(
        &self,
        connection: &str,
        concurrency: u32,
        wait: Wait,
    ) -> Result<Admitted, Refused> {
        let (share, gate, concurrency) = self.slots(connection, concurrency);
        let limit = self.max_calls;
        let share = match wait {
            Wait::Refuse => share
                .try_acquire_owned()
                .map_err(|_| Refused::ShareFull { limit })?,
            Wait::Queue => share.acquire_owned().await.expect("never closed"),
        };
        let gate = match wait {
            Wait::Refuse => tokio::time::timeout(self.queue_timeout, gate.acquire_owned())
                .await
                .map_err(|_| Refused::GateTimeout {
                    concurrency,
                    waited: self.queue_timeout,
                })?
                .expect("never closed"),
            Wait::Queue => gate.acquire_owned().await.expect("never closed"),
        };
        Ok(Admitted {
            _share: share,
            _gate: gate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_past_its_share_is_refused_and_others_are_not() {
        let admission = Admission::new(3, Duration::from_secs(5));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(admission.enter("a", 3, Wait::Refuse).await.unwrap());
        }
        assert_eq!(
            admission.enter("a", 3, Wait::Refuse).await.err(),
            Some(Refused::ShareFull { limit: 3 })
        );
        assert!(admission.enter("b", 3, Wait::Refuse).await.is_ok());
        held.pop();
        assert!(admission.enter("a", 3, Wait::Refuse).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn calls_past_the_gate_wait_for_it_then_give_up() {
        let admission = Arc::new(Admission::new(8, Duration::from_secs(5)));
        let first = admission.enter("a", 1, Wait::Refuse).await.unwrap();
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.enter("a", 1, Wait::Refuse).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(first);
        assert!(
            waiting.await.unwrap(),
            "the gate opened for the waiting call"
        );

        let _running = admission.enter("a", 1, Wait::Refuse).await.unwrap();
        assert_eq!(
            admission.enter("a", 1, Wait::Refuse).await.err(),
            Some(Refused::GateTimeout {
                concurrency: 1,
                waited: Duration::from_secs(5)
            })
        );
    }

    #[tokio::test]
    async fn background_calls_queue_for_the_share() {
        let admission = Arc::new(Admission::new(1, Duration::from_secs(5)));
        let first = admission.enter("a", 1, Wait::Queue).await.unwrap();
        let queued = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.enter("a", 1, Wait::Queue).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!queued.is_finished());
        drop(first);
        assert!(queued.await.unwrap());
    }
}
