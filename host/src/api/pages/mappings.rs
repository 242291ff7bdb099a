//! A connection's field mappings on its dashboard page: each with its
//! source, target, whether it writes, and its issue when the system no
//! longer has the source as it was mapped; adding one (the source picked
//! from the fields the adapter and the account declare), removing one, and
//! describing the account again. The same service as the admin API
//! ([`crate::connections::Connections::set_mappings`]).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::layout::{self, connection_path};
use super::session::{CsrfForm, Operator, internal};
use crate::api::AppState;
use crate::connections::mappings::{MappingError, NewMapping, account_fields};
use crate::connections::{Connection, FieldMapping, Status};
use crate::manifest::FieldType;
use crate::rules::mapping::MappingIssue;

/// The mappings section of connection `c`'s page.
pub fn section(state: &AppState, c: &Connection, csrf: &str) -> Markup {
    let issues = state.connections.mapping_issues(c);
    let issue = |m: &FieldMapping| -> Option<&MappingIssue> {
        issues
            .iter()
            .find(|i| i.entity == m.entity && i.target == m.target)
    };
    // Every field a mapping may show: (entity, field), standard and custom.
    let sources: Vec<(String, String)> = state
        .registry
        .get(&c.adapter_id)
        .map(|adapter| {
            adapter
                .manifest()
                .entities
                .iter()
                .flat_map(|e| {
                    let extra = account_fields(c, &e.name);
                    e.fields
                        .iter()
                        .chain(&extra)
                        .filter(|f| f.kind != FieldType::Object)
                        .map(|f| (e.name.clone(), f.name.clone()))
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default();
    let entities: Vec<&String> = {
        let mut names: Vec<&String> = sources.iter().map(|(e, _)| e).collect();
        names.dedup();
        names
    };
    html! {
        h2 { "Field mappings" }
        div.card {
            @if !issues.is_empty() {
                p.notice.warn role="status" #mapping-issues {
                    "The system no longer has what some mappings show: their fields read as null and refuse writes until they are mapped again."
                }
            }
            table #mappings {
                thead { tr { th { "Entity" } th { "System field" } th { "Shown as" } th { "Writes" } th { "State" } th {} } }
                tbody {
                    @for (i, m) in c.field_mappings.iter().enumerate() {
                        tr data-target=(m.target) {
                            td { (m.entity) }
                            td { code { (m.source) } }
                            td { code { (m.target) } }
                            td { @if m.writable { "yes" } @else { span.muted { "read only" } } }
                            td {
                                @if let Some(issue) = issue(m) {
                                    code { (issue.code) } div.small { (issue.message) }
                                } @else { "ok" }
                            }
                            td {
                                @if c.status != Status::Disconnected {
                                    form.inline method="post" action=(connection_path(c, &["mappings", "remove"])) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="index" value=(i);
                                        input type="hidden" name="target" value=(m.target);
                                        button.secondary type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if c.field_mappings.is_empty() { p.muted { "No mappings: records show the system's fields under the unified names." } }
            @if c.status != Status::Disconnected {
                form #add-mapping method="post" action=(connection_path(c, &["mappings"])) {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="mapping-entity" { "Entity" }
                    select #mapping-entity name="entity" required {
                        @for e in &entities { option value=(e) { (e) } }
                    }
                    label for="mapping-source" { "System field" }
                    input #mapping-source name="source" required maxlength="256" list="mapping-sources" placeholder="custom_fields.custbody_cc";
                    datalist #mapping-sources {
                        @for (e, f) in &sources { option value=(f) { (e) } }
                    }
                    label for="mapping-target" { "Shown as" }
                    input #mapping-target name="target" required maxlength="128" placeholder="custom.cost_center";
                    label { input #mapping-writable type="checkbox" name="writable" value="on"; " Writes go to the system field (under its rules)" }
                    button.secondary type="submit" { "Add the mapping" }
                    span.hint { "Shown as custom.<name> (in the record's custom object) or a field of the unified model. A read-only system field can only be mapped read only." }
                }
                form #refresh-account method="post" action=(connection_path(c, &["refresh"])) {
                    input type="hidden" name="csrf" value=(csrf);
                    button.secondary type="submit" { "Describe the account again" }
                    span.hint { "Asks the system which custom fields the account has now; a mapped field it dropped shows above." }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    entity: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    writable: Option<String>,
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    index: usize,
    /// The target of the mapping at `index`, so that a page older than the
    /// mappings removes nothing else.
    #[serde(default)]
    target: String,
}

/// Answers a change of mappings: back to the connection, or why not.
fn answer(
    state: &AppState,
    operator: &Operator,
    id: &str,
    done: Result<Connection, MappingError>,
) -> Response {
    match done {
        Ok(c) => {
            let detail = json!({"mappings": c.field_mappings});
            state.audit.admin(
                &operator.actor(),
                "connection.mappings_set",
                Some(id),
                detail,
            );
            Redirect::to(&connection_path(&c, &[])).into_response()
        }
        Err(e) => refused(&e),
    }
}

fn refused(e: &MappingError) -> Response {
    match e {
        MappingError::NotFound(id) => super::connection::not_found(id),
        MappingError::Storage(e) => internal(e),
        MappingError::Invalid(violations) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout::message(
                "Not mapped",
                &violations
                    .iter()
                    .map(|v| v.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        )
            .into_response(),
        other => (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout::message("Not mapped", &other.to_string()),
        )
            .into_response(),
    }
}

/// Adds a mapping to the connection's.
pub async fn add(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<AddForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    let c = match super::connection::find(&state, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let mut mappings: Vec<NewMapping> = c.field_mappings.iter().map(NewMapping::from).collect();
    mappings.push(NewMapping {
        entity: form.entity,
        source: form.source.trim().to_string(),
        target: form.target.trim().to_string(),
        writable: form.writable.is_some(),
    });
    let done = state.connections.set_mappings(&id, mappings).await;
    answer(&state, &operator, &id, done)
}

/// Removes one of the connection's mappings.
pub async fn remove(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<RemoveForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    let c = match super::connection::find(&state, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    if c.field_mappings.get(form.index).map(|m| &m.target) != Some(&form.target) {
        return (
            StatusCode::CONFLICT,
            layout::message(
                "Not removed",
                "The mappings changed since the page was shown: reload it and try again.",
            ),
        )
            .into_response();
    }
    let mappings = c
        .field_mappings
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != form.index)
        .map(|(_, m)| NewMapping::from(m))
        .collect();
    let done = state.connections.set_mappings(&id, mappings).await;
    answer(&state, &operator, &id, done)
}

/// Describes the connection's account again.
pub async fn refresh(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    match state.connections.describe_again(&id).await {
        Ok(c) => {
            let detail = json!({"custom_fields": c.custom_fields.len()});
            state
                .audit
                .admin(&operator.actor(), "connection.refreshed", Some(&id), detail);
            Redirect::to(&connection_path(&c, &[])).into_response()
        }
        Err(e) => refused(&e),
    }
}
