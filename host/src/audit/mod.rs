//! The audit trail: what the host did, for whom, and on whose behalf.
//!
//! Every door and layer hands its entries to one [`Audit`] recorder:
//!
//! - the data plane, one entry per adapter call (`call`) and per write's
//!   decision (`write`: accepted, refused by which rule, dry run);
//! - the runtime, one per request sent to the system for an adapter
//!   (`upstream`: method, origin and path, status, duration, sizes; the
//!   query string never, bodies only when the operator keeps the
//!   connection's bodies, [`redact`]ed) and per use of a connection's secret
//!   (`credential`: which secret and what for, never its value);
//! - the HTTP API, the dashboard and the connect page, one per operator or
//!   customer action (`admin`), and the MCP door one per tool call (`mcp`).
//!
//! Entries of one request carry its [`Trail`]: the request id, connection,
//! token id and actor, so that `GET /v1/audit?request_id=` shows a write
//! whole. A request that asks for its exchanges with the system in its
//! answer (`Prefer: include-upstream`) keeps them in its trail too
//! ([`upstream`]): for the answer only, never recorded. Recording never waits on the database: entries queue in memory
//! and one task appends them in batches, one statement per batch of up to
//! 1,000 and one wake-up of the task per 100 ms under load (so a read costs
//! no statement and no wake-up of its own). When the
//! queue is full (the database far behind), entries are dropped, counted,
//! and the count logged: the trail is evidence, but not at the price of
//! the calls it records. A second task deletes entries past the retention.

pub mod redact;
pub mod upstream;

pub use crate::storage::audit::{AuditKind, AuditOutcome};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::storage::audit::{AuditEntry, AuditFilter, AuditPage, micros};
use crate::storage::{StorageError, Store};
use crate::timing::Timing;

/// Entries waiting in memory for the writer.
const QUEUE: usize = 16_384;
/// Entries the writer appends in one statement, at most.
const BATCH: usize = 1_000;
/// How long the writer lets a batch gather: entries reach the database at
/// most this much later than they happen.
const LINGER: Duration = Duration::from_millis(100);
/// How often the purge runs, at most.
const MAX_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// How long entries are kept by default: 90 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// The operator's settings of the trail.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whether entries are recorded (`--audit-log`).
    pub enabled: bool,
    /// How long entries are kept (`--audit-retention`); forever when
    /// `None`.
    pub retention: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            retention: Some(DEFAULT_RETENTION),
        }
    }
}

/// The recorder, and the trail's reader; cheap to share.
pub struct Audit {
    /// `None` when the operator turned the trail off.
    queue: Option<mpsc::Sender<AuditEntry>>,
    dropped: AtomicU64,
    /// Where the trail is kept (`None` for a recorder of a tool that keeps
    /// nothing).
    store: Option<Arc<dyn Store>>,
}

impl Audit {
    /// A recorder that keeps nothing, for tools that call adapters outside
    /// a host.
    pub fn off() -> Arc<Self> {
        Arc::new(Audit {
            queue: None,
            dropped: AtomicU64::new(0),
            store: None,
        })
    }

    /// The trail kept in `store`: starts the writer and, with a retention,
    /// the purge (which runs even while recording is off, so that entries
    /// kept before still expire). Both end when the last handle is dropped.
    pub fn start(store: Arc<dyn Store>, settings: Settings) -> Arc<Self> {
        let queue = settings.enabled.then(|| writer(store.clone()));
        let audit = Arc::new(Audit {
            queue,
            dropped: AtomicU64::new(0),
            store: Some(store.clone()),
        });
        if let Some(retention) = settings.retention {
            tokio::spawn(purge(Arc::downgrade(&audit), store, retention));
        }
        audit
    }

