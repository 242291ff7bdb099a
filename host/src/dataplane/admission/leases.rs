//! A node's leases of its connections' upstream slots in a shared database
//! ([`crate::storage::LimitStorage`]): how the adapter's
//! `max-concurrent-requests` holds across nodes without a statement per
//! call.
//!
//! Per connection, a node **holds** some of the slots: it takes one from
//! the database when a call finds none of its own free, and when a call
//! ends, it keeps the slot for its next call (idle) and wakes a call of its
//! own waiting for one. So a node serving a connection steadily takes no
//! slot from the database per call. It renews all its slots in one
//! statement every [`SLOT_RENEW`], so that a node that dies frees them
//! within [`SLOT_LEASE`], and gives a slot back to the database after
//! [`IDLE_RETURN`] unused.
//!
//! When a node finds every slot of the database held, it waits for one of
//! its own to be free (woken at once) and tries the database again at most
//! every [`SLOT_POLL`]; and it announces that it waits
//! ([`Notice::SlotWanted`]), at most every [`ASK_EVERY`]. A node that hears
//! others wait ([`Leases::wanted`]) holds at most its even **share** of the
//! slots for [`CONTENDED_FOR`] after the last ask (the slots divided by the
//! nodes that want them, rounded down): it gives idle slots back down to
//! its share at once, and busy ones as their calls end. Two nodes serving
//! one connection of 4 slots settle at 2 each, and again take no slot from
//! the database per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::storage::{Notice, StorageError, Store};

/// How long an upstream slot is held without a renewal: how long a dead
/// node's slot stays taken.
const SLOT_LEASE: Duration = Duration::from_secs(30);

/// How often a node renews its slots' leases.
const SLOT_RENEW: Duration = Duration::from_secs(10);

/// How long a node keeps a slot no call of its uses.
const IDLE_RETURN: Duration = Duration::from_secs(10);

/// How long a node holds at most its share after another node asked for
/// a slot.
const CONTENDED_FOR: Duration = Duration::from_secs(1);

/// How often a waiting node announces its wait, per connection.
const ASK_EVERY: Duration = Duration::from_millis(100);

/// How often a node tries the database again while it finds every slot
/// held.
const SLOT_POLL: Duration = Duration::from_millis(50);

/// One of a connection's upstream slots, held by a call of this node;
/// given back when dropped.
pub(super) struct UpstreamSlot {
    leases: Arc<Leases>,
    connection: String,
    slot: u32,
    /// Given back already.
    returned: bool,
}

impl UpstreamSlot {
    /// Gives the slot back: kept for this node's next call, or, when other
    /// nodes wait and this one holds more than its share, freed in the
    /// database (waiting for that, so that they find it free).
    pub(super) async fn give_back(mut self) {
        self.returned = true;
        if let Some(free) = self.leases.give_back(&self.connection, self.slot) {
            free.await;
        }
    }
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
    /// Slots held in the database, in use or idle.
    held: u32,
    /// The connection's slots, as its last call asked.
    concurrency: u32,
    /// Held slots no call uses now, each with when its last call ended.
    idle: Vec<(u32, Instant)>,
    /// Other nodes that announced they wait for a slot, with when they last
    /// did.
    wanted_by: HashMap<String, Instant>,
    /// When this node last found every slot of the database held.
    full_at: Option<Instant>,
    /// When this node last announced it waits.
    asked_at: Option<Instant>,
    /// Wakes this node's calls waiting for one of its slots.
    freed: Arc<Notify>,
}

impl Lease {
    /// The most slots this node may hold now: all of them, or, while other
    /// nodes wait, its even share (at least one to take, when it holds
    /// none; see [`Lease::may_take`]).
    fn share(&mut self, now: Instant) -> u32 {
        self.wanted_by.retain(|_, at| now < *at + CONTENDED_FOR);
        self.concurrency / (1 + self.wanted_by.len() as u32)
    }

    /// Whether a call may try the database for one more slot.
    fn may_take(&mut self, now: Instant) -> bool {
        let share = self.share(now).max(1);
        self.held < share && self.full_at.is_none_or(|at| now >= at + SLOT_POLL)
    }
}

/// The upstream slots this node holds in the shared database, by
/// connection.
pub(super) struct Leases {
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
    /// exist.
    pub(super) fn start(store: Arc<dyn Store>, holder: String) -> Arc<Leases> {
        let leases = Arc::new(Leases {
            store,
            holder,
            by_connection: Mutex::default(),
            // Nothing is held yet, so nothing can have lapsed.
            held_until: Mutex::new(Instant::now() + SLOT_LEASE),
        });
        tokio::spawn(renew(Arc::downgrade(&leases)));
        leases
    }

