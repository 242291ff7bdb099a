//! The operator's dashboard: signing in, the connections with their status
//! and last error, and on a connection's page its tokens ([`super::tokens`]),
//! Disconnect, Delete stored data and Reconnect (a connect link for the
//! customer).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Section, page, status_badge, when};
use super::session::{self, Operator, internal};
use crate::api::AppState;
use crate::api::auth::key_hash;
use crate::connections::Status;
use crate::storage::Connection;

/// A form that carries nothing but the session's CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

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
            div.card style="max-width:32rem" {
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

pub async fn sign_in(State(state): State<AppState>, Form(form): Form<SignInForm>) -> Response {
    if key_hash(form.admin_key.trim()) != state.admin_key_hash {
        return (
            StatusCode::UNAUTHORIZED,
            sign_in_page(Some("That is not this host's admin key.")),
        )
            .into_response();
    }
    match session::sign_in(&state).await {
        Ok(jar) => (jar, Redirect::to("/dashboard")).into_response(),
        Err(page) => page,
    }
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
    let storage = state.connections().storage();
    let (all, used) = match (storage.connections().await, storage.credits_used().await) {
        (Ok(all), Ok(used)) => (all, used),
        (Err(e), _) | (_, Err(e)) => return internal(&e),
    };
    let filter = query.status.as_deref().filter(|s| !s.is_empty());
    let shown: Vec<&Connection> = all
        .iter()
        .filter(|c| filter.is_none_or(|f| c.status.as_str() == f))
        .collect();
    let total = state.connections().credits();
    let adapters: Vec<String> = state
        .registry()
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
                    a href=(value.map(|v| format!("/dashboard?status={v}")).unwrap_or_else(|| "/dashboard".into()))
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
                                    a href=(format!("/dashboard/connections/{}", c.id)) { (c.account_name) }
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

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout::message(
            "No such connection",
            &format!("There is no connection `{id}`."),
        ),
    )
        .into_response()
}

pub(super) async fn find(state: &AppState, id: &str) -> Result<Connection, Response> {
    match state.connections().storage().connection(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(not_found(id)),
        Err(e) => Err(internal(&e)),
    }
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
    let records = match state.connections().storage().record_counts(&id).await {
        Ok(records) => records,
        Err(e) => return internal(&e),
    };
    let tokens = match state.connections().tokens(&id).await {
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
                a href=(format!("/dashboard/syncs?connection={}", c.id)) { "Syncs" } " · "
                a href=(format!("/dashboard/webhooks?connection={}", c.id)) { "Webhooks" } " · "
                a href=(format!("/dashboard/requests?connection={}", c.id)) { "Failed requests" }
            }
            (super::tokens::section(&c, &tokens, &operator.csrf))
            h2 { "Actions" }
            div.card {
                @if c.status != Status::Disconnected {
                    a href=(format!("/dashboard/connections/{}/disconnect", c.id)) { "Disconnect…" }
                    " · "
                }
                a href=(format!("/dashboard/connections/{}/delete-data", c.id)) { "Delete stored data…" }
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

/// A confirmation page for `action` on connection `id`: `what` says what
/// will happen, and its button confirms.
pub(super) async fn confirm(
    operator: Operator,
    state: &AppState,
    id: &str,
    (action, title): (&str, &str),
    what: impl FnOnce(&Connection) -> Markup,
) -> Response {
    let c = match find(state, id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    page(
        title,
        Section::Connections,
        Some(&operator.csrf),
        html! {
            div.card style="max-width:40rem" {
                h1 { (title) }
                (what(&c))
                form method="post" action=(format!("/dashboard/connections/{}/{action}", c.id)) {
                    input type="hidden" name="csrf" value=(operator.csrf);
                    button.danger type="submit" { (title) }
                    " "
                    a href=(format!("/dashboard/connections/{}", c.id)) { "Cancel" }
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
    confirm(operator, &state, &id, ("disconnect", "Disconnect"), |c| {
        html! {
            p { "Disconnect " strong { (c.account_name) } " (" code { (c.id) } ")? At once:" }
            ul {
                li { "its API token stops working;" }
                li { "its scheduled syncs and webhooks stop;" }
                li { "its connection credit returns to the pool." }
            }
            p { "Its stored data is kept until you delete it. Disconnecting cannot be undone: to connect again, the customer makes a new connection, with a new token." }
        }
    })
    .await
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
    match state.connections().disconnect(&id).await {
        Ok(Some(_)) => Redirect::to(&format!("/dashboard/connections/{id}")).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => internal(&e),
    }
}

pub async fn delete_data_form(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    confirm(operator, &state, &id, ("delete-data", "Delete stored data"), |c| {
        html! {
            p { "Delete every record synced for " strong { (c.account_name) } " (" code { (c.id) } ")? The records in the system itself are not touched; the connection keeps its status." }
        }
    })
    .await
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
    if let Err(page) = find(&state, &id).await {
        return page;
    }
    match state.connections().delete_data(&id).await {
        Ok(_) => Redirect::to(&format!("/dashboard/connections/{id}")).into_response(),
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
        .connections()
        .create_connect_session(&form.adapter, replaces.clone(), None)
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
