//! The data plane: one call of an adapter for a connection, the same for
//! every caller. The HTTP API, the MCP door and sync runs, the layers
//! above, all go through [`DataPlane`]; nothing else calls adapters for
//! connections. A door that shows a write's plan before sending it keeps
//! its confirm tokens here too ([`confirmations`]).
//!
//! A call, in order:
//!
//! 1. resolve the connection's adapter and the entity, and check that the
//!    operation is declared and that the account holds its permissions;
//! 2. for writes, the write rules ([`writes`]): field rules (a mapped field
//!    checked as the system's field it is, [`crate::rules::mapping`]), state
//!    locks, the idempotency key, the write budget;
//! 3. admission ([`admission`]): the connection's share of the host and its
//!    upstream gate, before an instance is taken;
//! 4. the call on a fresh instance, retried while the system answers 429; in
//!    a dry run ([`Mode::DryRun`]), the instance holds the requests that may
//!    change the system instead of sending them, and they are the answer;
//!    (each step a span of [`crate::telemetry::trace`]: instantiate, guest
//!    call);
//! 5. on failure, the error recorded on the connection (a rejected
//!    credential makes it require reauthorization);
//! 6. the records answered, through the connection's field mappings
//!    ([`mapped`]).
//!
//! Errors are [`DataError`]s, each with its stable code; the HTTP API maps
//! codes to statuses, a sync run records them.
//!
//! On a database other nodes share, [`notices`] keeps what this node
//! remembers (tokens, upstream slots) in step with them, so that a call
//! asks the database nothing it already knows.

pub mod admission;
mod confirmations;
mod error;
mod ids;
mod mapped;
pub mod notices;
pub mod passthrough;
pub mod retry;
mod writes;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tracing::Instrument;

pub use admission::Wait;
pub use error::DataError;
pub use writes::{Created, Written};

use crate::audit::{Audit, Trail};
use crate::connections::{Connection, Connections, LastError, OpenConnection};
use crate::manifest::{Entity, Operation};
use crate::registry::Registry;
pub use crate::runtime::Page;
use crate::runtime::{
    Adapter, CallError, HeldRequest, Lease, ListRequest, PassthroughRequest, PassthroughResponse,
};
use crate::storage::Store;
use crate::storage::audit::{AuditKind, AuditOutcome};
use crate::telemetry::trace::SPANS;
use crate::timing::{Part, Timing};
use admission::{Admission, Admitted, Refused};

/// The data plane's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Calls one connection may have admitted at once (running, or waiting
    /// for its upstream gate).
    pub max_calls_per_connection: u32,
    /// How long an API call may wait for its connection's upstream gate.
    pub queue_timeout: Duration,
    /// The operator's cap on writes per minute per connection, below the
    /// adapters' own.
    pub max_writes_per_minute: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_calls_per_connection: 32,
            queue_timeout: Duration::from_secs(30),
            max_writes_per_minute: None,
        }
    }
}

/// Who is calling: a connection ready for calls, the request its logs,
/// errors and audit entries carry (its [`Trail`]), and how it waits at the
/// connection's limits.
#[derive(Clone)]
pub struct Caller {
    pub open: Arc<OpenConnection>,
    pub trail: Arc<Trail>,
    pub wait: Wait,
}

impl Caller {
    /// The caller of `open`'s connection, for `actor` (and the token it
    /// used) on request `request_id`; its durations go to `timing`.
    pub fn new(
        open: Arc<OpenConnection>,
        request_id: String,
        (actor, token_id): (String, Option<String>),
        timing: Arc<Timing>,
        wait: Wait,
    ) -> Caller {
        let trail = Arc::new(Trail {
            request_id,
            connection_id: open.connection.id.clone(),
            token_id,
            actor,
            bodies: open.connection.audit_bodies,
            timing,
            upstream: Default::default(),
        });
        Caller { open, trail, wait }
    }

    /// The calling connection, as stored.
    pub fn connection(&self) -> &Connection {
        &self.open.connection
    }

    /// The request the call belongs to.
    pub fn request_id(&self) -> &str {
        &self.trail.request_id
    }

    /// Records an entry of this caller's request in `audit`.
    fn audit(
        &self,
        audit: &Audit,
        kind: AuditKind,
        outcome: AuditOutcome,
        action: String,
        detail: Value,
    ) {
        if audit.on() {
            audit.record(self.trail.entry(kind, outcome, action, detail));
        }
    }
}

/// Whether a write reaches the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The write is sent.
    Send,
    /// Every check and the adapter run, requests that only read are sent,
    /// and the first request that may change the system is held and
    /// answered instead (`Prefer: dry-run`). No idempotency key is claimed
    /// and no write is taken from the budget.
    DryRun,
}

