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

mod model;
mod reads;
mod writes;

pub use model::record_problem;
use model::*;
use reads::*;
use writes::*;

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
        writes::writes(adapter, ctx, entity, first_id.as_deref()).await,
    );
    report.add(
        "read-only-fields",
        name,
        read_only_fields(adapter, ctx, entity, first_id.as_deref()).await,
    );
}
