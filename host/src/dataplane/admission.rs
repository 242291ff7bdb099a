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
//! slots** in the database ([`crate::storage::LimitStorage`]). A node
//! **leases** slots ([`Leases`]): it takes one from the database when it
//! has none free, keeps it when its call ends, and gives it to its next
//! call of that connection, so that a node serving a connection steadily
//! takes no slot from the database per call. It renews all its slots in one
//! statement every [`SLOT_RENEW`], so that a node that dies frees them
//! within [`SLOT_LEASE`]. Slots it keeps unused go back to the database:
//! after [`IDLE_RETURN`], at once when another node announces it waits for
//! one ([`Notice::SlotWanted`]), and, for [`CONTENDED_FOR`] after such a
//! notice, as soon as each call ends. A call waiting for a slot polls for
//! it, and announces its wait at most every [`ASK_EVERY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::storage::{Notice, Store};

/// How long an upstream slot is held without a renewal: how long a dead
/// node's slot stays taken.
pub const SLOT_LEASE: Duration = Duration::from_secs(30);

/// How often a node renews its slots' leases.
const SLOT_RENEW: Duration = Duration::from_secs(10);

/// How long a node keeps a slot no call of its uses.
const IDLE_RETURN: Duration = Duration::from_secs(10);

/// How long after another node asked for a connection's slot this node
/// frees each slot of it when its call ends.
const CONTENDED_FOR: Duration = Duration::from_secs(1);

/// How often a waiting node announces its wait, per connection.
const ASK_EVERY: Duration = Duration::from_millis(100);

/// The longest pause between two tries for a slot.
const SLOT_POLL: Duration = Duration::from_millis(50);

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
        if let Some(mut slot) = self.slot.take() {
            slot.returned = true;
            if let Some(free) = slot.leases.give_back(&slot.connection, slot.slot) {
                free.await;
            }
        }
    }
}

/// One of a connection's upstream slots, held by a call of this node.
struct UpstreamSlot {
    leases: Arc<Leases>,
    connection: String,
    slot: u32,
    /// Given back already.
    returned: bool,
}

impl Drop for UpstreamSlot {
    fn drop(&mut self) {
        if !self.returned
            && let Some(free) = self.leases.give_back(&self.connection, self.slot)
        {
            tokio::spawn(free);
        }
    }
}

/// The slots this node holds of one connection.
#[derive(Default)]
struct Lease {
    /// Slots no call uses now, each with when its last call ended.
    idle: Vec<(u32, Instant)>,
    /// When another node last announced it waits for a slot.
    wanted_at: Option<Instant>,
    /// When this node last announced it waits for one.
    asked_at: Option<Instant>,
}

impl Lease {
    /// Whether another node asked for a slot less than [`CONTENDED_FOR`]
    /// ago.
    fn contended(&self, now: Instant) -> bool {
        self.wanted_at.is_some_and(|at| now < at + CONTENDED_FOR)
    }
}

/// The upstream slots this node holds in the shared database, by
/// connection.
struct Leases {
    store: Arc<dyn Store>,
    /// This node, as the holder of its slots.
    holder: String,
    by_connection: Mutex<HashMap<String, Lease>>,
    /// Until when the slots this node holds are surely still its own: the
    /// lease of the last take or renewal.
    held_until: Mutex<Instant>,
}

impl Leases {
    /// The leases of node `holder`, renewed in the background while they
    /// are in use.
    fn start(store: Arc<dyn Store>, holder: String) -> Arc<Leases> {
        let leases = Arc::new(Leases {
            store,
            holder,
            by_connection: Mutex::default(),
            held_until: Mutex::new(Instant::now()),
        });
        let weak = Arc::downgrade(&leases);
        tokio::spawn(renew(weak));
        leases
    }

