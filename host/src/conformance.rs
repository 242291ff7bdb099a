//! The adapter conformance suite: what every adapter must do, whatever its
//! system and its language, checked against a live system through the same
//! runtime that serves it (`interlink adapter conform`).
//!
//! The rules, each reported as passed, failed (with what was seen), not
//! declared (the manifest does not declare what the rule checks: nothing to
//! check), or skipped (with why: the rule applies, but the system gave it
//! nothing to check, such as no record to read back). A skip is not a
//! pass: `interlink adapter conform` fails on every skip it is not told to
//! allow (`--allow-skip RULE` or `RULE:ENTITY`).
//!
//! - `connect`: the connection's credentials are accepted and the account
//!   answered;
//! - `model`: every declared entity is one of the unified model's, and its
//!   standard fields are the model's;
//! - `list`: a first page answers, each record a JSON object with a string
//!   `id` whose members have the model's names and types;
//! - `pagination`: following the cursors with small pages gives every
//!   record once: none repeated, none lost against one large page;
//! - `modified-after`: the filter keeps the records modified after the
//!   time, and only those;
//! - `get`: a listed record reads back by its id, and an id that does not
//!   exist is a typed `not-found` (skipped when no record is listed);
//! - `writes`: each declared write (an update sets the first updatable
//!   text field that references no other record) gets as far as the request that would
//!   change the system (in a dry run the host holds it: nothing is sent) or
//!   answers; any error is a failure, for the suite's record has every
//!   required field (skipped for updates and deletes when no record is
//!   listed);
//! - `read-only-fields`: an update carrying declared read-only fields does
//!   not send their values to the system, or is refused as `invalid`; any
//!   other answer is a failure;
//! - `unauthorized`: with wrong credentials, `connect` is `unauthorized`.
//!
//! Writes run as dry runs: the suite never changes the system it checks.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value, json};

use crate::contract::AdapterError;
use crate::manifest::{ChildCollection, Entity, Field, FieldAccess, FieldType, Operation};
use crate::runtime::{Adapter, AdapterInstance, CallContext, CallError, HeldRequest, ListRequest};

/// Small pages, so that pagination is exercised on small data sets.
const SMALL_PAGE: u32 = 2;
/// The pages followed at most per entity.
const MAX_PAGES: usize = 50;
/// The large page the small ones are compared against.
const LARGE_PAGE: u32 = 100;
/// An id no system is expected to have.
const MISSING_ID: &str = "999999999";
/// What read-only fields are set to in the read-only check.
const MARKER: &str = "interlink-conformance-read-only";
const MARKER_TIME: &str = "1999-09-09T09:09:09Z";
const MARKER_NUMBER: i64 = 987_654_321;

/// How one check came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed(String),
    Failed(String),
    /// The manifest does not declare what the rule checks.
    NotDeclared(String),
    /// The rule applies but could not be checked; why.
    Skipped(String),
}

/// One rule checked on one subject (the adapter, or one entity).
#[derive(Debug, Clone)]
pub struct Check {
    pub rule: &'static str,
    /// The entity, or empty for the adapter as a whole.
    pub entity: String,
    pub outcome: Outcome,
}

/// Every check of one run.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, rule: &'static str, entity: &str, outcome: Outcome) {
        self.checks.push(Check {
            rule,
            entity: entity.to_string(),
            outcome,
        });
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// The checks skipped that `allowed` does not name: each entry a rule
    /// (`unauthorized`, skipped on any subject) or `rule:entity`.
    pub fn unexpected_skips<'a>(
        &'a self,
        allowed: &'a [String],
    ) -> impl Iterator<Item = &'a Check> {
        self.checks.iter().filter(move |c| {
            matches!(c.outcome, Outcome::Skipped(_))
                && !allowed.iter().any(|a| match a.split_once(':') {
                    Some((rule, entity)) => rule == c.rule && entity == c.entity,
                    None => a == c.rule,
                })
        })
    }

    /// The outcome of `rule` on `entity`, if it was checked.
    pub fn outcome(&self, rule: &str, entity: &str) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.rule == rule && c.entity == entity)
            .map(|c| &c.outcome)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut passed, mut failed, mut skipped, mut not_declared) = (0, 0, 0, 0);
        for check in &self.checks {
            let (word, text) = match &check.outcome {
                Outcome::Passed(t) => {
                    passed += 1;
                    ("pass", t)
                }
                Outcome::Failed(t) => {
                    failed += 1;
                    ("FAIL", t)
                }
                Outcome::NotDeclared(t) => {
                    not_declared += 1;
                    ("n/a ", t)
                }
                Outcome::Skipped(t) => {
                    skipped += 1;
                    ("skip", t)
                }
            };
            let subject = if check.entity.is_empty() {
                check.rule.to_string()
            } else {
                format!("{}: {}", check.entity, check.rule)
            };
            // One line each, whatever the system put in its messages.
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text = match text.char_indices().nth(240) {
                Some((at, _)) => format!("{}...", &text[..at]),
                None => text,
            };
            writeln!(f, "  {word}  {subject:<36} {text}")?;
        }
        write!(
            f,
            "{passed} passed, {failed} failed, {skipped} skipped, {not_declared} not declared"
        )
    }
}

