//! The dashboard's audit trail: the newest entries, filtered by kind,
//! outcome, connection or request id, with a link to the older ones.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{Connections, Section, connection_path, page, when};
use super::session::{Operator, internal};
use crate::api::AppState;
use crate::audit::{AuditKind, AuditOutcome};
use crate::storage::audit::{AuditFilter, AuditPage, from_micros};

/// Entries shown on one page.
const SHOWN: u32 = 100;

const KINDS: [(AuditKind, &str); 6] = [
    (AuditKind::Call, "Calls"),
    (AuditKind::Upstream, "Upstream requests"),
    (AuditKind::Credential, "Credential uses"),
    (AuditKind::Write, "Write decisions"),
    (AuditKind::Admin, "Admin actions"),
    (AuditKind::Mcp, "MCP tool calls"),
];

const OUTCOMES: [(AuditOutcome, &str); 4] = [
    (AuditOutcome::Ok, "Ok"),
    (AuditOutcome::Error, "Error"),
    (AuditOutcome::Refused, "Refused"),
    (AuditOutcome::DryRun, "Dry run"),
];

#[derive(Deserialize)]
pub struct AuditQuery {
    kind: Option<String>,
    outcome: Option<String>,
    connection: Option<String>,
    request_id: Option<String>,
    before: Option<u64>,
}

/// Text of a form field, `None` when empty.
fn given(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The newest entries of the trail that match the query.
pub async fn list(
    operator: Operator,
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Response {
    let filter = AuditFilter {
        kind: given(&query.kind).and_then(|k| k.parse().ok()),
        outcome: given(&query.outcome).and_then(|o| o.parse().ok()),
        connection_id: given(&query.connection),
        request_id: given(&query.request_id),
        ..AuditFilter::default()
    };
    let (entries, connections) = match tokio::try_join!(
        state
            .audit
            .read(&filter, AuditPage::Before(query.before), SHOWN),
        state.connections.list()
    ) {
        Ok(found) => found,
        Err(e) => return internal(&e),
    };
    let connections = Connections::new(&connections);
    let older = (entries.len() == SHOWN as usize)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let selected = |value: &str, chosen: Option<&str>| chosen == Some(value);
    page(
        "Audit trail",
        Section::Audit,
        Some(&operator.csrf),
        html! {
            h1 { "Audit trail" }
            p.muted { "What the host did and for whom: data-plane calls, the requests sent to systems, uses of a connection's secrets (never their values), write decisions, admin actions and MCP tool calls, newest first. Export a range as JSON Lines with " code { "GET /v1/audit/export" } "." }
            @if !state.audit.on() {
                p.card.notice role="status" { "Recording is off (" code { "--audit-log off" } "): the entries below are older." }
            }
            form.search.card method="get" action="/dashboard/audit" role="search" {
                div {
                    label for="kind" { "Kind" }
                    select #kind name="kind" {
                        option value="" { "Every kind" }
                        @for (kind, label) in KINDS {
                            option value=(kind.as_str()) selected[selected(kind.as_str(), filter.kind.map(AuditKind::as_str))] { (label) }
                        }
                    }
                }
                div {
                    label for="outcome" { "Outcome" }
                    select #outcome name="outcome" {
                        option value="" { "Every outcome" }
                        @for (outcome, label) in OUTCOMES {
                            option value=(outcome.as_str()) selected[selected(outcome.as_str(), filter.outcome.map(AuditOutcome::as_str))] { (label) }
                        }
                    }
                }
                div {
                    label for="request_id" { "Request id" }
                    input #request_id type="text" name="request_id" value=[filter.request_id.as_deref()]
                        placeholder="0193…" autocomplete="off";
                }
                @if let Some(c) = &filter.connection_id { input type="hidden" name="connection" value=(c); }
                button type="submit" { "Find" }
                a href="/dashboard/audit" { "Show all" }
            }
            @if entries.is_empty() {
                p.card role="status" { "No entries." }
            } @else {
                table {
                    thead { tr { th { "At" } th { "Kind" } th { "What" } th { "Outcome" } th { "Who" } th { "Connection" } } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td.small { (when(from_micros(e.at_us))) }
                                td.small { (e.kind.as_str()) }
                                td.small { code { (e.action) } div.muted { a href={ "/dashboard/audit?request_id=" (e.request_id) } { code { (e.request_id) } } } }
                                td.small { (e.outcome.as_str()) }
                                td.small { code { (e.actor) } }
                                td.small {
                                    @if let Some(c) = e.connection_id.as_deref().and_then(|c| connections.get(c)) {
                                        a href=(connection_path(c, &[])) { (c.account_name) }
                                    } @else if let Some(id) = &e.connection_id {
                                        code { (id) }
                                    } @else { span.muted { "none" } }
                                }
                            }
                        }
                    }
                }
                @if let Some(seq) = older {
                    p { a href={ "/dashboard/audit?before=" (seq)
                        @if let Some(k) = filter.kind { "&kind=" (k.as_str()) }
                        @if let Some(o) = filter.outcome { "&outcome=" (o.as_str()) }
                        @if let Some(c) = &filter.connection_id { "&connection=" (c) }
                        @if let Some(r) = &filter.request_id { "&request_id=" (r) } } { "Older entries" } }
                }
            }
        },
    )
    .into_response()
}
