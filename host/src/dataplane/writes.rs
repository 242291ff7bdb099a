//! The write path: creates, updates and deletes.
//!
//! Before the system is called, a write passes, in order: the permission
//! check ([`DataPlane::prepare`]), the field rules ([`crate::rules::fields`]),
//! the state locks ([`crate::rules::state`], which read the record first
//! only when a lock can apply), the idempotency key (creates), and the
//! connection's write budget (a [`crate::rate_limit`] bucket kept in the
//! database). A write refused by
//! any of them never reaches the system.
//!
//! A dry run ([`Mode::DryRun`]) passes the same checks (the budget is
//! checked, not taken; no idempotency key is claimed or replayed) and runs
//! the adapter, which reads what it needs; its answer is the first request
//! that would have changed the system, held instead of sent.

use std::time::{Duration, Instant, SystemTime};

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::{Answer, Caller, DataError, DataPlane, Mode, Op, declared, record};
use crate::connections::Connection;
use crate::connections::mappings::account_fields;
use crate::manifest::Operation;
use crate::rules::fields::{Schema, Write, check};
use crate::rules::mapping::{self, Writes};
use crate::rules::state;
use crate::runtime::{Adapter, HeldRequest};
use crate::storage::IdempotencyClaim;
use crate::storage::audit::{AuditKind, AuditOutcome};
use crate::telemetry::trace::SPANS;
use crate::timing::Part;

/// How long an idempotency key is remembered.
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// What a create answered.
#[derive(Debug)]
pub struct Created {
    /// The HTTP status of the answer (201, or what a replayed answer had).
    pub status: u16,
    pub record: Box<RawValue>,
    /// The answer is the stored one of an earlier request with the same
    /// idempotency key.
    pub replayed: bool,
}

/// What a write answered: its result, or in a dry run the requests held.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    DryRun(Vec<HeldRequest>),
}

fn held<T>(answer: Answer) -> Written<T> {
    match answer {
        Answer::Held(requests) => Written::DryRun(requests),
        _ => unreachable!("a dry run answers what it held"),
    }
}

fn object(body: Value) -> Result<Map<String, Value>, DataError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(DataError::NotAnObject),
    }
}

/// Checks the field rules, through the connection's mappings of `entity`:
/// mapped fields move to their sources first (`body` is left as the system
/// gets it), and what they break is reported under their mapped names.
/// Every violation comes back in one error.
fn check_fields(
    adapter: &Adapter,
    connection: &Connection,
    entity: &str,
    body: &mut Map<String, Value>,
    write: Write,
) -> Result<(), DataError> {
    let _span = tracing::info_span!(target: SPANS, "rule check", entity).entered();
    let refused = |violations| DataError::FieldRules {
        entity: entity.to_string(),
        violations,
    };
    let extra = account_fields(connection, entity);
    let declared = declared(adapter, entity);
    let resolved = mapping::resolve(&connection.field_mappings, declared, &extra);
    let writes = Writes::new(&resolved);
    let renames = writes.translate(body).map_err(refused)?;
    let mut violations = check(&Schema::new(declared, &extra), body, write);
    if violations.is_empty() {
        Ok(())
    } else {
        renames.apply(&mut violations);
        Err(refused(violations))
    }
}

impl DataPlane {
    /// Reads the record and checks the state locks, when one can apply.
    async fn check_state(
        &self,
        caller: &Caller,
        adapter: &Adapter,
        (entity, id): (&str, &str),
        operation: Operation,
        patch: Option<&Map<String, Value>>,
    ) -> Result<(), DataError> {
        let declared = declared(adapter, entity);
        if !state::may_lock(declared, operation) {
            return Ok(());
        }
        let current = record(
            self.call(caller, adapter, Op::Get(entity, id), Mode::Send)
                .await?,
        );
        let current: Value =
            serde_json::from_str(current.get()).map_err(|e| DataError::Internal(e.to_string()))?;
        state::check(declared, &current, operation, patch).map_err(|mut locked| {
            // Named as the caller wrote them.
            let mappings = &caller.connection().field_mappings;
            for field in &mut locked.locked_fields {
                *field = mapping::shown_as(mappings, entity, field).to_string();
            }
            DataError::StateLocked(locked)
        })
    }

