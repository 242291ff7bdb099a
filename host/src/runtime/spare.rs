//! Spare instances: a fresh instance of an adapter, made ahead of its next
//! call, so that the call does not wait for the instantiation.
//!
//! A spare is as fresh as an instance made for the call: it has run no
//! export and knows no connection. Instantiating runs no code of the
//! adapter's on behalf of anyone (its imports do nothing until the instance
//! is bound, see [`super::AdapterInstance::bind`]); the call binds it to its
//! connection, config and limits, uses it once, and drops it. The data
//! plane has a new spare made after each call, off the caller's path.
//!
//! Each adapter version keeps at most one; a runtime keeps at most
//! [`MAX_SPARES`] in all, and the engine's pool has that many slots more
//! than `max_instances`, so spares never leave calls fewer than
//! `max_instances` slots. Adapters that keep warm instances
//! ([`super::InstanceReuse`]) have no spare.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::AdapterInstance;

/// The most spares one runtime keeps, across its adapter versions.
pub const MAX_SPARES: u32 = 32;

/// The runtime's count of spares alive.
#[derive(Default)]
pub(super) struct SpareCount(AtomicU32);

/// One of the runtime's [`MAX_SPARES`]; given back when dropped.
pub(super) struct Ticket(Arc<SpareCount>);

impl SpareCount {
    /// A ticket for one more spare, if the runtime has fewer than
    /// [`MAX_SPARES`].
    pub(super) fn take(self: &Arc<Self>) -> Option<Ticket> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_SPARES).then_some(n + 1)
            })
            .ok()
            .map(|_| Ticket(self.clone()))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An adapter version's spare, and whether one is being made.
#[derive(Default)]
pub(super) struct SpareSlot {
    spare: Mutex<Option<(AdapterInstance, Ticket)>>,
    making: AtomicBool,
}

impl SpareSlot {
    /// The spare, if there is one; the slot is empty after.
    pub(super) fn take(&self) -> Option<AdapterInstance> {
        let taken = self.spare.lock().unwrap().take();
        taken.map(|(instance, _ticket)| instance)
    }

    /// Whether the slot has a spare.
    pub(super) fn ready(&self) -> bool {
        self.spare.lock().unwrap().is_some()
    }

    /// Starts making a spare: `None` when the slot has one, one is being
    /// made, or the runtime has [`MAX_SPARES`] already. Otherwise the
    /// caller makes it and hands it to [`Making::fill`].
    pub(super) fn begin(&self, count: &Arc<SpareCount>) -> Option<Making<'_>> {
        if self.making.swap(true, Ordering::AcqRel) {
            return None;
        }
        // From here only this caller fills the slot; dropping `making`
        // lets the next one try.
        let mut making = Making {
            slot: self,
            ticket: None,
        };
        if self.ready() {
            return None;
        }
        making.ticket = Some(count.take()?);
        Some(making)
    }
}

/// A spare being made; dropped without [`Making::fill`], nothing is kept.
pub(super) struct Making<'a> {
    slot: &'a SpareSlot,
    ticket: Option<Ticket>,
}

impl Making<'_> {
    /// Keeps `instance` as the slot's spare.
    pub(super) fn fill(mut self, instance: AdapterInstance) {
        let ticket = self.ticket.take().expect("filled once");
        *self.slot.spare.lock().unwrap() = Some((instance, ticket));
    }
}

impl Drop for Making<'_> {
    fn drop(&mut self) {
        self.slot.making.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_keeps_at_most_max_spares() {
        let count = Arc::new(SpareCount::default());
        let mut tickets: Vec<Ticket> = (0..MAX_SPARES).map(|_| count.take().unwrap()).collect();
        assert!(count.take().is_none(), "one more than MAX_SPARES");
        tickets.pop();
        assert!(count.take().is_some(), "a dropped ticket is given back");
    }
}
