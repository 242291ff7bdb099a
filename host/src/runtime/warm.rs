//! Warm instances: an adapter's instances kept between calls of one
//! connection, for adapters whose instantiation costs milliseconds.
//!
//! The host's model is a fresh instance per call. A component that embeds
//! an interpreter (a Python adapter built by componentize-py is 18 MB, 38
//! core modules) costs about 4 ms to instantiate and warm up, against
//! about 0.1 ms for a Rust adapter; for those the runtime's
//! [`InstanceReuse`] policy keeps instances warm, within these bounds:
//!
//! - an instance serves one connection only, with the config and secrets
//!   it was made with: it is never handed to another connection, nor to the
//!   same connection after its config or credentials changed;
//! - it is reused only after a call that finished cleanly (a result or a
//!   typed error); a trap, a timeout, an invalid result, a dry run or a
//!   call abandoned half-way retires it;
//! - it serves at most [`MAX_CALLS`] calls and waits at most [`IDLE_FOR`]
//!   between two; at most [`MAX_IDLE`] wait per adapter version, and no more
//!   per connection than its adapter's `max-concurrent-requests`;
//! - swapping the adapter's version drops them with the old version.
//!
//! What a warm instance keeps between calls is its linear memory: for
//! Python, the interpreter and imported modules, and any module-level
//! global the adapter writes (the SDK makes a new adapter object per call).
//! Per-call limits (deadline, log lines, dry-run state) start afresh.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{AdapterInstance, CallContext};

/// The most idle instances kept per adapter version.
pub const MAX_IDLE: usize = 16;
/// How long an idle instance is kept.
pub const IDLE_FOR: Duration = Duration::from_secs(60);
/// The most calls one instance serves.
pub const MAX_CALLS: u32 = 1000;

/// Components at least this large get warm instances under
/// [`InstanceReuse::Auto`]: an embedded interpreter (Python's is 18 MB)
/// rather than compiled code (the Rust adapters are about 0.2 MB).
pub const AUTO_ABOVE_BYTES: usize = 4 << 20;

/// When an adapter's instances are reused between calls of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InstanceReuse {
    /// A fresh instance for every call.
    Never,
    /// Reuse for components of [`AUTO_ABOVE_BYTES`] or more (embedded
    /// interpreters); a fresh instance per call for the others.
    #[default]
    Auto,
    /// Reuse for every adapter.
    Always,
}

impl InstanceReuse {
    /// Whether a component of `bytes` bytes gets warm instances.
    pub fn applies_to(self, bytes: usize) -> bool {
        match self {
            InstanceReuse::Never => false,
            InstanceReuse::Auto => bytes >= AUTO_ABOVE_BYTES,
            InstanceReuse::Always => true,
        }
    }
}

struct Idle {
    instance: AdapterInstance,
    since: Instant,
}

/// The idle instances of one adapter version.
pub(super) struct WarmPool {
    idle: Mutex<Vec<Idle>>,
    per_connection: usize,
}

impl WarmPool {
    pub(super) fn new(per_connection: u32) -> Self {
        WarmPool {
            idle: Mutex::new(Vec::new()),
            per_connection: (per_connection as usize).clamp(1, MAX_IDLE),
        }
    }

    /// An idle instance made for exactly `ctx`, the most recently used.
    pub(super) fn take(&self, ctx: &CallContext) -> Option<AdapterInstance> {
        let mut expired = Vec::new();
        let taken = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            expired.extend(idle.extract_if(.., |i| now - i.since > IDLE_FOR));
            idle.iter()
                .rposition(|i| *i.instance.ctx == *ctx)
                .map(|at| idle.remove(at).instance)
        };
        // Dropping a store resets its memory: not under the lock.
        drop(expired);
        taken
    }

    /// Keeps `instance` for the next call of its connection, if it may
    /// serve one; drops it otherwise, and drops the oldest idle instances
    /// past the bounds.
    pub(super) fn put(&self, instance: AdapterInstance) {
        if !instance.reusable() {
            return;
        }
        let mut dropped = Vec::new();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let same = idle
                .iter()
                .filter(|i| i.instance.ctx.connection_id == instance.ctx.connection_id)
                .count();
            if same >= self.per_connection {
                let oldest = idle
                    .iter()
                    .position(|i| i.instance.ctx.connection_id == instance.ctx.connection_id);
                dropped.extend(oldest.map(|at| idle.remove(at)));
            }
            if idle.len() >= MAX_IDLE {
                dropped.push(idle.remove(0));
            }
            idle.push(Idle {
                instance,
                since: Instant::now(),
            });
        }
        drop(dropped);
    }
}

/// The instance a call runs on: fresh, or taken from its adapter's warm
/// pool, to which it returns when the call is done (if it may).
pub struct Lease {
    instance: Option<AdapterInstance>,
    pool: Option<Arc<WarmPool>>,
}

impl Lease {
    pub(super) fn new(instance: AdapterInstance, pool: Option<Arc<WarmPool>>) -> Self {
        Lease {
            instance: Some(instance),
            pool,
        }
    }
}

impl std::ops::Deref for Lease {
    type Target = AdapterInstance;
    fn deref(&self) -> &AdapterInstance {
        self.instance
            .as_ref()
            .expect("a lease holds its instance until dropped")
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut AdapterInstance {
        self.instance
            .as_mut()
            .expect("a lease holds its instance until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (Some(pool), Some(instance)) = (&self.pool, self.instance.take()) {
            pool.put(instance);
        }
    }
}