    /// Takes one write from the connection's budget, which the database
    /// keeps (so that it holds across nodes and restarts); a dry run only
    /// checks that one is there.
    pub(super) async fn take_write(
        &self,
        adapter: &Adapter,
        caller: &Caller,
        mode: Mode,
    ) -> Result<(), DataError> {
        let (connection, timing) = (caller.connection(), &caller.trail.timing);
        let Some(per_minute) = self.writes_per_minute(adapter) else {
            return Ok(());
        };
        let cost = match mode {
            Mode::Send => 1.0,
            Mode::DryRun => 0.0,
        };
        let started = Instant::now();
        let spent = self
            .store
            .spend_budget(&connection.id, per_minute, SystemTime::now(), cost)
            .instrument(tracing::info_span!(target: SPANS, "write budget"))
            .await;
        timing.add(Part::Db, started.elapsed());
        spent?
            .map(drop)
            .map_err(|retry_after| DataError::WriteBudget {
                per_minute,
                retry_after,
            })
    }

    /// The write, run as a dry run once its checks passed.
    async fn dry_run<T>(
        &self,
        caller: &Caller,
        adapter: &Adapter,
        op: Op<'_>,
    ) -> Result<Written<T>, DataError> {
        self.take_write(adapter, caller, Mode::DryRun).await?;
        self.call(caller, adapter, op, Mode::DryRun).await.map(held)
    }

    /// Creates a record (with its children). With an idempotency `key`, the
    /// first answer of the key and body is kept for 24 hours and answered
    /// again instead of creating twice.
    ///
    /// # Errors
    ///
    /// - [`DataError::NotAnObject`] when `body` is not a JSON object;
    /// - those [`DataPlane::list`] has for the adapter, the entity and the
    ///   operation;
    /// - [`DataError::FieldRules`] with every field rule `body` breaks;
    /// - with `key`, unless in a dry run:
    ///   [`DataError::IdempotencyKeyInFlight`] while a request with the key
    ///   runs, [`DataError::IdempotencyKeyReused`] when it was used with
    ///   another entity or body;
    /// - [`DataError::WriteBudget`] when the connection's write budget is
    ///   spent (a dry run checks it too);
    /// - the errors of a call, as [`DataPlane::list`].
    pub async fn create(
        &self,
        caller: &Caller,
        entity: &str,
        body: Value,
        key: Option<&str>,
        mode: Mode,
    ) -> Result<Written<Created>, DataError> {
        let written = match self.create_checked(caller, entity, body, key, mode).await {
            Ok(Written::Done(created)) => self
                .mapped(caller.connection(), entity, created.record)
                .map(|record| Written::Done(Created { record, ..created })),
            other => other,
        };
        let replayed = matches!(&written, Ok(Written::Done(c)) if c.replayed);
        let decision = Decision::new("create", entity, None, mode).replayed(replayed);
        self.decided(caller, decision, held_count(&written));
        written
    }