/// Runs the suite: `adapter` against the system `ctx` connects to, and,
/// when given, `wrong` (the same connection with credentials the system
/// must reject).
pub async fn run(adapter: &Adapter, ctx: &CallContext, wrong: Option<&CallContext>) -> Report {
    let mut report = Report::default();
    match adapter.connect(ctx.clone()).await {
        Ok(account) => report.add(
            "connect",
            "",
            Outcome::Passed(format!("account {} ({})", account.id, account.name)),
        ),
        Err(e) => {
            report.add("connect", "", Outcome::Failed(describe(&e)));
            return report;
        }
    }
    for entity in &adapter.manifest().entities {
        check_entity(adapter, ctx, entity, &mut report).await;
    }
    let outcome = match wrong {
        None => Outcome::Skipped("no wrong credentials given (--wrong NAME=VALUE)".into()),
        Some(wrong) => match adapter.connect(wrong.clone()).await {
            Err(CallError::Adapter(AdapterError::Unauthorized { message })) => {
                Outcome::Passed(format!("unauthorized: {message}"))
            }
            Ok(_) => Outcome::Failed("wrong credentials were accepted".into()),
            Err(e) => Outcome::Failed(format!(
                "wrong credentials must answer `unauthorized`, not {}",
                describe(&e)
            )),
        },
    };
    report.add("unauthorized", "", outcome);
    report
}

fn describe(error: &CallError) -> String {
    format!("{} ({error})", error.code())
}

fn can(entity: &Entity, operation: Operation) -> bool {
    entity.operations.iter().any(|o| o.operation == operation)
}

fn list_request(entity: &str, cursor: Option<String>, page_size: u32) -> ListRequest {
    ListRequest {
        entity: entity.to_string(),
        cursor,
        page_size,
        modified_after: None,
    }
}

async fn check_entity(adapter: &Adapter, ctx: &CallContext, entity: &Entity, report: &mut Report) {
    let name = entity.name.as_str();
    report.add("model", name, model_fields(entity));
    // The record the reads and writes below use: the first one listed.
    let mut first_id = None;
    if !can(entity, Operation::List) {
        for rule in ["list", "pagination", "modified-after"] {
            report.add(rule, name, Outcome::NotDeclared("not listable".into()));
        }
    } else {
        let records = match page_of(adapter, ctx, &list_request(name, None, 5)).await {
            Err(e) => {
                report.add("list", name, Outcome::Failed(describe(&e)));
                return;
            }
            Ok((records, _)) => records,
        };
        first_id = ids(&records).into_iter().next();
        let problems: Vec<String> = records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| record_problem(name, r).map(|p| format!("record {i}: {p}")))
            .collect();
        report.add(
            "list",
            name,
            if problems.is_empty() {
                Outcome::Passed(format!("{} records on the first page", records.len()))
            } else {
                Outcome::Failed(problems.join("; "))
            },
        );
        let all = pagination(adapter, ctx, name, report).await;
        let outcome = match (&all, entity.fields.iter().any(|f| f.name == "updated_at")) {
            (_, false) => Outcome::NotDeclared("no updated_at field".into()),
            (None, _) => Outcome::Skipped("pagination failed".into()),
            (Some(all), true) => modified_after(adapter, ctx, name, all).await,
        };
        report.add("modified-after", name, outcome);
    }
    report.add(
        "get",
        name,
        get(adapter, ctx, entity, first_id.as_deref()).await,
    );
    report.add(
        "writes",
        name,
        writes(adapter, ctx, entity, first_id.as_deref()).await,
    );
    report.add(
        "read-only-fields",
        name,
        read_only_fields(adapter, ctx, entity, first_id.as_deref()).await,
    );
}

