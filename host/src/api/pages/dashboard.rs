//! The operator's dashboard: signing in, the connections with their status
//! and last error, and on a connection's page its tokens ([`super::tokens`]),
//! Disconnect, Delete stored data and Reconnect (a connect link for the
//! customer).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::connection::{confirm, find, not_found};
use super::layout::{self, Section, connection_path, page, status_badge, when, with_query};
use super::session::{self, CsrfForm, Operator, internal};
use crate::api::AppState;
use crate::api::auth::key_hash;
use crate::connections::Status;
use crate::storage::Connection;

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    admin_key: String,
}

fn sign_in_page(error: Option<&str>) -> Markup {
    page(
        "Sign in",
        Section::None,
        None,
        html! {
            div.card.narrow {
                h1 { "Sign in to Interlink" }
                @if let Some(error) = error {
                    p.notice.error role="alert" { (error) }
                }
                form method="post" action="/dashboard/sign-in" {
                    label for="admin_key" { "Admin key"
                        span.hint { "In " code { "admin.key" } " in the host's data folder; printed when the host first started." }
                    }
                    input #admin_key type="password" name="admin_key" autocomplete="current-password" required autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub async fn sign_in_form() -> Markup {
    sign_in_page(None)
}

/// Wrong admin keys one client address may send a minute (a burst of as
/// many); past them, every sign-in from it, with a right key too, is refused
/// (429) until its bucket refills, one attempt every 6 seconds.
const FAILED_SIGN_INS_PER_MINUTE: u32 = 10;
/// Addresses whose failures are remembered before the full buckets (those
/// that have not failed for a minute) are forgotten.
const SIGN_IN_ADDRESSES_KEPT: usize = 10_000;

/// Whose sign-in attempts count together: an IPv4 address, or an IPv6
/// address's /64 (one client's whole network, whose addresses it may pick
/// from freely).
fn sign_in_bucket(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// `POST /dashboard/sign-in`: checks the admin key, throttled per client
/// address ([`FAILED_SIGN_INS_PER_MINUTE`]).
///
/// An attempt takes one from the address's bucket before the key is
/// compared and gives it back if the key was right, so that attempts sent
/// at once cannot pass the limit together, and a throttled address learns
/// nothing of the keys it sends.
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Form(form): Form<SignInForm>,
) -> Response {
    let bucket = sign_in_bucket(client.ip());
    let now = Instant::now();
    let attempts = &state.sign_in_attempts;
    if let Err(wait) = attempts.take(&bucket, FAILED_SIGN_INS_PER_MINUTE, now) {
        return too_many_sign_ins(wait);
    }
    if key_hash(form.admin_key.trim()) != state.admin_key_hash {
        tracing::warn!(client = %client.ip(), "a dashboard sign-in with a wrong admin key");
        attempts.forget_full(FAILED_SIGN_INS_PER_MINUTE, now, SIGN_IN_ADDRESSES_KEPT);
        return (
            StatusCode::UNAUTHORIZED,
            sign_in_page(Some("That is not this host's admin key.")),
        )
            .into_response();
    }
    attempts.give_back(&bucket, FAILED_SIGN_INS_PER_MINUTE);
    match session::sign_in(&state).await {
        Ok(jar) => (jar, Redirect::to("/dashboard")).into_response(),
        Err(page) => page,
    }
}

/// 429, as a page, with `Retry-After`.
fn too_many_sign_ins(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string())],
        layout::message(
            "Too many sign-in attempts",
            &format!(
                "Too many wrong admin keys came from your address. Try again in {seconds} seconds."
            ),
        ),
    )
        .into_response()
}

pub async fn sign_out(
    operator: Operator,
    State(state): State<AppState>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    operator.sign_out(&state).await
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// Every connection, newest first, filtered by status.
pub async fn connections(
    operator: Operator,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Response {
    let connections = &state.connections;
    let (all, used) = match tokio::try_join!(connections.list(), connections.credits_used()) {
        Ok(found) => found,
        Err(e) => return internal(&e),
    };
    let filter = query.status.as_deref().filter(|s| !s.is_empty());
    let shown: Vec<&Connection> = all
        .iter()
        .filter(|c| filter.is_none_or(|f| c.status.as_str() == f))
        .collect();
    let total = state.connections.credits();
    let adapters: Vec<String> = state
        .registry
        .loaded()
        .iter()
        .map(|l| l.adapter.id().to_string())
        .collect();
    let filters = [
        (None, "All"),
        (Some("active"), "Active"),
        (Some("requires_reauthorization"), "Requires reauthorization"),
        (Some("disconnected"), "Disconnected"),
    ];
    page(
        "Connections",
        Section::Connections,
        Some(&operator.csrf),
        html! {
            h1 { "Connections" }
            p.muted { (used) " of " (total) " connection credits in use." }
            nav.filters aria-label="Filter by status" {
                @for (value, label) in filters {
                    a href=(value.map(|v| with_query("/dashboard", &[("status", v)])).unwrap_or_else(|| "/dashboard".into()))
                      aria-current=[(filter == value).then_some("page")] { (label) }
                }
            }
            @if shown.is_empty() {
                p.card { "No connections" @if filter.is_some() { " with this status" } "." }
            } @else {
                table {
                    thead { tr { th { "Connection" } th { "Status" } th { "Adapter" } th { "Last error" } th { "Permissions" } } }
                    tbody {
                        @for c in &shown {
                            tr {
                                td {
                                    a href=(connection_path(c, &[])) { (c.account_name) }
                                    div.small.muted { code { (c.id) } }
                                }
                                td {
                                    (status_badge(c.status))
                                    @if let Some(reason) = &c.status_reason { div.small { (reason) } }
                                }
                                td { (c.adapter_id) " " span.muted { (c.adapter_version) } }
                                td.small {
                                    @if let Some(e) = &c.last_error {
                                        code { (e.code) } " " (e.message)
                                        div.muted { (when(e.at)) " · request " code { (e.request_id) } }
                                    } @else { span.muted { "none" } }
                                }
                                td { (c.permissions.len()) }
                            }
                        }
                    }
                }
            }
            h2 { "Connect a customer" }
            form.card method="post" action="/dashboard/connect-sessions" {
                input type="hidden" name="csrf" value=(operator.csrf);
                label for="adapter" { "Adapter"
                    span.hint { "The customer gets a link to a page where they enter their own credentials; the link works once, for an hour." }
                }
                select #adapter name="adapter" {
                    @for id in &adapters { option value=(id) { (id) } }
                }
                button type="submit" { "Create a connect link" }
            }
        },
    )
    .into_response()
}

/// One connection: status and why, last error, account, permissions,
/// config, stored records; Disconnect, Delete stored data, Reconnect.
pub async fn connection(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let c = match find(&state, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let records = match state.connections.record_counts(&id).await {
        Ok(records) => records,
        Err(e) => return internal(&e),
    };
    let tokens = match state.connections.tokens(&id).await {
        Ok(tokens) => tokens,
        Err(e) => return internal(&e),
    };
    page(
        &c.account_name,
        Section::Connections,
        Some(&operator.csrf),
        html! {
            p.small { a href="/dashboard" { "← Connections" } }
            h1 { (c.account_name) " " (status_badge(c.status)) }
            @if c.status == Status::RequiresReauthorization {
                p.notice.warn role="status" {
                    "The system rejected this connection's credentials. The customer needs to reconnect: "
                    "create a connect link below and send it to them."
                }
            }
            div.card {
                dl {
                    dt { "Connection" } dd { code { (c.id) } }
                    dt { "Account" } dd { (c.account_name) " " span.muted { "(" (c.account_id) ")" } }
                    dt { "Adapter" } dd { (c.adapter_id) " " (c.adapter_version) }
                    dt { "Status" } dd {
                        (status_badge(c.status)) " since " (when(c.status_changed_at))
                        @if let Some(reason) = &c.status_reason { div { (reason) } }
                    }
                    dt { "Last error" } dd {
                        @if let Some(e) = &c.last_error {
                            code { (e.code) } " " (e.message)
                            div.small.muted { (when(e.at)) " · request id " code { (e.request_id) } }
                        } @else { span.muted { "none" } }
                    }
                    dt { "Created" } dd { (when(c.created_at)) }
                    @if let Some(at) = c.disconnected_at { dt { "Disconnected" } dd { (when(at)) } }
                    dt { "Config" } dd {
                        @for (k, v) in &c.config { div { code { (k) } " = " (v) } }
                    }
                    dt { "Stored records" } dd {
                        @if records.is_empty() { span.muted { "none" } }
                        @for (entity, n) in &records { div { (entity) ": " (n) } }
                    }
                    dt { "Permissions" } dd.small {
                        @if c.permissions.is_empty() { span.muted { "none" } }
                        @for p in &c.permissions { code { (p) } " " }
                    }
                }
            }
            p {
                a href=(with_query("/dashboard/syncs", &[("connection", &c.id)])) { "Syncs" } " · "
                a href=(with_query("/dashboard/webhooks", &[("connection", &c.id)])) { "Webhooks" } " · "
                a href=(with_query("/dashboard/requests", &[("connection", &c.id)])) { "Failed requests" }
            }
            (super::tokens::section(&c, &tokens, &operator.csrf))
            (super::mappings::section(&state, &c, &operator.csrf))
            h2 { "Actions" }
            div.card {
                @if c.status != Status::Disconnected {
                    a href=(connection_path(&c, &["disconnect"])) { "Disconnect…" }
                    " · "
                }
                a href=(connection_path(&c, &["delete-data"])) { "Delete stored data…" }
                form #reconnect method="post" action="/dashboard/connect-sessions" {
                    input type="hidden" name="csrf" value=(operator.csrf);
                    input type="hidden" name="adapter" value=(c.adapter_id);
                    input type="hidden" name="replaces" value=(c.id);
                    button.secondary type="submit" { "Reconnect: create a connect link" }
                    span.hint { "The customer connects again with new credentials; this connection is disconnected once they succeed, and its credit passes to the new one." }
                }
            }
        },
    )
    .into_response()
}

pub async fn disconnect_form(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let c = match find(&state, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let what = html! {
        p { "Disconnect " strong { (c.account_name) } " (" code { (c.id) } ")? At once:" }
        ul {
            li { "its API token stops working;" }
            li { "its scheduled syncs and webhooks stop;" }
            li { "its connection credit returns to the pool." }
        }
        p { "Its stored data is kept until you delete it. Disconnecting cannot be undone: to connect again, the customer makes a new connection, with a new token." }
    };
    confirm(&operator, &c, (&["disconnect"], "Disconnect"), what)
}

pub async fn disconnect(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    match state.connections.disconnect(&id).await {
        Ok(Some(c)) => {
            let actor = operator.actor();
            state
                .audit
                .admin(&actor, "connection.disconnected", Some(&id), json!({}));
            Redirect::to(&connection_path(&c, &[])).into_response()
        }
        Ok(None) => not_found(&id),
        Err(e) => internal(&e),
    }
}

pub async fn delete_data_form(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let c = match find(&state, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let what = html! {
        p { "Delete every record synced for " strong { (c.account_name) } " (" code { (c.id) } ")? The records in the system itself are not touched; the connection keeps its status." }
    };
    confirm(
        &operator,
        &c,
        (&["delete-data"], "Delete stored data"),
        what,
    )
}

pub async fn delete_data(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    let c = match find(&state, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match state.connections.delete_data(&c.id).await {
        Ok(deleted_records) => {
            let detail = json!({"deleted_records": deleted_records});
            let actor = operator.actor();
            state
                .audit
                .admin(&actor, "connection.data_deleted", Some(&c.id), detail);
            Redirect::to(&connection_path(&c, &[])).into_response()
        }
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
pub struct ConnectLinkForm {
    #[serde(default)]
    csrf: String,
    adapter: String,
    #[serde(default)]
    replaces: Option<String>,
}

/// Creates a connect session and shows its link, once.
pub async fn create_connect_link(
    operator: Operator,
    State(state): State<AppState>,
    Form(form): Form<ConnectLinkForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    let replaces = form.replaces.filter(|r| !r.is_empty());
    let created = state
        .connections
        .create_connect_session(
            &form.adapter,
            replaces.clone(),
            None,
            None,
            vec![],
            BTreeMap::new(),
        )
        .await;
    let (session, secret) = match created {
        Ok(created) => created,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                layout::message("No connect link", &e.to_string()),
            )
                .into_response();
        }
    };
    let url = state.public_url(&format!("/connect/{secret}"));
    page(
        "Connect link",
        Section::Connections,
        Some(&operator.csrf),
        html! {
            div.card {
                h1 { "Connect link" }
                p { "Send this link to the customer. It opens a page where they connect their "
                    strong { (session.adapter_id) } " account with their own credentials. It works once, until "
                    (when(session.expires_at)) "." }
                @if let Some(old) = &replaces {
                    p { "When they succeed, connection " code { (old) } " is disconnected and its credit passes to the new one." }
                }
                p.link #connect-link { (url) }
                p.small.muted { "Session " code #connect-session { (session.id) } ". Its connection and token: "
                    code { "GET /v1/connect-sessions/" (session.id) } " and "
                    code { "POST /v1/connect-sessions/" (session.id) "/token" } "." }
                p { a href="/dashboard" { "Back to connections" } }
            }
        },
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_ins_count_by_ipv4_address_or_ipv6_network() {
        let bucket = |ip: &str| sign_in_bucket(ip.parse().unwrap());
        assert_eq!(bucket("192.0.2.7"), "192.0.2.7");
        assert_eq!(bucket("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(bucket("2001:db8:1:2:a::1"), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
        assert_ne!(bucket("2001:db8:1:3::1"), bucket("2001:db8:1:2::1"));
    }
}
