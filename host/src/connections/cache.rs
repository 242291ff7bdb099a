//! The request path's memory of connections: the connection behind a token
//! hash, with its secrets already opened, so that a request with a known
//! token costs a hash-map lookup instead of a database query and a
//! decryption.
//!
//! Every change of a connection's status goes through
//! [`super::Connections`], which invalidates its entries before it answers,
//! so the very next request reads the new status. A lookup that raced with
//! an invalidation (it read the database before the change committed) does
//! not store what it read: entries carry the cache's generation, bumped by
//! every invalidation, and an insert of an older generation is dropped.
//!
//! On a database other nodes share, a change may come from any of them:
//! every change of a connection or token is announced to every node
//! ([`crate::storage::notices`]), which forgets that connection's entries
//! ([`TokenCache::invalidate`]), or all of them when it may have missed a
//! notice ([`TokenCache::forget_all`]). A remembered entry is used as it is
//! while the node is known to have heard every notice up to a moment at
//! most the accepted staleness ago; otherwise it is checked against the
//! database before use (`Connections::by_token`): one indexed read of the
//! token's revocation and its connection's status.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::tokens::Grant;
use super::{Connection, OpenConnection};

/// The most tokens remembered; past it the cache starts over (connections
/// are bounded by the credit pool, so this is a guard, not a policy).
const MAX_ENTRIES: usize = 100_000;

/// What a token leads to.
#[derive(Clone)]
pub enum TokenOwner {
    /// An active connection, ready for calls.
    Active(Arc<OpenConnection>),
    /// A connection that is not active: its token gets a 401 naming why.
    Inactive(Arc<Connection>),
}

impl TokenOwner {
    pub fn connection(&self) -> &Connection {
        match self {
            TokenOwner::Active(open) => &open.connection,
            TokenOwner::Inactive(connection) => connection,
        }
    }
}

/// A token: what it grants, and whose it is.
#[derive(Clone)]
pub struct Authenticated {
    pub grant: Arc<Grant>,
    pub owner: TokenOwner,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    by_token: HashMap<[u8; 32], Authenticated>,
}

#[derive(Default)]
pub(super) struct TokenCache {
    entries: RwLock<Entries>,
}

impl TokenCache {
    /// The current generation, to pass to [`TokenCache::insert`] after a
    /// database read.
    pub fn generation(&self) -> u64 {
        self.entries.read().unwrap().generation
    }

    pub fn get(&self, token_hash: &[u8; 32]) -> Option<Authenticated> {
        self.entries
            .read()
            .unwrap()
            .by_token
            .get(token_hash)
            .cloned()
    }

    /// Remembers `owner`, unless an invalidation happened since `generation`
    /// was read (what was read may predate it).
    pub fn insert(&self, generation: u64, token_hash: [u8; 32], entry: Authenticated) {
        let mut entries = self.entries.write().unwrap();
        if entries.generation != generation {
            return;
        }
        if entries.by_token.len() >= MAX_ENTRIES {
            entries.by_token.clear();
        }
        entries.by_token.insert(token_hash, entry);
    }

    /// Forgets every token.
    pub fn forget_all(&self) {
        let mut entries = self.entries.write().unwrap();
        entries.generation += 1;
        entries.by_token.clear();
    }

    /// Forgets every token of `connection`.
    pub fn invalidate(&self, connection: &str) {
        let mut entries = self.entries.write().unwrap();
        entries.generation += 1;
        entries
            .by_token
            .retain(|_, entry| entry.owner.connection().id != connection);
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::connections::Status;
    use crate::connections::tokens::Scopes;

    fn connection(id: &str) -> Authenticated {
        let owner = TokenOwner::Inactive(Arc::new(Connection {
            id: id.into(),
            adapter_id: "example".into(),
            adapter_version: "1.0.0".into(),
            status: Status::Disconnected,
            config: Default::default(),
            credentials: vec![],
            account_id: String::new(),
            account_name: String::new(),
            permissions: vec![],
            custom_fields: vec![],
            status_reason: None,
            status_changed_at: SystemTime::now(),
            last_error: None,
            created_at: SystemTime::now(),
            disconnected_at: None,
            audit_bodies: false,
            field_mappings: vec![],
        }));
        let grant = Arc::new(Grant {
            token_id: format!("tok_{id}"),
            scopes: Scopes::full(),
            expires_at: None,
            revoked: false,
        });
        Authenticated { grant, owner }
    }

    #[test]
    fn invalidation_forgets_the_connection_and_refuses_older_reads() {
        let cache = TokenCache::default();
        let before = cache.generation();
        cache.insert(before, [1; 32], connection("a"));
        cache.insert(before, [2; 32], connection("b"));
        assert!(cache.get(&[1; 32]).is_some());

        cache.invalidate("a");
        assert!(cache.get(&[1; 32]).is_none(), "a is forgotten");
        assert!(cache.get(&[2; 32]).is_some(), "b is kept");

        // A read that started before the invalidation is not remembered.
        cache.insert(before, [1; 32], connection("a"));
        assert!(cache.get(&[1; 32]).is_none());
        cache.insert(cache.generation(), [1; 32], connection("a"));
        assert!(cache.get(&[1; 32]).is_some());

        let before = cache.generation();
        cache.forget_all();
        assert!(cache.get(&[1; 32]).is_none() && cache.get(&[2; 32]).is_none());
        cache.insert(before, [1; 32], connection("a"));
        assert!(
            cache.get(&[1; 32]).is_none(),
            "a read from before is not kept"
        );
    }
}