    async fn create_checked(
        &self,
        caller: &Caller,
        entity: &str,
        body: Value,
        key: Option<&str>,
        mode: Mode,
    ) -> Result<Written<Created>, DataError> {
        let connection = caller.connection();
        let mut fields = object(body)?;
        // The idempotency key stands for the body the client sent, before
        // the connection's mappings (which may change between retries).
        let sent = key.map(|_| Value::Object(fields.clone()).to_string());
        let adapter = self.prepare(connection, entity, Operation::Create)?;
        check_fields(&adapter, connection, entity, &mut fields, Write::Create)?;
        let text = Value::Object(fields).to_string();
        if mode == Mode::DryRun {
            return self
                .dry_run(caller, &adapter, Op::Create(entity, &text))
                .await;
        }

        let storage = &self.store;
        if let Some(key) = key {
            let sent = sent.as_deref().unwrap_or(&text);
            let hash = hex::encode(Sha256::digest(format!("{entity}\n{sent}").as_bytes()));
            let now = SystemTime::now();
            let started = Instant::now();
            let claim = storage
                .claim_idempotency_key(&connection.id, key, &hash, now, now - IDEMPOTENCY_WINDOW)
                .instrument(tracing::info_span!(target: SPANS, "idempotency claim"))
                .await;
            caller.trail.timing.add(Part::Db, started.elapsed());
            match claim? {
                IdempotencyClaim::Claimed => {}
                IdempotencyClaim::Replay { status, response } => {
                    return Ok(Written::Done(Created {
                        status,
                        record: RawValue::from_string(response)
                            .map_err(|e| DataError::Internal(e.to_string()))?,
                        replayed: true,
                    }));
                }
                IdempotencyClaim::InFlight => return Err(DataError::IdempotencyKeyInFlight),
                IdempotencyClaim::Mismatch => return Err(DataError::IdempotencyKeyReused),
            }
        }
        let outcome = match self.take_write(&adapter, caller, Mode::Send).await {
            Err(refused) => Err(refused),
            Ok(()) => self
                .call(caller, &adapter, Op::Create(entity, &text), Mode::Send)
                .await
                .map(record),
        };
        match (outcome, key) {
            (Ok(record), Some(key)) => {
                if let Err(e) = storage
                    .complete_idempotency_key(&connection.id, key, 201, record.get())
                    .instrument(tracing::info_span!(target: SPANS, "idempotency complete"))
                    .await
                {
                    tracing::error!(error = %e, "could not record the idempotent result");
                }
                Ok(Written::Done(created(record)))
            }
            (Ok(record), None) => Ok(Written::Done(created(record))),
            (Err(error), Some(key)) => {
                if let Err(e) = storage.release_idempotency_key(&connection.id, key).await {
                    tracing::error!(error = %e, "could not release an idempotency key");
                }
                Err(error)
            }
            (Err(error), None) => Err(error),
        }
    }

    /// Changes the fields present in `body`.
    ///
    /// # Errors
    ///
    /// - [`DataError::InvalidReference`] when `id` is not a record id,
    ///   [`DataError::NotAnObject`] when `body` is not a JSON object;
    /// - those [`DataPlane::list`] has for the adapter, the entity and the
    ///   operation;
    /// - [`DataError::FieldRules`] with every field rule `body` breaks;
    /// - [`DataError::StateLocked`] when the record's state locks a field
    ///   `body` changes, or the update (the record is read first, when a
    ///   lock can apply);
    /// - [`DataError::WriteBudget`] when the connection's write budget is
    ///   spent (a dry run checks it too);
    /// - the errors of a call, the read's or the update's, as
    ///   [`DataPlane::list`].
    pub async fn update(
        &self,
        caller: &Caller,
        entity: &str,
        id: &str,
        body: Value,
        mode: Mode,
    ) -> Result<Written<Box<RawValue>>, DataError> {
        let written = match self.update_checked(caller, entity, id, body, mode).await {
            Ok(Written::Done(record)) => self
                .mapped(caller.connection(), entity, record)
                .map(Written::Done),
            other => other,
        };
        let decision = Decision::new("update", entity, Some(id), mode);
        self.decided(caller, decision, held_count(&written));
        written
    }

    async fn update_checked(
        &self,
        caller: &Caller,
        entity: &str,
        id: &str,
        body: Value,
        mode: Mode,
    ) -> Result<Written<Box<RawValue>>, DataError> {
        let connection = caller.connection();
        super::ids::check_record_id(id)?;
        let mut patch = object(body)?;
        let adapter = self.prepare(connection, entity, Operation::Update)?;
        check_fields(&adapter, connection, entity, &mut patch, Write::Update)?;
        self.check_state(
            caller,
            &adapter,
            (entity, id),
            Operation::Update,
            Some(&patch),
        )
        .await?;
        let text = Value::Object(patch).to_string();
        let op = Op::Update(entity, id, &text);
        if mode == Mode::DryRun {
            return self.dry_run(caller, &adapter, op).await;
        }
        self.take_write(&adapter, caller, Mode::Send).await?;
        let answer = self.call(caller, &adapter, op, Mode::Send).await?;
        Ok(Written::Done(record(answer)))
    }

