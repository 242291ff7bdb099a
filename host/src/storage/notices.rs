//! What the nodes sharing a database tell each other through it.
//!
//! A node remembers what its requests need (a token's connection, the
//! upstream slots it holds) instead of asking the database on every
//! request. On a database other nodes share, any of them may change what
//! is remembered, so every node listens for **notices** on one channel
//! ([`NoticeStorage::listen`]):
//!
//! - [`Notice::ConnectionChanged`]: a connection's status, config or
//!   credentials changed, or one of its tokens was revoked, changed or
//!   deleted. The database sends these itself (triggers on the two tables,
//!   `migrations/postgres/0005_notices.sql`) when the change commits,
//!   whichever node or tool made it.
//! - [`Notice::SlotWanted`]: a node waits for one of a connection's upstream
//!   slots, which other nodes may hold idle.
//! - [`Notice::Beat`]: each node's own beat, sent every few hundred
//!   milliseconds. The channel delivers notices in the order their
//!   transactions committed, so when a node's beat comes back, every change
//!   committed before the beat was sent has been delivered to it, and
//!   applied (one task applies them in order). [`Heard`] keeps that moment:
//!   what a node remembers is known to be current as of it.
//! - [`Notice::Resumed`]: the listener lost its connection and has a new
//!   one; notices of the gap are lost, so everything remembered is stale.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::Result;

/// One notice on the shared channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The connection `0` or one of its tokens changed.
    ConnectionChanged(String),
    /// The node `from` waits for one of `connection`'s upstream slots.
    SlotWanted { from: String, connection: String },
    /// The node `from`'s beat number `seq`.
    Beat { from: String, seq: u64 },
    /// The listener reconnected: notices sent meanwhile were lost. (A
    /// listener's own word; never sent.)
    Resumed,
}

impl Notice {
    /// The notice as the channel carries it.
    pub fn payload(&self) -> String {
        match self {
            Notice::ConnectionChanged(id) => format!("c:{id}"),
            Notice::SlotWanted { from, connection } => format!("w:{from}:{connection}"),
            Notice::Beat { from, seq } => format!("b:{from}:{seq}"),
            Notice::Resumed => "r:".into(),
        }
    }

    /// The notice a payload carries, `None` for one this host does not
    /// know (a newer node's).
    pub fn parse(payload: &str) -> Option<Notice> {
        let (kind, rest) = payload.split_once(':')?;
        Some(match kind {
            "c" => Notice::ConnectionChanged(rest.to_string()),
            "w" => {
                let (from, connection) = rest.split_once(':')?;
                Notice::SlotWanted {
                    from: from.to_string(),
                    connection: connection.to_string(),
                }
            }
            "b" => {
                let (from, seq) = rest.split_once(':')?;
                Notice::Beat {
                    from: from.to_string(),
                    seq: seq.parse().ok()?,
                }
            }
            _ => return None,
        })
    }
}

/// A node's ear on the channel.
#[async_trait]
pub trait NoticeListener: Send {
    /// The next notice, waiting for it. After an error, the next call
    /// tries to reconnect (and answers [`Notice::Resumed`] when it did).
    async fn next(&mut self) -> Result<Notice>;
}

#[async_trait]
pub trait NoticeStorage: Send + Sync + 'static {
    /// Starts listening to every node's notices; `None` when no other node
    /// can share this database (then there is nothing to hear).
    async fn listen(&self) -> Result<Option<Box<dyn NoticeListener>>>;
    /// Sends `notice` to every node listening, this one included.
    async fn announce(&self, notice: &Notice) -> Result<()>;
}

/// Until when what a node remembers is known to be current: the moment its
/// latest returned beat was sent, plus the staleness the node accepts.
#[derive(Debug)]
pub struct Heard {
    accepted: Duration,
    until: Mutex<Option<Instant>>,
}

impl Heard {
    /// A node that accepts what it remembers for at most `accepted` after
    /// the last moment it is known to be current.
    pub fn new(accepted: Duration) -> Self {
        Heard {
            accepted,
            until: Mutex::new(None),
        }
    }

    /// Everything committed before `sent` has been applied.
    pub fn current_as_of(&self, sent: Instant) {
        let mut until = self.until.lock().unwrap();
        let new = sent + self.accepted;
        if until.is_none_or(|u| u < new) {
            *until = Some(new);
        }
    }

    /// Nothing is known to be current any more (the listener lost notices,
    /// or stopped).
    pub fn lost(&self) {
        *self.until.lock().unwrap() = None;
    }

    /// Whether what was remembered may be used at `now` without asking the
    /// database.
    pub fn current(&self, now: Instant) -> bool {
        self.until.lock().unwrap().is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_their_payload() {
        for notice in [
            Notice::ConnectionChanged("conn_1".into()),
            Notice::SlotWanted {
                from: "n1".into(),
                connection: "conn_2".into(),
            },
            Notice::Beat {
                from: "n1".into(),
                seq: 42,
            },
        ] {
            assert_eq!(Notice::parse(&notice.payload()), Some(notice));
        }
        assert_eq!(Notice::parse("z:new"), None);
        assert_eq!(Notice::parse("b:n1:x"), None);
    }

    #[test]
    fn heard_is_current_for_the_accepted_time_after_a_beat_was_sent() {
        let heard = Heard::new(Duration::from_secs(1));
        let t = Instant::now();
        assert!(!heard.current(t), "nothing heard yet");
        heard.current_as_of(t);
        assert!(heard.current(t + Duration::from_millis(999)));
        assert!(!heard.current(t + Duration::from_secs(1)));
        // An older beat coming back late does not move it back.
        heard.current_as_of(t - Duration::from_millis(500));
        assert!(heard.current(t + Duration::from_millis(900)));
        heard.lost();
        assert!(!heard.current(t));
    }
}