    /// Takes one of `connection`'s `concurrency` slots, from this node's
    /// idle ones or from the database, trying until `deadline` (if any).
    async fn take(
        self: &Arc<Self>,
        connection: &str,
        concurrency: u32,
        deadline: Option<Instant>,
    ) -> Result<Option<UpstreamSlot>, crate::storage::StorageError> {
        let mut pause = Duration::from_millis(2);
        loop {
            let slot = match self.reuse(connection) {
                Some(slot) => Some(slot),
                None => {
                    let (now, instant) = (SystemTime::now(), Instant::now());
                    let taken = self
                        .store
                        .take_upstream_slot(
                            connection,
                            concurrency,
                            &self.holder,
                            now,
                            now + SLOT_LEASE,
                        )
                        .await?;
                    if taken.is_some() {
                        self.held(instant + SLOT_LEASE);
                    }
                    taken
                }
            };
            if let Some(slot) = slot {
                return Ok(Some(UpstreamSlot {
                    leases: self.clone(),
                    connection: connection.to_string(),
                    slot,
                    returned: false,
                }));
            }
            self.ask(connection).await;
            if deadline.is_some_and(|d| Instant::now() + pause > d) {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(SLOT_POLL);
        }
    }

    /// An idle slot of `connection`, if this node has one it surely still
    /// holds.
    fn reuse(&self, connection: &str) -> Option<u32> {
        if *self.held_until.lock().unwrap() < Instant::now() + SLOT_RENEW {
            // A renewal failed: the database may have given these slots to
            // another node. Take anew.
            self.by_connection.lock().unwrap().clear();
            return None;
        }
        let mut all = self.by_connection.lock().unwrap();
        all.get_mut(connection)?.idle.pop().map(|(slot, _)| slot)
    }

    fn held(&self, until: Instant) {
        let mut held = self.held_until.lock().unwrap();
        *held = (*held).max(until);
    }

    /// Announces that this node waits for one of `connection`'s slots,
    /// unless it did less than [`ASK_EVERY`] ago.
    async fn ask(&self, connection: &str) {
        let now = Instant::now();
        {
            let mut all = self.by_connection.lock().unwrap();
            let lease = all.entry(connection.to_string()).or_default();
            if lease.asked_at.is_some_and(|at| now < at + ASK_EVERY) {
                return;
            }
            lease.asked_at = Some(now);
        }
        let notice = Notice::SlotWanted {
            from: self.holder.clone(),
            connection: connection.to_string(),
        };
        if let Err(e) = self.store.announce(&notice).await {
            tracing::warn!(connection, error = %e, "could not announce a wait for an upstream slot");
        }
    }

    /// Takes `slot` of `connection` back from its call: kept idle, or,
    /// when another node waits for one, the freeing to run.
    fn give_back(
        self: &Arc<Self>,
        connection: &str,
        slot: u32,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let now = Instant::now();
        {
            let mut all = self.by_connection.lock().unwrap();
            let lease = all.entry(connection.to_string()).or_default();
            if !lease.contended(now) {
                lease.idle.push((slot, now));
                return None;
            }
        }
        Some(self.clone().free(connection.to_string(), vec![slot]))
    }

    /// Another node waits for one of `connection`'s slots: the idle ones go
    /// back to the database now, and the busy ones when their calls end.
    async fn wanted(self: &Arc<Self>, connection: &str) {
        let idle: Vec<u32> = {
            let mut all = self.by_connection.lock().unwrap();
            let Some(lease) = all.get_mut(connection) else {
                return;
            };
            lease.wanted_at = Some(Instant::now());
            lease.idle.drain(..).map(|(slot, _)| slot).collect()
        };
        if !idle.is_empty() {
            self.clone().free(connection.to_string(), idle).await;
        }
    }

    /// Frees `slots` of `connection` in the database; if it cannot be
    /// told, their lease ends them.
    async fn free(self: Arc<Self>, connection: String, slots: Vec<u32>) {
        if let Err(e) = self
            .store
            .free_upstream_slots(&connection, &self.holder, &slots)
            .await
        {
            tracing::warn!(connection, error = %e, "could not free upstream slots; their lease ends them");
        }
    }

    /// Renews every slot this node holds, and frees those idle for
    /// [`IDLE_RETURN`].
    async fn tend(self: &Arc<Self>) {
        let now = Instant::now();
        let mut unused = Vec::new();
        {
            let mut all = self.by_connection.lock().unwrap();
            for (connection, lease) in all.iter_mut() {
                let (old, kept): (Vec<_>, Vec<_>) = lease
                    .idle
                    .drain(..)
                    .partition(|(_, since)| now >= *since + IDLE_RETURN);
                lease.idle = kept;
                if !old.is_empty() {
                    unused.push((
                        connection.clone(),
                        old.into_iter().map(|(s, _)| s).collect(),
                    ));
                }
            }
            all.retain(|_, lease| !lease.idle.is_empty() || lease.contended(now));
        }
        for (connection, slots) in unused {
            self.clone().free(connection, slots).await;
        }
        // One statement renews the slots of every connection, idle or in
        // use.
        match self
            .store
            .renew_upstream_slots(&self.holder, SystemTime::now() + SLOT_LEASE)
            .await
        {
            Ok(_) => self.held(now + SLOT_LEASE),
            Err(e) => tracing::warn!(error = %e, "could not renew this node's upstream slots"),
        }
    }
}

/// Tends `leases` every [`SLOT_RENEW`] while they exist.
async fn renew(leases: Weak<Leases>) {
    loop {
        tokio::time::sleep(SLOT_RENEW).await;
        let Some(leases) = leases.upgrade() else {
            return;
        };
        leases.tend().await;
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

    /// Another node waits for one of `connection`'s upstream slots: this
    /// node gives back those it keeps idle, and, for a while, each one as
    /// its call ends.
    pub async fn slot_wanted(&self, connection: &str) {
        if let Some(leases) = &self.shared {
            leases.wanted(connection).await;
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

    /// Two nodes' admissions on one database hold a connection's gate
    /// between them.
    #[tokio::test]
    async fn the_gate_holds_across_nodes_that_share_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            crate::storage::sqlite::SqliteStorage::open(&dir.path().join("test.db"))
                .await
                .unwrap(),
        );
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
        a.slot_wanted("c").await;
        assert!(
            tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("B gets the slot")
                .unwrap(),
            "the slot was freed when another node asked for it"
        );
        // For a while after, A frees each slot as its call ends.
        b.slot_wanted("c").await;
        let b2 = node("b2");
        let mut running = a.enter("c", 1, Wait::Refuse).await.unwrap();
        running.free_upstream_slot().await;
        drop(running);
        assert!(b2.enter("c", 1, Wait::Refuse).await.is_ok());
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