    /// Deletes a record.
    ///
    /// # Errors
    ///
    /// - [`DataError::InvalidReference`] when `id` is not a record id;
    /// - those [`DataPlane::list`] has for the adapter, the entity and the
    ///   operation;
    /// - [`DataError::StateLocked`] when the record's state locks the
    ///   delete (the record is read first, when a lock can apply);
    /// - [`DataError::WriteBudget`] when the connection's write budget is
    ///   spent (a dry run checks it too);
    /// - the errors of a call, the read's or the delete's, as
    ///   [`DataPlane::list`].
    pub async fn delete(
        &self,
        caller: &Caller,
        entity: &str,
        id: &str,
        mode: Mode,
    ) -> Result<Written<()>, DataError> {
        let written = self.delete_checked(caller, entity, id, mode).await;
        let decision = Decision::new("delete", entity, Some(id), mode);
        self.decided(caller, decision, held_count(&written));
        written
    }

    async fn delete_checked(
        &self,
        caller: &Caller,
        entity: &str,
        id: &str,
        mode: Mode,
    ) -> Result<Written<()>, DataError> {
        let connection = caller.connection();
        super::ids::check_record_id(id)?;
        let adapter = self.prepare(connection, entity, Operation::Delete)?;
        self.check_state(caller, &adapter, (entity, id), Operation::Delete, None)
            .await?;
        let op = Op::Delete(entity, id);
        if mode == Mode::DryRun {
            return self.dry_run(caller, &adapter, op).await;
        }
        self.take_write(&adapter, caller, Mode::Send).await?;
        match self.call(caller, &adapter, op, Mode::Send).await? {
            Answer::Done => Ok(Written::Done(())),
            _ => unreachable!("delete answers nothing"),
        }
    }
}

/// How many requests a dry run held (`None` for a write done), or why it
/// failed: what [`DataPlane::decided`] records.
fn held_count<T>(written: &Result<Written<T>, DataError>) -> Result<Option<usize>, &DataError> {
    match written {
        Ok(Written::DryRun(requests)) => Ok(Some(requests.len())),
        Ok(Written::Done(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// A write, as its decision is recorded in the audit trail.
pub(super) struct Decision<'a> {
    operation: &'static str,
    entity: &'a str,
    id: Option<&'a str>,
    mode: Mode,
    replayed: bool,
}

impl<'a> Decision<'a> {
    pub(super) fn new(
        operation: &'static str,
        entity: &'a str,
        id: Option<&'a str>,
        mode: Mode,
    ) -> Self {
        Decision {
            operation,
            entity,
            id,
            mode,
            replayed: false,
        }
    }

    fn replayed(self, replayed: bool) -> Self {
        Decision { replayed, ..self }
    }
}

impl DataPlane {
    /// Records a write's decision: accepted (and how the call went),
    /// refused (by which rule, with its details), or a dry run (`Ok` with
    /// how many requests it held; `Ok(None)` for a write done).
    pub(super) fn decided(
        &self,
        caller: &Caller,
        decision: Decision<'_>,
        written: Result<Option<usize>, &DataError>,
    ) {
        if !self.audit.on() {
            return;
        }
        let mut detail = json!({"decision": "accepted", "dry_run": decision.mode == Mode::DryRun});
        if let Some(id) = decision.id {
            detail["id"] = json!(id);
        }
        let outcome = match written {
            Ok(Some(held)) => {
                detail["held_requests"] = json!(held);
                AuditOutcome::DryRun
            }
            Ok(None) => {
                if decision.replayed {
                    detail["decision"] = json!("replayed");
                }
                AuditOutcome::Ok
            }
            Err(DataError::Call(error)) => {
                detail["code"] = json!(error.code().to_string());
                AuditOutcome::Error
            }
            Err(DataError::Internal(_)) => {
                detail["decision"] = json!("failed");
                AuditOutcome::Error
            }
            Err(refused) => {
                detail["decision"] = json!("refused");
                detail["rule"] = json!(refused.code().to_string());
                detail["message"] = json!(refused.to_string());
                if let Some(details) = refused.details() {
                    detail["details"] = details;
                }
                AuditOutcome::Refused
            }
        };
        let action = format!("{} {}", decision.operation, decision.entity);
        caller.audit(&self.audit, AuditKind::Write, outcome, action, detail);
    }
}

fn created(record: Box<RawValue>) -> Created {
    Created {
        status: 201,
        record,
        replayed: false,
    }
}
