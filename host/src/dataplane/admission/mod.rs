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
//!
//! On a database other nodes share, the gate holds across them: past the
//! node's own gate, a call also needs one of the connection's **upstream
//! slots** in the database, which nodes lease ([`leases`]): a node keeps
//! the slots its calls took for its next calls, and holds no more than its
//! share while other nodes wait.

mod leases;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::storage::Store;
use leases::{Leases, UpstreamSlot};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The connection has `limit` calls admitted already.
    ShareFull { limit: u32 },
    /// The call waited for the gate, which lets `concurrency` calls run,
    /// longer than the queue timeout.
    GateTimeout { concurrency: u32, waited: Duration },
    /// The shared database could not be asked for an upstream slot.
    Storage(String),
}

/// Proof of admission; releasing (or dropping) it lets the next call in.
pub struct Admitted {
    // Fields drop in this order: the shared slot before the node's permits.
    slot: Option<UpstreamSlot>,
    _gate: OwnedSemaphorePermit,
    _share: OwnedSemaphorePermit,
}

impl Admitted {
    /// Gives the call's upstream slot back, if it holds one: to the node's
    /// lease, or, when another node waits for one, to the database, waiting
    /// for that so that the other node finds it free. The node's permits
    /// stay until this is dropped. Dropping it without this gives the slot
    /// back too (freeing it in the background).
    pub async fn free_upstream_slot(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.give_back().await;
        }
    }
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
    /// The slots this node leases in the database other nodes share, which
    /// hold the gate across them.
    shared: Option<Arc<Leases>>,
}

impl Admission {
    /// `max_calls` admitted calls per connection; an API call waits for its
    /// gate at most `queue_timeout`.
    pub fn new(max_calls: u32, queue_timeout: Duration) -> Self {
        Admission {
            max_calls: max_calls.max(1),
            queue_timeout,
            slots: Mutex::default(),
            shared: None,
        }
    }

    /// Holds each connection's gate across the nodes that share `store`
    /// too, this one leasing slots as `node` (a name no other node has).
    pub fn shared(mut self, store: Arc<dyn Store>, node: String) -> Self {
        self.shared = Some(Leases::start(store, node));
        self
    }

    /// The node `from` waits for one of `connection`'s upstream slots:
    /// this node holds no more than its share for a while
    /// ([`leases`]).
    pub async fn slot_wanted(&self, connection: &str, from: &str) {
        if let Some(leases) = &self.shared {
            leases.wanted(connection, from).await;
        }
    }

    /// The most calls one connection may have admitted.
    pub fn max_calls(&self) -> u32 {
        self.max_calls
    }