/// One adapter operation, with its arguments.
enum Op<'a> {
    List(&'a ListRequest),
    Get(&'a str, &'a str),
    Create(&'a str, &'a str),
    Update(&'a str, &'a str, &'a str),
    Delete(&'a str, &'a str),
    Passthrough(&'a PassthroughRequest),
}

impl Op<'_> {
    /// The operation as the audit trail names it (`get vendor`), and the
    /// record it concerns.
    fn audited(&self) -> (String, Value) {
        match *self {
            Op::List(request) => (format!("list {}", request.entity), json!({})),
            Op::Get(entity, id) => (format!("get {entity}"), json!({"id": id})),
            Op::Create(entity, _) => (format!("create {entity}"), json!({})),
            Op::Update(entity, id, _) => (format!("update {entity}"), json!({"id": id})),
            Op::Delete(entity, id) => (format!("delete {entity}"), json!({"id": id})),
            Op::Passthrough(request) => (
                format!("passthrough {:?}", request.method).to_uppercase(),
                json!({"path": passthrough::without_query(&request.path)}),
            ),
        }
    }

    /// The operation's name, as a trace shows it.
    fn name(&self) -> &'static str {
        match self {
            Op::List(_) => "list",
            Op::Get(..) => "get",
            Op::Create(..) => "create",
            Op::Update(..) => "update",
            Op::Delete(..) => "delete",
            Op::Passthrough(_) => "passthrough",
        }
    }
}

/// What an operation answers.
enum Answer {
    Page(Page),
    Record(Box<RawValue>),
    Done,
    /// What a dry run held.
    Held(Vec<HeldRequest>),
    Passthrough(PassthroughResponse),
}

/// The one path from a connection to its adapter.
pub struct DataPlane {
    connections: Arc<Connections>,
    registry: Arc<Registry>,
    /// Write budgets, idempotency keys, confirmations.
    store: Arc<dyn Store>,
    admission: Admission,
    limits: Limits,
    /// This process among the nodes sharing the database (its slots' holder
    /// and its beats' sender).
    node: String,
    /// Where calls and write decisions are recorded.
    audit: Arc<Audit>,
}