/// The unified model's members of `entity`, if it is one of its entities.
fn model_members(entity: &str) -> Option<BTreeSet<String>> {
    let definition = match entity {
        "vendors" => "Vendor",
        "items" => "Item",
        "purchase-orders" => "PurchaseOrder",
        _ => return None,
    };
    let schema = interlink_model::json_schema();
    let properties = schema.pointer(&format!("/$defs/{definition}/properties"))?;
    Some(properties.as_object()?.keys().cloned().collect())
}

/// Whether `entity`'s standard fields are members of the unified model.
fn model_fields(entity: &Entity) -> Outcome {
    let Some(members) = model_members(&entity.name) else {
        return Outcome::Failed(format!(
            "`{}` is not an entity of the unified model (vendors, items, purchase-orders)",
            entity.name
        ));
    };
    let unknown: Vec<&str> = entity
        .fields
        .iter()
        .filter(|f| !f.custom)
        .map(|f| f.name.split('.').next().unwrap_or(&f.name))
        .filter(|top| !members.contains(*top))
        .collect();
    if unknown.is_empty() {
        Outcome::Passed(format!("{} fields", entity.fields.len()))
    } else {
        Outcome::Failed(format!(
            "fields not in the unified model: {} (a system's own fields go under custom_fields)",
            unknown.join(", ")
        ))
    }
}

/// What is wrong with a record of `entity`, if anything: not an object,
/// no string id, members outside the model or of the wrong type.
pub fn record_problem(entity: &str, record: &Value) -> Option<String> {
    let Some(object) = record.as_object() else {
        return Some("not a JSON object".into());
    };
    if !object.get("id").is_some_and(Value::is_string) {
        return Some("no string `id`".into());
    }
    let typed = match entity {
        "vendors" => round_trip::<interlink_model::Vendor>(record),
        "items" => round_trip::<interlink_model::Item>(record),
        "purchase-orders" => round_trip::<interlink_model::PurchaseOrder>(record),
        _ => return None,
    };
    match typed {
        Err(e) => Some(format!("does not match the unified model: {e}")),
        Ok(back) => {
            let lost: Vec<String> = missing_members(record, &back, "");
            (!lost.is_empty())
                .then(|| format!("members outside the unified model: {}", lost.join(", ")))
        }
    }
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(
    record: &Value,
) -> Result<Value, serde_json::Error> {
    serde_json::to_value(serde_json::from_value::<T>(record.clone())?)
}

/// The members of `given` (nested objects and arrays of objects included)
/// that `kept` lost: those the typed model does not have.
fn missing_members(given: &Value, kept: &Value, path: &str) -> Vec<String> {
    let mut lost = Vec::new();
    match (given, kept) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                if key == "custom_fields" || value.is_null() {
                    continue;
                }
                let at = format!("{path}/{key}");
                match kept.get(key) {
                    None => lost.push(at),
                    Some(kept) => lost.extend(missing_members(value, kept, &at)),
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (g, k)) in given.iter().zip(kept).enumerate() {
                lost.extend(missing_members(g, k, &format!("{path}/{i}")));
            }
        }
        _ => {}
    }
    lost
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect()
}

async fn page_of(
    adapter: &Adapter,
    ctx: &CallContext,
    request: &ListRequest,
) -> Result<(Vec<Value>, Option<String>), CallError> {
    let page = adapter.list(ctx.clone(), request).await?;
    let records = page
        .records
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap_or(Value::Null))
        .collect();
    Ok((records, page.next_cursor))
}