    /// Takes one of `connection`'s `concurrency` slots, one of this node's
    /// or from the database, trying until `deadline` (if any).
    ///
    /// # Errors
    ///
    /// The database failed.
    pub(super) async fn take(
        self: &Arc<Self>,
        connection: &str,
        concurrency: u32,
        deadline: Option<Instant>,
    ) -> Result<Option<UpstreamSlot>, StorageError> {
        loop {
            self.forget_if_lapsed();
            let (freed, try_database) = {
                let now = Instant::now();
                let mut all = self.by_connection.lock().unwrap();
                let lease = all.entry(connection.to_string()).or_default();
                lease.concurrency = concurrency;
                if let Some((slot, _)) = lease.idle.pop() {
                    return Ok(Some(self.slot(connection, slot)));
                }
                (lease.freed.clone(), lease.may_take(now))
            };
            let notified = freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if try_database {
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
                let got = {
                    let mut all = self.by_connection.lock().unwrap();
                    let lease = all.entry(connection.to_string()).or_default();
                    match taken {
                        Some(_) => {
                            lease.held += 1;
                            lease.full_at = None;
                        }
                        None => lease.full_at = Some(Instant::now()),
                    }
                    taken
                };
                if let Some(slot) = got {
                    self.held(instant + SLOT_LEASE);
                    return Ok(Some(self.slot(connection, slot)));
                }
                self.ask(connection).await;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            let pause = deadline.map_or(SLOT_POLL, |d| (d - now).min(SLOT_POLL));
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn slot(self: &Arc<Self>, connection: &str, slot: u32) -> UpstreamSlot {
        UpstreamSlot {
            leases: self.clone(),
            connection: connection.to_string(),
            slot,
            returned: false,
        }
    }

    /// Whether renewals failed long enough that the database may give this
    /// node's slots to another soon.
    fn lapsed(&self) -> bool {
        *self.held_until.lock().unwrap() < Instant::now() + SLOT_RENEW
    }

    /// When [`Leases::lapsed`], forgets the slots this node holds (calls
    /// take anew).
    fn forget_if_lapsed(&self) {
        if self.lapsed() {
            let mut all = self.by_connection.lock().unwrap();
            for lease in all.values_mut() {
                lease.idle.clear();
                lease.held = 0;
            }
        }
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

    /// Takes `slot` of `connection` back from its call: kept for the next
    /// call (one waiting is woken), or, when this node holds more than its
    /// share (or may not hold it much longer), the freeing to run.
    fn give_back(
        self: &Arc<Self>,
        connection: &str,
        slot: u32,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let now = Instant::now();
        let lapsed = self.lapsed();
        {
            let mut all = self.by_connection.lock().unwrap();
            let lease = all.entry(connection.to_string()).or_default();
            if !lapsed && lease.held <= lease.share(now) {
                lease.idle.push((slot, now));
                lease.freed.notify_one();
                return None;
            }
            lease.held = lease.held.saturating_sub(1);
        }
        Some(self.clone().free(connection.to_string(), vec![slot]))
    }

    /// The node `from` waits for one of `connection`'s slots: this node
    /// gives back its idle ones down to its share now, and the busy ones
    /// as their calls end.
    pub(super) async fn wanted(self: &Arc<Self>, connection: &str, from: &str) {
        let idle: Vec<u32> = {
            let now = Instant::now();
            let mut all = self.by_connection.lock().unwrap();
            let Some(lease) = all.get_mut(connection) else {
                return;
            };
            lease.wanted_by.insert(from.to_string(), now);
            let share = lease.share(now);
            let mut idle = Vec::new();
            while lease.held > share
                && let Some((slot, _)) = lease.idle.pop()
            {
                lease.held -= 1;
                idle.push(slot);
            }
            idle
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
                lease.held = lease.held.saturating_sub(old.len() as u32);
                if !old.is_empty() {
                    unused.push((
                        connection.clone(),
                        old.into_iter().map(|(s, _)| s).collect(),
                    ));
                }
            }
            all.retain(|_, lease| {
                lease.held > 0 || lease.share(now) < lease.concurrency
                    // A call waits on its `freed`.
                    || Arc::strong_count(&lease.freed) > 1
            });
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