    /// The calls admitted now, of every connection, and of them those past
    /// their connection's gate (running, or holding a place to).
    pub fn usage(&self) -> (u64, u64) {
        let all = self.slots.lock().unwrap();
        all.values().fold((0, 0), |(admitted, past_gate), slots| {
            let held = |semaphore: &Semaphore, of: u32| {
                u64::from(of).saturating_sub(semaphore.available_permits() as u64)
            };
            (
                admitted + held(&slots.share, self.max_calls),
                past_gate + held(&slots.gate, slots.gate_limit),
            )
        })
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
    ///
    /// # Errors
    ///
    /// [`Refused::Storage`] when the shared database cannot be asked for an
    /// upstream slot. With [`Wait::Refuse`] also [`Refused::ShareFull`] when
    /// the connection has its share of calls admitted already, and
    /// [`Refused::GateTimeout`] when no place at the gate (or, on a shared
    /// database, no upstream slot) frees within the queue timeout; with
    /// [`Wait::Queue`] it waits for them instead.
    pub async fn enter(
        &self,
        connection: &str,
        concurrency: u32,
        wait: Wait,
    ) -> Result<Admitted, Refused> {
        let (share, gate, concurrency) = self.slots(connection, concurrency);
        let limit = self.max_calls;
        let deadline = (wait == Wait::Refuse).then(|| Instant::now() + self.queue_timeout);
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
        let slot = match &self.shared {
            None => None,
            Some(leases) => Some(
                leases
                    .take(connection, concurrency, deadline)
                    .await
                    .map_err(|e| Refused::Storage(e.to_string()))?
                    .ok_or(Refused::GateTimeout {
                        concurrency,
                        waited: self.queue_timeout,
                    })?,
            ),
        };
        Ok(Admitted {
            slot,
            _gate: gate,
            _share: share,
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

    /// A database that the tests' nodes share (SQLite, which keeps slots as
    /// PostgreSQL does).
    async fn shared_database() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::storage::sqlite::SqliteStorage::open(&dir.path().join("test.db"))
            .await
            .unwrap();
        (Arc::new(store), dir)
    }

    /// Two nodes' admissions on one database hold a connection's gate
    /// between them.
    #[tokio::test]
    async fn the_gate_holds_across_nodes_that_share_the_database() {
        let (store, _dir) = shared_database().await;
        let node = |name: &str| {
            Admission::new(8, Duration::from_millis(200)).shared(store.clone(), name.into())
        };
        let (a, b) = (node("a"), Arc::new(node("b")));
        let running = a.enter("c", 1, Wait::Refuse).await.unwrap();
        assert!(matches!(
            b.enter("c", 1, Wait::Refuse).await.err(),
            Some(Refused::GateTimeout { concurrency: 1, .. })
        ));
        assert!(b.enter("other", 1, Wait::Refuse).await.is_ok());
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move { b.enter("c", 1, Wait::Queue).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!waiting.is_finished(), "node B waits for node A's call");
        drop(running);
        // A keeps the slot for its next call: B, which polls for it at
        // least every 50 ms, still waits.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!waiting.is_finished(), "node A leases the slot");
        let again = a.enter("c", 1, Wait::Refuse).await.unwrap();
        drop(again);
        // B's wait is announced; A, hearing it, gives the slot back.
        a.slot_wanted("c", "b").await;
        assert!(
            tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("B gets the slot")
                .unwrap(),
            "the slot was freed when another node asked for it"
        );
        // For a while after, A frees each slot as its call ends.
        b.slot_wanted("c", "a").await;
        let b2 = node("b2");
        let mut running = a.enter("c", 1, Wait::Refuse).await.unwrap();
        running.free_upstream_slot().await;
        drop(running);
        assert!(b2.enter("c", 1, Wait::Refuse).await.is_ok());
    }

    /// Two nodes that want more of a connection's slots than there are
    /// settle at an even share each, and keep it.
    #[tokio::test]
    async fn nodes_that_contend_for_slots_hold_an_even_share() {
        let (store, _dir) = shared_database().await;
        let node = |name: &str| {
            Admission::new(8, Duration::from_millis(200)).shared(store.clone(), name.into())
        };
        let (a, b) = (node("a"), node("b"));
        let mut held: Vec<Admitted> = Vec::new();
        for _ in 0..4 {
            held.push(a.enter("c", 4, Wait::Refuse).await.unwrap());
        }
        drop(held);
        assert!(
            b.enter("c", 4, Wait::Refuse).await.is_err(),
            "A keeps its four slots while nobody asks"
        );
        // B's wait reaches A: A keeps two, gives two back.
        a.slot_wanted("c", "b").await;
        let b_calls = [
            b.enter("c", 4, Wait::Refuse).await.unwrap(),
            b.enter("c", 4, Wait::Refuse).await.unwrap(),
        ];
        assert!(b.enter("c", 4, Wait::Refuse).await.is_err());
        let a_calls = [
            a.enter("c", 4, Wait::Refuse).await.unwrap(),
            a.enter("c", 4, Wait::Refuse).await.unwrap(),
        ];
        drop(a_calls);
        assert!(
            b.enter("c", 4, Wait::Refuse).await.is_err(),
            "A keeps its share when its calls end"
        );
        drop(b_calls);
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