/// Follows the cursors with small pages; answers every record when the
/// walk ended within [`MAX_PAGES`] and matched one large page.
async fn pagination(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &str,
    report: &mut Report,
) -> Option<Vec<Value>> {
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut complete = false;
    for page in 1..=MAX_PAGES {
        let request = list_request(entity, cursor.clone(), SMALL_PAGE);
        let (records, next) = match page_of(adapter, ctx, &request).await {
            Ok(answer) => answer,
            Err(e) => {
                let at = cursor.map_or("the first page".into(), |c| format!("cursor {c:?}"));
                report.add(
                    "pagination",
                    entity,
                    Outcome::Failed(format!("page {page} ({at}): {}", describe(&e))),
                );
                return None;
            }
        };
        for id in ids(&records) {
            if seen.contains(&id) {
                let at = cursor.map_or("the first page".into(), |c| format!("cursor {c:?}"));
                report.add(
                    "pagination",
                    entity,
                    Outcome::Failed(format!(
                        "record {id:?} came again on page {page} ({at}): a cursor must move past the records it has given"
                    )),
                );
                return None;
            }
            seen.push(id);
        }
        match next {
            None => {
                complete = true;
                break;
            }
            Some(next) if Some(&next) == cursor.as_ref() => {
                report.add(
                    "pagination",
                    entity,
                    Outcome::Failed(format!(
                        "page {page} answered the cursor it was given ({next:?}): the walk would never end"
                    )),
                );
                return None;
            }
            Some(next) => cursor = Some(next),
        }
    }
    if !complete || seen.len() > LARGE_PAGE as usize {
        report.add(
            "pagination",
            entity,
            Outcome::Passed(format!(
                "{} records in {MAX_PAGES} pages, none twice (not compared with a large page: more than {LARGE_PAGE})",
                seen.len()
            )),
        );
        return None;
    }
    let large = match page_of(adapter, ctx, &list_request(entity, None, LARGE_PAGE)).await {
        Ok((records, _)) => records,
        Err(e) => {
            report.add(
                "pagination",
                entity,
                Outcome::Failed(format!("one page of {LARGE_PAGE}: {}", describe(&e))),
            );
            return None;
        }
    };
    let lost: Vec<String> = ids(&large)
        .into_iter()
        .filter(|id| !seen.contains(id))
        .collect();
    if lost.is_empty() {
        report.add(
            "pagination",
            entity,
            Outcome::Passed(format!(
                "{} records in pages of {SMALL_PAGE}, each once, as in one page of {LARGE_PAGE}",
                seen.len()
            )),
        );
        Some(large)
    } else {
        report.add(
            "pagination",
            entity,
            Outcome::Failed(format!(
                "pages of {SMALL_PAGE} lost records one page of {LARGE_PAGE} has: {}",
                lost.join(", ")
            )),
        );
        None
    }
}

/// Lists with `modified_after` set to the middle of `all`'s update times.
async fn modified_after(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &str,
    all: &[Value],
) -> Outcome {
    let times = |records: &[Value]| -> Vec<(String, time::OffsetDateTime)> {
        records
            .iter()
            .filter_map(|r| {
                let at = crate::timestamps::parse(r["updated_at"].as_str()?)?;
                Some((r["id"].as_str()?.to_string(), at))
            })
            .collect()
    };
    let mut stamped = times(all);
    stamped.sort_by_key(|(_, at)| *at);
    stamped.dedup_by_key(|(_, at)| *at);
    if stamped.len() < 2 {
        return Outcome::Skipped("fewer than two distinct update times to filter between".into());
    }
    // The upper middle: with two distinct times, the later one, so that
    // the earlier records must be left out.
    let (_, middle) = stamped[stamped.len() / 2];
    let since = crate::timestamps::micros(middle);
    let request = ListRequest {
        modified_after: Some(since.clone()),
        ..list_request(entity, None, LARGE_PAGE)
    };
    let filtered = match page_of(adapter, ctx, &request).await {
        Ok((records, _)) => records,
        Err(e) => return Outcome::Failed(describe(&e)),
    };
    let kept = times(&filtered);
    let before: Vec<&str> = kept
        .iter()
        .filter(|(_, at)| *at < middle)
        .map(|(id, _)| id.as_str())
        .collect();
    if !before.is_empty() {
        return Outcome::Failed(format!(
            "modified after {since}: records modified before it came back: {}",
            before.join(", ")
        ));
    }
    let kept_ids: Vec<&str> = kept.iter().map(|(id, _)| id.as_str()).collect();
    let lost: Vec<String> = times(all)
        .into_iter()
        .filter(|(id, at)| *at > middle && !kept_ids.contains(&id.as_str()))
        .map(|(id, _)| id)
        .collect();
    if !lost.is_empty() {
        return Outcome::Failed(format!(
            "modified after {since}: records modified after it are missing: {}",
            lost.join(", ")
        ));
    }
    Outcome::Passed(format!(
        "{} of {} records modified after {since}",
        kept.len(),
        all.len()
    ))
}

