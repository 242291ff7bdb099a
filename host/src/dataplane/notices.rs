//! Following the other nodes on a shared database
//! ([`crate::storage::notices`]). One task per node hears every notice and
//! applies it, in the order the database delivers them:
//!
//! - a connection (or one of its tokens) changed: the connections forget
//!   what this node remembers of it;
//! - another node waits for one of a connection's upstream slots: admission
//!   gives back the slots this node keeps idle;
//! - this node's own beat came back: every change committed before it was
//!   sent has been applied, so what the node remembers is current as of
//!   then ([`Heard`]);
//! - the listener lost its connection and has a new one: everything
//!   remembered is forgotten.
//!
//! Beside it, the node sends a beat every [`BEAT`]. It uses what it
//! remembers without asking the database for at most [`STALENESS`] after
//! its last returned beat was sent; past that (a listener cut off, a
//! database too slow to echo beats), each request asks the database again
//! until beats return. So a change made on one node (a revoked token, a
//! disconnect) reaches the requests of every other node within
//! [`STALENESS`], and those of the node that made it at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::DataPlane;
use crate::storage::{Heard, Notice};

/// The longest a node uses what it remembers after the last moment it is
/// known to have heard every other node's changes.
pub const STALENESS: Duration = Duration::from_secs(1);

/// How often a node sends its beat.
const BEAT: Duration = Duration::from_millis(200);

/// The pause before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(1);

impl DataPlane {
    /// Hears the other nodes on a shared database until the returned task
    /// is aborted, telling `heard` how current this node is. Does nothing
    /// on a database no other node shares.
    pub fn follow_other_nodes(self: &Arc<Self>, heard: Arc<Heard>) -> tokio::task::JoinHandle<()> {
        let dataplane = self.clone();
        tokio::spawn(async move {
            let sent = Mutex::new(BTreeMap::new());
            tokio::select! {
                () = dataplane.listen(&heard, &sent) => {}
                () = dataplane.beat(&sent) => {}
            }
        })
    }

    /// Applies every notice, until the database turns out to have no
    /// listeners.
    async fn listen(self: &Arc<Self>, heard: &Heard, sent: &Mutex<BTreeMap<u64, Instant>>) {
        loop {
            let mut listener = match self.store.listen().await {
                Ok(Some(listener)) => listener,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other nodes' changes; asking the database on each request meanwhile");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            // What was remembered before listening may predate a change.
            self.connections.forget_all();
            loop {
                match listener.next().await {
                    Ok(Notice::ConnectionChanged(id)) => self.connections.changed(&id),
                    Ok(Notice::SlotWanted { from, connection }) if from != self.node => {
                        let dataplane = self.clone();
                        tokio::spawn(async move {
                            dataplane.admission.slot_wanted(&connection, &from).await;
                        });
                    }
                    Ok(Notice::SlotWanted { .. }) => {}
                    Ok(Notice::Beat { from, seq }) if from == self.node => {
                        let mut sent = sent.lock().unwrap();
                        if let Some(at) = sent.get(&seq).copied() {
                            heard.current_as_of(at);
                        }
                        sent.retain(|&s, _| s > seq);
                    }
                    Ok(Notice::Beat { .. }) => {}
                    Ok(Notice::Resumed) => {
                        tracing::info!("listening for other nodes' changes again");
                        heard.lost();
                        self.connections.forget_all();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the other nodes' changes; asking the database on each request until heard again");
                        heard.lost();
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        }
    }

    /// Sends this node's beat every [`BEAT`], noting when each was sent.
    async fn beat(&self, sent: &Mutex<BTreeMap<u64, Instant>>) {
        let mut every = tokio::time::interval(BEAT);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Said once when beats start failing, and once when they pass again.
        let mut failing = false;
        for seq in 0u64.. {
            every.tick().await;
            {
                // A beat sent longer ago than the staleness accepted could
                // no longer make anything current.
                let mut sent = sent.lock().unwrap();
                sent.retain(|_, at| at.elapsed() < STALENESS);
                sent.insert(seq, Instant::now());
            }
            let beat = Notice::Beat {
                from: self.node.clone(),
                seq,
            };
            match self.store.announce(&beat).await {
                Ok(()) if failing => {
                    tracing::info!("this node's beats reach the database again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    sent.lock().unwrap().remove(&seq);
                    if !failing {
                        tracing::warn!(error = %e, "cannot send this node's beat; asking the database on each request until it passes");
                        failing = true;
                    }
                }
            }
        }
    }
}
