//! What one call's [`Store`](wasmtime::Store) holds: who the call is for,
//! what it may reach, and its limits.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;

use super::Services;
use super::error::CallError;
use crate::outbound::AllowList;

/// A connection's secret config values. They are used by the host on the
/// adapter's behalf and never cross into the sandbox.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(BTreeMap<String, String>);

impl Secrets {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Secrets(values)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every secret value, for masking them out of what adapters read.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|k| format!("{k}: <redacted>")))
            .finish()
    }
}

/// Who a call is made for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    pub connection_id: String,
    /// Non-secret config values, which the adapter sees.
    pub config: BTreeMap<String, String>,
    pub secrets: Secrets,
}

/// The error a call stops with when its deadline passes.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub(super) struct DeadlineExceeded;

/// The error a dry run stops the call with when it holds a request.
#[derive(Debug, thiserror::Error)]
#[error("a dry run holds requests that may change the system")]
pub(super) struct Held;

/// The error a call stops with when it grows memory past the limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {0} bytes exceeded")]
pub(super) struct MemoryLimitExceeded(pub usize);

/// The data of one call's store.
pub struct HostState {
    pub(super) adapter_id: Arc<str>,
    pub(super) ctx: Arc<CallContext>,
    pub(super) allow: AllowList,
    /// The config fields the manifest declares as private keys: the only
    /// secrets `sign-jwt` signs with, and never sent in a header.
    pub(super) private_keys: Arc<[String]>,
    /// The instance acts for no connection: it is being instantiated, or
    /// it describes the adapter. No import does anything (a manifest is
    /// data, and there is no connection to act for).
    pub(super) describing: bool,
    /// Lines the adapter logged, and those dropped past the limit.
    pub(super) log_lines: u32,
    pub(super) logs_dropped: u64,
    pub(super) services: Arc<Services>,
    pub(super) memory_limit: usize,
    /// The bytes of linear memory the instance has: the largest size any
    /// of its memories was given, at instantiation or by a grow.
    pub(super) memory: usize,
    /// When the current call must end; checked at every epoch tick.
    pub(super) deadline: Instant,
    /// The longest any one outbound request may take.
    pub(super) http_timeout: Duration,
    /// Why the host denied an outbound request of the current call, the
    /// first time it did.
    pub(super) denied: Option<String>,
    /// A dry run: requests that may change the system are held, not sent.
    pub(super) dry_run: bool,
    /// The call relays a client's request (`passthrough`): requests to the
    /// connection's own origins must stay under its base URL's path.
    pub(super) passthrough: bool,
    /// The requests a dry run held.
    pub(super) held: Vec<super::HeldRequest>,
    /// Who this call is to the kv store (which fills a missing key for one
    /// call at a time).
    pub(super) call_id: String,
    /// The call missed a kv key, so it may be filling it.
    pub(super) filling: bool,
    /// The request the calls belong to: their upstream requests and
    /// credential uses go to its audit trail, their waits to its timing.
    pub(super) trail: Option<Arc<crate::audit::Trail>>,
}

impl Drop for HostState {
    fn drop(&mut self) {
        if self.logs_dropped > 0 {
            tracing::warn!(
                adapter = &*self.adapter_id,
                connection = %self.ctx.connection_id,
                dropped = self.logs_dropped,
                "the adapter logged more lines than a call may; the rest were dropped"
            );
        }
        self.release_fills();
    }
}

impl HostState {
    /// Starts another call on this instance (a reused one): the fills of
    /// the call before end, and the kv store knows this one by a new id.
    pub(super) fn new_call(&mut self) {
        self.release_fills();
        self.call_id = uuid::Uuid::now_v7().to_string();
    }

    /// Ends the kv fills this call may still hold (in the background).
    fn release_fills(&mut self) {
        if !std::mem::take(&mut self.filling) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (kv, connection, call) = (
                self.services.kv.clone(),
                self.ctx.connection_id.clone(),
                self.call_id.clone(),
            );
            runtime.spawn(async move { kv.release(&connection, &call).await });
        }
    }

    /// How long until the deadline.
    pub(super) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            // An error, not `Ok(false)`: a Rust guest would abort on a failed
            // grow anyway, and the typed error tells the operator why.
            return Err(MemoryLimitExceeded(self.memory_limit).into());
        }
        self.memory = self.memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Turns a wasmtime error from a call into a [`CallError`].
pub(super) fn classify(error: wasmtime::Error, timeout: Duration) -> CallError {
    if error.downcast_ref::<DeadlineExceeded>().is_some() {
        CallError::DeadlineExceeded(timeout)
    } else if let Some(MemoryLimitExceeded(limit)) = error.downcast_ref::<MemoryLimitExceeded>() {
        CallError::MemoryLimitExceeded(*limit)
    } else if error.downcast_ref::<Held>().is_some() {
        CallError::Held
    } else if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        CallError::Busy
    } else {
        // The client learns why the adapter stopped; only the operator's
        // log gets where (wasmtime's backtrace of the guest's functions).
        tracing::warn!(error = format!("{error:#}"), "an adapter call trapped");
        let reason = match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => error.root_cause().to_string(),
        };
        CallError::Trap(reason)
    }
}