async fn first_id(adapter: &Adapter, ctx: &CallContext, entity: &Entity) -> Option<String> {
    if !can(entity, Operation::List) {
        return None;
    }
    let (records, _) = page_of(adapter, ctx, &list_request(&entity.name, None, 1))
        .await
        .ok()?;
    ids(&records).into_iter().next()
}

async fn get(adapter: &Adapter, ctx: &CallContext, entity: &Entity, id: Option<&str>) -> Outcome {
    if !can(entity, Operation::Get) {
        return Outcome::NotDeclared("get is not declared".into());
    }
    let name = &entity.name;
    if let Some(id) = id {
        match adapter.get(ctx.clone(), name, id).await {
            Err(e) => return Outcome::Failed(format!("get {id:?}: {}", describe(&e))),
            Ok(record) => {
                let record: Value = serde_json::from_str(record.get()).unwrap_or(Value::Null);
                if record["id"] != id {
                    return Outcome::Failed(format!(
                        "get {id:?} answered the record {}",
                        record["id"]
                    ));
                }
                if let Some(problem) = record_problem(name, &record) {
                    return Outcome::Failed(format!("get {id:?}: {problem}"));
                }
            }
        }
    }
    match adapter.get(ctx.clone(), name, MISSING_ID).await {
        Err(CallError::Adapter(AdapterError::NotFound { .. })) => match id {
            Some(id) => Outcome::Passed(format!("{id:?} read back; {MISSING_ID:?} not found")),
            None => Outcome::Skipped(format!(
                "no record listed to read back ({MISSING_ID:?} was not found, as it should)"
            )),
        },
        Ok(_) => Outcome::Failed(format!("{MISSING_ID:?}, which should not exist, was found")),
        Err(e) => Outcome::Failed(format!(
            "a missing record must be `not-found`, not {}",
            describe(&e)
        )),
    }
}

/// A value of `field`'s type for a record the suite writes.
fn sample(field: &Field) -> Value {
    match &field.kind {
        FieldType::Text => json!("Interlink conformance"),
        FieldType::Integer => json!(1),
        FieldType::Decimal => json!("1.00"),
        FieldType::Boolean => json!(true),
        FieldType::Date => json!("2026-01-02"),
        FieldType::DateTime => json!("2026-01-02T03:04:05Z"),
        FieldType::Enumeration(values) => json!(values.first().cloned().unwrap_or_default()),
        FieldType::Object => json!({}),
    }
}

/// Sets `path` (dotted) in `record` to `value`.
fn set(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            record.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = record.entry(head).or_insert_with(|| json!({}));
            if let Value::Object(child) = child {
                set(child, rest, value);
            }
        }
    }
}

/// A record the manifest says a create accepts: every required field (a
/// reference set to the first record of the entity it names), and the
/// fewest children each collection needs.
async fn new_record(adapter: &Adapter, ctx: &CallContext, entity: &Entity) -> Value {
    async fn fields(adapter: &Adapter, ctx: &CallContext, fields: &[Field]) -> Map<String, Value> {
        let mut record = Map::new();
        for field in fields
            .iter()
            .filter(|f| f.required && f.access != FieldAccess::ReadOnly)
        {
            let value = match &field.references {
                Some(target) => {
                    let target = adapter
                        .manifest()
                        .entities
                        .iter()
                        .find(|e| &e.name == target);
                    let id = match target {
                        Some(target) => first_id(adapter, ctx, target).await,
                        None => None,
                    };
                    json!(id.unwrap_or_else(|| "1".into()))
                }
                None => sample(field),
            };
            set(&mut record, &field.name, value);
        }
        record
    }
    let mut record = fields(adapter, ctx, &entity.fields).await;
    for ChildCollection {
        name,
        fields: child_fields,
        min_count,
        ..
    } in &entity.children
    {
        let mut children = Vec::new();
        for _ in 0..(*min_count).max(1) {
            children.push(Value::Object(fields(adapter, ctx, child_fields).await));
        }
        record.insert(name.clone(), Value::Array(children));
    }
    Value::Object(record)
}

/// How a dry-run write came out, as a check's words: `None` when it
/// conforms (it answered, or reached a request the host held). Any error
/// does not: the suite's record has every required field, and nothing was
/// sent that the system could refuse.
fn dry_run_problem<T>(operation: &str, answer: Result<T, CallError>) -> Option<String> {
    match answer {
        Ok(_) => None,
        Err(CallError::Adapter(AdapterError::Unsupported { message })) => Some(format!(
            "{operation} is declared but answered `unsupported` ({message})"
        )),
        Err(e) => Some(format!("{operation}: {}", describe(&e))),
    }
}

