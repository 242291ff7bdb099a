//! The dashboard's webhooks: every subscription, and its latest deliveries
//! with each attempt (when, the receiver's answer or the error, how long).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Connections, Section, badge, page, took, when, with_query};
use super::session::{Operator, internal};
use crate::api::AppState;
use crate::storage::webhooks::{Attempt, Delivery, DeliveryStatus, Subscription};

/// Subscriptions shown on one page.
const SUBSCRIPTIONS: usize = 50;
/// Deliveries shown per subscription.
const DELIVERIES: u32 = 10;

#[derive(Deserialize)]
pub struct WebhooksQuery {
    connection: Option<String>,
}

fn delivery_badge(status: DeliveryStatus) -> Markup {
    match status {
        DeliveryStatus::Pending => badge("warn", "Pending"),
        DeliveryStatus::Delivered => badge("ok", "Delivered"),
        DeliveryStatus::Failed => badge("bad", "Failed"),
        DeliveryStatus::Dropped => badge("off", "Dropped"),
    }
}

fn attempt(a: &Attempt) -> Markup {
    html! {
        li {
            (when(a.at)) ": "
            @match (a.status_code, &a.error) {
                (Some(code), _) => { "answered " strong { (code) } }
                (None, Some(error)) => { (error) }
                (None, None) => { "no answer" }
            }
            span.muted { " in " (took(std::time::Duration::from_millis(a.duration_ms))) }
        }
    }
}

fn deliveries(list: &[(Delivery, Vec<Attempt>)]) -> Markup {
    html! {
        @if list.is_empty() {
            p.muted.small { "No deliveries yet." }
        } @else {
            table {
                thead { tr { th { "Created" } th { "Event" } th { "Status" } th { "Attempts" } } }
                tbody {
                    @for (d, attempts) in list {
                        tr {
                            td.small { (when(d.created_at)) div.muted { code { (d.id) } } }
                            td { code { (d.event) } }
                            td {
                                (delivery_badge(d.status))
                                @if d.status == DeliveryStatus::Pending {
                                    div.small.muted { "next attempt " (when(d.next_attempt_at)) }
                                }
                            }
                            td.small {
                                @if attempts.is_empty() { span.muted { "none yet" } } @else {
                                    // Open while it has not been delivered.
                                    details open[d.status != DeliveryStatus::Delivered] {
                                        summary { (attempts.len()) " attempt" @if attempts.len() != 1 { "s" } }
                                        ol.attempts { @for a in attempts { (attempt(a)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Every subscription (of one connection, with `?connection=`) with its
/// latest deliveries.
pub async fn list(
    operator: Operator,
    State(state): State<AppState>,
    Query(query): Query<WebhooksQuery>,
) -> Response {
    let only = query.connection.as_deref().filter(|c| !c.is_empty());
    let (subscriptions, connections) =
        match tokio::try_join!(state.webhooks.all_subscriptions(), state.connections.list()) {
            Ok(found) => found,
            Err(e) => return internal(&e),
        };
    let subscriptions: Vec<Subscription> = subscriptions
        .into_iter()
        .filter(|s| only.is_none_or(|c| s.connection_id == c))
        .collect();
    let mut shown = Vec::new();
    for s in subscriptions.iter().take(SUBSCRIPTIONS) {
        match state.webhooks.deliveries(&s.id, DELIVERIES).await {
            Ok(list) => shown.push((s, list)),
            Err(e) => return internal(&e),
        }
    }
    let connections = Connections::new(&connections);
    let name = |id: &str| connections.name(id).to_string();
    let title = match only {
        Some(id) => format!("Webhooks of {}", name(id)),
        None => "Webhooks".to_string(),
    };
    page(
        &title,
        Section::Webhooks,
        Some(&operator.csrf),
        html! {
            h1 { (title) }
            @if only.is_some() { p.small { a href="/dashboard/webhooks" { "All connections" } } }
            @if subscriptions.is_empty() {
                p.card { "No webhook subscriptions. A connection subscribes with "
                    code { "POST /v1/webhooks" } " and its token." }
            }
            @if subscriptions.len() > SUBSCRIPTIONS {
                p.muted { "The first " (SUBSCRIPTIONS) " of " (subscriptions.len()) " subscriptions; "
                    "pick a connection to see its own." }
            }
            @for (s, list) in &shown {
                section.card aria-labelledby=(format!("subscription-{}", s.id)) {
                    h2.flush #(format!("subscription-{}", s.id)) { code { (s.url) } }
                    dl {
                        dt { "Connection" } dd {
                            a href=(with_query("/dashboard/webhooks", &[("connection", &s.connection_id)])) { (name(&s.connection_id)) }
                        }
                        dt { "Events" } dd { @for e in &s.events { code { (e) } " " } }
                        dt { "Subscription" } dd { code { (s.id) } " · since " (when(s.created_at)) }
                    }
                    h3.small.muted { "Latest deliveries" }
                    (deliveries(list))
                }
            }
        },
    )
    .into_response()
}