    /// Up to `limit` entries that match `filter`, from `page`.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn read(
        &self,
        filter: &AuditFilter,
        page: AuditPage,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        match &self.store {
            Some(store) => store.audit(filter, page, limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// Whether entries are kept.
    pub fn on(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `entry` for the trail, without waiting.
    pub fn record(&self, entry: AuditEntry) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(entry).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::error!(
                    dropped,
                    "audit entries dropped: the database does not keep up with the trail"
                );
            }
        }
    }

    /// Entries dropped since the start because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records an operator's or a customer's action.
    pub fn admin(&self, by: &Actor<'_>, action: &str, connection_id: Option<&str>, detail: Value) {
        if !self.on() {
            return;
        }
        self.record(AuditEntry {
            seq: 0,
            at_us: micros(SystemTime::now()),
            kind: AuditKind::Admin,
            outcome: AuditOutcome::Ok,
            request_id: by.request_id.to_string(),
            connection_id: connection_id.map(str::to_string),
            token_id: None,
            actor: by.name.to_string(),
            action: action.to_string(),
            detail,
        });
    }
}

/// The queue of entries, and the task that appends them to `store` in
/// batches until the queue's last sender is dropped.
///
/// The task waits for an entry only while the queue is empty: then it
/// sleeps for [`LINGER`] without listening, and takes what queued
/// meanwhile. A recorded entry therefore wakes it at most once per batch,
/// not once per entry: on a quiet host, a wake-up per entry is a thread
/// woken on another core, several times per request (see
/// docs/benchmarks.md).
fn writer(store: Arc<dyn Store>) -> mpsc::Sender<AuditEntry> {
    let (queue, mut receiver) = mpsc::channel::<AuditEntry>(QUEUE);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while receiver.recv_many(&mut batch, BATCH).await > 0 {
            tokio::time::sleep(LINGER).await;
            loop {
                while batch.len() < BATCH {
                    match receiver.try_recv() {
                        Ok(entry) => batch.push(entry),
                        Err(_) => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
                if let Err(e) = store.append_audit(&batch).await {
                    tracing::error!(error = %e, lost = batch.len(), "could not append to the audit trail");
                }
                batch.clear();
            }
        }
    });
    queue
}

/// Who acts outside the data plane, on which request: `admin` (the API
/// key), `dashboard`, `connect-link:<session>`.
pub struct Actor<'a> {
    pub name: &'a str,
    pub request_id: &'a str,
}

/// Deletes entries past `retention`, every tenth of it (at least every
/// second, at most hourly), while the recorder lives.
async fn purge(audit: std::sync::Weak<Audit>, store: Arc<dyn Store>, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_secs(1), MAX_PURGE_INTERVAL);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if audit.strong_count() == 0 {
            return;
        }
        let Some(before) = SystemTime::now().checked_sub(retention) else {
            continue;
        };
        match store.purge_audit(before).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "audit entries past the retention deleted"),
            Err(e) => tracing::warn!(error = %e, "could not purge the audit trail"),
        }
    }
}

/// What every entry of one data-plane request carries, and the request's
/// timings (`Server-Timing`).
#[derive(Debug, Default)]
pub struct Trail {
    pub request_id: String,
    pub connection_id: String,
    /// The token the request carried (its id), if any.
    pub token_id: Option<String>,
    /// `token:<id>`, or `sync` for a sync run.
    pub actor: String,
    /// The operator keeps this connection's upstream bodies (redacted).
    pub bodies: bool,
    pub timing: Arc<Timing>,
    /// The request's exchanges with the system, kept for its answer: set
    /// only when the request asks (`Prefer: include-upstream`).
    pub upstream: OnceLock<upstream::Capture>,
}

impl Trail {
    /// An entry of this request, now.
    pub fn entry(
        &self,
        kind: AuditKind,
        outcome: AuditOutcome,
        action: String,
        detail: Value,
    ) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at_us: micros(SystemTime::now()),
            kind,
            outcome,
            request_id: self.request_id.clone(),
            connection_id: Some(self.connection_id.clone()),
            token_id: self.token_id.clone(),
            actor: self.actor.clone(),
            action,
            detail,
        }
    }
}