/// Runs `call` on a fresh instance in a dry run; answers the requests that
/// may change the system which it held instead of sending.
async fn dry_run(
    adapter: &Adapter,
    ctx: &CallContext,
    call: impl AsyncFnOnce(&mut AdapterInstance) -> Result<(), CallError>,
) -> Result<Vec<HeldRequest>, CallError> {
    let mut instance = adapter.instantiate_fresh(ctx.clone()).await?;
    instance.dry_run();
    match call(&mut instance).await {
        Ok(()) | Err(CallError::Held) => Ok(instance.held().to_vec()),
        Err(e) => Err(e),
    }
}

async fn writes(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &Entity,
    id: Option<&str>,
) -> Outcome {
    let name = entity.name.as_str();
    let mut done = Vec::new();
    let mut problems = Vec::new();
    let mut unchecked = Vec::new();
    if can(entity, Operation::Create) {
        let record = new_record(adapter, ctx, entity).await.to_string();
        let answer = dry_run(adapter, ctx, async |i| {
            i.create(name, record).await.map(drop)
        })
        .await;
        problems.extend(dry_run_problem("create", answer));
        done.push("create");
    }
    if let Some(id) = id {
        if can(entity, Operation::Update) {
            let patch = entity
                .fields
                .iter()
                .find(|f| {
                    f.access == FieldAccess::Updatable
                        && f.kind == FieldType::Text
                        && f.references.is_none()
                })
                .map(|f| {
                    let mut patch = Map::new();
                    set(&mut patch, &f.name, json!("Interlink conformance"));
                    Value::Object(patch)
                })
                .unwrap_or_else(|| json!({}));
            let patch = patch.to_string();
            let answer = dry_run(adapter, ctx, async |i| {
                i.update(name, id, patch).await.map(drop)
            })
            .await;
            problems.extend(dry_run_problem("update", answer));
            done.push("update");
        }
        if can(entity, Operation::Delete) {
            let answer = dry_run(adapter, ctx, async |i| i.delete(name, id).await).await;
            problems.extend(dry_run_problem("delete", answer));
            done.push("delete");
        }
    } else {
        unchecked.extend(
            [(Operation::Update, "update"), (Operation::Delete, "delete")]
                .into_iter()
                .filter(|(operation, _)| can(entity, *operation))
                .map(|(_, word)| word),
        );
    }
    if !problems.is_empty() {
        return Outcome::Failed(problems.join("; "));
    }
    match (done.is_empty(), unchecked.is_empty()) {
        (true, true) => Outcome::NotDeclared("no writes declared".into()),
        (_, false) => Outcome::Skipped(format!(
            "{} not checked: no record listed to write to{}",
            unchecked.join(", "),
            if done.is_empty() {
                String::new()
            } else {
                format!("; {} answered (dry runs)", done.join(", "))
            }
        )),
        (false, true) => Outcome::Passed(format!("{} answered (dry runs)", done.join(", "))),
    }
}