impl DataPlane {
    /// The data plane over `connections` and the adapters of `registry`,
    /// keeping its own state (write budgets, idempotency keys,
    /// confirmations, and the call slots shared between nodes) in `store`,
    /// and recording calls and write decisions in `audit`.
    pub fn new(
        connections: Arc<Connections>,
        registry: Arc<Registry>,
        store: Arc<dyn Store>,
        limits: Limits,
        audit: Arc<Audit>,
    ) -> Self {
        let node = uuid::Uuid::new_v4().simple().to_string();
        let mut admission = Admission::new(limits.max_calls_per_connection, limits.queue_timeout);
        if store.shared() {
            admission = admission.shared(store.clone(), node.clone());
        }
        DataPlane {
            node,
            audit,
            admission,
            connections,
            registry,
            store,
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Calls admitted now, and of them those past their connection's gate
    /// ([`Admission::usage`]).
    pub fn calls(&self) -> (u64, u64) {
        self.admission.usage()
    }

    /// The adapter serving `connection`, which must declare `entity`.
    ///
    /// # Errors
    ///
    /// [`DataError::AdapterUnavailable`] or [`DataError::UnknownEntity`].
    pub fn resolve(&self, connection: &Connection, entity: &str) -> Result<Adapter, DataError> {
        let adapter = self.adapter_of(connection)?;
        if adapter.manifest().entity(entity).is_none() {
            return Err(DataError::UnknownEntity {
                adapter: adapter.id().to_string(),
                entity: entity.to_string(),
                entities: adapter
                    .manifest()
                    .entities
                    .iter()
                    .map(|e| e.name.clone())
                    .collect(),
            });
        }
        Ok(adapter)
    }

    /// The connection's adapter, as loaded now.
    fn adapter_of(&self, connection: &Connection) -> Result<Adapter, DataError> {
        let adapter = self
            .registry
            .get(&connection.adapter_id)
            .ok_or_else(|| DataError::AdapterUnavailable(connection.adapter_id.clone()))?;
        tracing::Span::current().record("adapter", adapter.id());
        Ok(adapter)
    }

    /// The writes per minute allowed to a connection of `adapter`: the
    /// manifest's, or the operator's lower cap.
    pub fn writes_per_minute(&self, adapter: &Adapter) -> Option<u32> {
        [
            adapter.manifest().limits.writes_per_minute,
            self.limits.max_writes_per_minute,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The adapter, after checking that it declares `operation` on `entity`
    /// and that the account holds its permissions.
    fn prepare(
        &self,
        connection: &Connection,
        entity: &str,
        operation: Operation,
    ) -> Result<Adapter, DataError> {
        let adapter = self.resolve(connection, entity)?;
        let declared = declared(&adapter, entity)
            .operations
            .iter()
            .find(|o| o.operation == operation)
            .ok_or_else(|| DataError::OperationNotSupported {
                adapter: adapter.id().to_string(),
                entity: entity.to_string(),
                operation,
            })?;
        let missing = connection.missing_permissions(&declared.permissions);
        if !missing.is_empty() {
            return Err(DataError::InsufficientPermissions {
                entity: entity.to_string(),
                operation,
                missing: missing.into_iter().cloned().collect(),
            });
        }
        Ok(adapter)
    }

    /// A page of records.
    ///
    /// # Errors
    ///
    /// - [`DataError::InvalidReference`] when the cursor is too long or
    ///   holds control characters;
    /// - [`DataError::AdapterUnavailable`], [`DataError::UnknownEntity`],
    ///   [`DataError::OperationNotSupported`] or
    ///   [`DataError::InsufficientPermissions`] when the connection's
    ///   adapter is not loaded, does not serve the entity or the operation
    ///   on it, or the account lacks the operation's permissions;
    /// - the errors of a call: [`DataError::TooManyRequests`] or
    ///   [`DataError::QueueTimeout`] at the connection's limits (for a
    ///   caller that does not wait, [`Wait::Refuse`]); [`DataError::Call`]
    ///   when the adapter call fails, after up to three tries more while
    ///   the system rate-limits (the failure is recorded on the
    ///   connection); [`DataError::Internal`] when the database failed.
    pub async fn list(&self, caller: &Caller, request: &ListRequest) -> Result<Page, DataError> {
        let page = self.list_unmapped(caller, request).await?;
        Ok(Page {
            records: self.mapped_records(caller.connection(), &request.entity, page.records)?,
            ..page
        })
    }

    /// A page of records as the system answers them, the connection's field
    /// mappings not applied: what a sync stores (its records are mapped
    /// when they are read, [`DataPlane::mapped_records`], so that a changed
    /// mapping needs no new sync).
    ///
    /// # Errors
    ///
    /// As [`DataPlane::list`].
    pub async fn list_unmapped(
        &self,
        caller: &Caller,
        request: &ListRequest,
    ) -> Result<Page, DataError> {
        if let Some(cursor) = &request.cursor {
            ids::check_cursor(cursor)?;
        }
        let adapter = self.prepare(caller.connection(), &request.entity, Operation::List)?;
        match self
            .call(caller, &adapter, Op::List(request), Mode::Send)
            .await?
        {
            Answer::Page(page) => Ok(page),
            _ => unreachable!("list answers a page"),
        }
    }

    /// One record.
    ///
    /// # Errors
    ///
    /// As [`DataPlane::list`], with [`DataError::InvalidReference`] for an
    /// `id` that is not a record id, rather than for a cursor.
    pub async fn get(
        &self,
        caller: &Caller,
        entity: &str,
        id: &str,
    ) -> Result<Box<RawValue>, DataError> {
        ids::check_record_id(id)?;
        let adapter = self.prepare(caller.connection(), entity, Operation::Get)?;
        let found = record(
            self.call(caller, &adapter, Op::Get(entity, id), Mode::Send)
                .await?,
        );
        self.mapped(caller.connection(), entity, found)
    }

    /// Calls `op` on a fresh instance, admitted at the connection's limits,
    /// again while the system answers 429 ([`retry::on_rate_limit`]). A
    /// failure is recorded on the connection; the call, in the audit trail.
    async fn call(
        &self,
        caller: &Caller,
        adapter: &Adapter,
        op: Op<'_>,
        mode: Mode,
    ) -> Result<Answer, DataError> {
        let started = Instant::now();
        let answer = match retry::on_rate_limit(|| self.call_once(caller, adapter, &op, mode)).await
        {
            Err(DataError::Call(error)) => Err(self.failed(caller, error).await),
            other => other,
        };
        if self.audit.on() {
            let (action, mut detail) = op.audited();
            detail["adapter"] = json!(adapter.id());
            detail["duration_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
            let outcome = match &answer {
                Ok(_) if mode == Mode::DryRun => AuditOutcome::DryRun,
                Ok(_) => AuditOutcome::Ok,
                Err(error) => {
                    detail["code"] = json!(error.code());
                    if matches!(error, DataError::Call(_)) {
                        AuditOutcome::Error
                    } else {
                        AuditOutcome::Refused
                    }
                }
            };
            caller.audit(&self.audit, AuditKind::Call, outcome, action, detail);
        }
        answer
    }

    /// One try: admission, then the call on a fresh instance.
    async fn call_once(
        &self,
        caller: &Caller,
        adapter: &Adapter,
        op: &Op<'_>,
        mode: Mode,
    ) -> Result<Answer, DataError> {
        let timing = &caller.trail.timing;
        let started = Instant::now();
        let mut admitted = self
            .admission
            .enter(
                &caller.connection().id,
                adapter.manifest().limits.max_concurrent_requests,
                caller.wait,
            )
            .await
            .map_err(|refused| match refused {
                Refused::ShareFull { limit } => DataError::TooManyRequests {
                    limit,
                    retry_after: Duration::from_secs(1),
                },
                Refused::GateTimeout {
                    concurrency,
                    waited,
                } => DataError::QueueTimeout {
                    concurrency,
                    waited,
                    retry_after: Duration::from_secs(1),
                },
                Refused::Storage(e) => DataError::Internal(e),
            })?;
        timing.add(Part::Admission, started.elapsed());
        let started = Instant::now();
        let mut instance = adapter
            .instantiate(caller.open.ctx.clone())
            .instrument(tracing::info_span!(target: SPANS, "instantiate"))
            .await?;
        timing.add(Part::Instantiate, started.elapsed());
        instance.trail(caller.trail.clone());
        if mode == Mode::DryRun {
            instance.dry_run();
        }
        let guest_call = tracing::info_span!(
            target: SPANS,
            "guest call",
            adapter = adapter.id(),
            operation = op.name(),
            dry_run = mode == Mode::DryRun,
        );
        let started = Instant::now();
        let answer = async {
            match *op {
                Op::List(request) => instance.list(request).await.map(Answer::Page),
                Op::Get(entity, id) => instance.get(entity, id).await.map(Answer::Record),
                Op::Create(entity, record) => instance
                    .create(entity, record.to_string())
                    .await
                    .map(Answer::Record),
                Op::Update(entity, id, patch) => instance
                    .update(entity, id, patch.to_string())
                    .await
                    .map(Answer::Record),
                Op::Delete(entity, id) => instance.delete(entity, id).await.map(|()| Answer::Done),
                Op::Passthrough(request) => {
                    instance.passthrough(request).await.map(Answer::Passthrough)
                }
            }
        }
        .instrument(guest_call)
        .await;
        timing.add(Part::Call, started.elapsed());
        admitted.free_upstream_slot().await;
        let answer = match (mode, answer) {
            // Stopped at a held request, or done without one: either way
            // nothing was changed, and the held requests are the answer.
            (Mode::DryRun, Ok(_) | Err(CallError::Held)) => {
                Ok(Answer::Held(instance.held().to_vec()))
            }
            (_, answer) => answer.map_err(DataError::from),
        };
        retire(adapter, instance, admitted);
        answer
    }

    /// Records a failed call on the connection (a rejected credential makes
    /// it require reauthorization) and answers its error.
    async fn failed(&self, caller: &Caller, error: CallError) -> DataError {
        let error = DataError::Call(error);
        let last = LastError {
            code: error.code().to_string(),
            message: error.to_string(),
            at: SystemTime::now(),
            request_id: caller.request_id().to_string(),
        };
        if let Err(e) = self
            .connections
            .request_failed(caller.connection(), last, error.credentials_rejected())
            .await
        {
            return DataError::Internal(e.to_string());
        }
        error
    }
}

/// Tears down a call's instance after its answer is on its way, and has
/// the adapter's next instance made: on a task of its own, which the worker
/// runs once the caller's task waits again (for the HTTP API, once the
/// response is written). Resetting the instance's slot and instantiating
/// the next one take about 13% of the host's CPU per request (the profile
/// in `docs/benchmarks.md`), which no caller needs to wait for. The
/// connection's permits go with the instance, so admission never counts a
/// slot the pool has not taken back.
fn retire(adapter: &Adapter, instance: Lease, admitted: Admitted) {
    let adapter = adapter.clone();
    tokio::spawn(async move {
        drop(instance);
        drop(admitted);
        adapter.make_spare().await;
    });
}

/// The declaration of `entity`, which [`DataPlane::resolve`] checked exists.
fn declared<'a>(adapter: &'a Adapter, entity: &str) -> &'a Entity {
    adapter
        .manifest()
        .entity(entity)
        .expect("resolve checked the entity")
}

fn record(answer: Answer) -> Box<RawValue> {
    match answer {
        Answer::Record(record) => record,
        _ => unreachable!("this operation answers a record"),
    }
}