async fn read_only_fields(
    adapter: &Adapter,
    ctx: &CallContext,
    entity: &Entity,
    id: Option<&str>,
) -> Outcome {
    let read_only: Vec<&Field> = entity
        .fields
        .iter()
        .filter(|f| f.access == FieldAccess::ReadOnly && f.name != "id")
        .collect();
    if !can(entity, Operation::Update) || read_only.is_empty() {
        return Outcome::NotDeclared("no update of a record with read-only fields".into());
    }
    let Some(id) = id else {
        return Outcome::Skipped("no record listed to update".into());
    };
    let mut patch = Map::new();
    for field in &read_only {
        let marker = match field.kind {
            FieldType::Integer | FieldType::Decimal => json!(MARKER_NUMBER),
            FieldType::Date | FieldType::DateTime => json!(MARKER_TIME),
            FieldType::Enumeration(_) | FieldType::Text => json!(MARKER),
            _ => continue,
        };
        set(&mut patch, &field.name, marker);
    }
    let names: Vec<&str> = read_only.iter().map(|f| f.name.as_str()).collect();
    let patch = Value::Object(patch).to_string();
    let answer = dry_run(adapter, ctx, async |i| {
        i.update(&entity.name, id, patch).await.map(drop)
    })
    .await;
    match answer {
        Err(CallError::Adapter(AdapterError::Invalid { .. })) => {
            Outcome::Passed(format!("refused as invalid: {}", names.join(", ")))
        }
        Err(e) => Outcome::Failed(format!(
            "an update with read-only fields must be ignored or refused as `invalid`, not {}",
            describe(&e)
        )),
        Ok(held) => {
            let markers = [
                MARKER.to_string(),
                MARKER_TIME.to_string(),
                MARKER_NUMBER.to_string(),
            ];
            let leaked: Vec<String> = held
                .iter()
                .filter(|r| {
                    r.body
                        .as_deref()
                        .is_some_and(|b| markers.iter().any(|m| b.contains(m.as_str())))
                })
                .map(|r| format!("{} {}", r.method, r.url))
                .collect();
            if leaked.is_empty() {
                Outcome::Passed(format!("ignored: {}", names.join(", ")))
            } else {
                Outcome::Failed(format!(
                    "values of read-only fields ({}) were sent to the system: {}",
                    names.join(", "),
                    leaked.join("; ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before: a dry-run write that failed with any typed error passed, so
    /// an adapter whose every write answered `invalid` or `not-found`
    /// conformed.
    #[test]
    fn a_dry_run_write_conforms_only_when_it_answers_or_is_held() {
        assert_eq!(dry_run_problem("create", Ok(())), None);
        let invalid = CallError::Adapter(AdapterError::Invalid { errors: Vec::new() });
        let problem = dry_run_problem::<()>("create", Err(invalid)).unwrap();
        assert!(
            problem.starts_with("create: validation_failed"),
            "{problem}"
        );
        let not_found = CallError::Adapter(AdapterError::NotFound {
            message: "gone".into(),
        });
        assert!(dry_run_problem::<()>("update", Err(not_found)).is_some());
    }

    /// Before: a skip counted as success, and nothing said which rules a
    /// run could not check.
    #[test]
    fn a_skip_is_unexpected_unless_allowed_by_rule_or_by_rule_and_entity() {
        let mut report = Report::default();
        report.add("get", "vendors", Outcome::Skipped("no record".into()));
        report.add("get", "items", Outcome::Skipped("no record".into()));
        report.add("unauthorized", "", Outcome::Skipped("no wrong".into()));
        report.add("writes", "items", Outcome::NotDeclared("none".into()));
        let unexpected = |allowed: &[&str]| -> Vec<String> {
            let allowed: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            report
                .unexpected_skips(&allowed)
                .map(|c| format!("{}:{}", c.rule, c.entity))
                .collect()
        };
        assert_eq!(
            unexpected(&[]),
            ["get:vendors", "get:items", "unauthorized:"]
        );
        assert_eq!(unexpected(&["get:items", "unauthorized"]), ["get:vendors"]);
        assert!(unexpected(&["get", "unauthorized"]).is_empty());
        assert!(
            report
                .to_string()
                .ends_with("0 passed, 0 failed, 3 skipped, 1 not declared")
        );
    }

    #[test]
    fn a_record_outside_the_model_is_named_by_its_members() {
        let good = json!({"id": "1", "name": "Acme", "status": "active",
            "custom_fields": {"anything": 1}});
        assert_eq!(record_problem("vendors", &good), None);
        assert_eq!(
            record_problem("vendors", &json!({"id": 1})).as_deref(),
            Some("no string `id`")
        );
        let extra = json!({"id": "1", "nmae": "typo", "address": {"city": "X", "zip": "1"}});
        let problem = record_problem("vendors", &extra).unwrap();
        assert!(problem.contains("/nmae"), "{problem}");
        let wrong = json!({"id": "1", "status": "dormant"});
        let problem = record_problem("vendors", &wrong).unwrap();
        assert!(
            problem.contains("does not match the unified model"),
            "{problem}"
        );
        let line = json!({"id": "1", "lines": [{"quantity": 1, "qty": 2}]});
        let problem = record_problem("purchase-orders", &line).unwrap();
        assert!(problem.contains("/lines/0/qty"), "{problem}");
    }

    #[test]
    fn the_model_knows_the_three_entities() {
        for entity in ["vendors", "items", "purchase-orders"] {
            let members = model_members(entity).unwrap_or_else(|| panic!("{entity}"));
            assert!(members.contains("id"), "{entity}: {members:?}");
        }
        assert!(model_members("echo").is_none());
    }
}
