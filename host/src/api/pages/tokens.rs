//! A connection's tokens on its dashboard page: each with its scopes,
//! expiry, last use and state; issuing one (shown once) and revoking one
//! (after a confirmation). The same service as the admin API
//! ([`crate::connections::Connections::issue_token`] and its siblings).

use std::time::SystemTime;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::connection::{confirm, find};
use super::layout::{self, Section, connection_path, page, path, when};
use super::session::{CsrfForm, Operator, internal};
use crate::api::AppState;
use crate::code::Code;
use crate::connections::Status;
use crate::connections::tokens::{NewToken, TokenError};
use crate::storage::{Connection, StoredToken};

/// The tokens section of connection `c`'s page.
pub fn section(c: &Connection, tokens: &[StoredToken], csrf: &str) -> Markup {
    let now = SystemTime::now();
    html! {
        h2 { "Tokens" }
        div.card {
            table #tokens {
                thead { tr { th { "Name" } th { "Scopes" } th { "Expires" } th { "Last used" } th { "State" } } }
                tbody {
                    @for t in tokens {
                        tr data-token=(t.id) {
                            td { (t.name) div.small.muted { code { (t.id) } } }
                            td.small { @for s in &t.scopes { code { (s) } " " } }
                            td { @match t.expires_at { Some(at) => (when(at)), None => span.muted { "never" } } }
                            td { @match t.last_used_at { Some(at) => (when(at)), None => span.muted { "never" } } }
                            td {
                                @if let Some(at) = t.revoked_at {
                                    span.muted { "revoked " (when(at)) }
                                } @else if t.expires_at.is_some_and(|at| at <= now) {
                                    span.muted { "expired" }
                                } @else {
                                    "active · "
                                    a.revoke href=(connection_path(c, &["tokens", &t.id, "revoke"])) { "Revoke…" }
                                }
                            }
                        }
                    }
                }
            }
            @if c.status != Status::Disconnected {
                form #issue-token method="post" action=(connection_path(c, &["tokens"])) {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="token-name" { "Name" }
                    input #token-name name="name" required maxlength="100" placeholder="reporting";
                    label for="token-scopes" { "Scopes" }
                    input #token-scopes name="scopes" placeholder="every scope; or e.g. read vendors:write";
                    label for="token-expires" { "Expires" }
                    input #token-expires name="expires_at" placeholder="never; or e.g. 2027-01-31T00:00:00Z";
                    button.secondary type="submit" { "Issue a token" }
                    span.hint { "Scopes: read, write, passthrough, syncs, webhooks, audit, upstream, or an entity's read or write (vendors:read). The token is shown once." }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// Scopes separated by spaces or commas; every scope when empty.
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    expires_at: String,
}

/// Issues a token and shows it, once.
pub async fn issue(
    operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<IssueForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    let scopes: Vec<String> = form
        .scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let new = NewToken {
        name: form.name,
        scopes: (!scopes.is_empty()).then_some(scopes),
        expires_at: Some(form.expires_at.trim().to_string()).filter(|e| !e.is_empty()),
    };
    let (token, secret) = match state.connections.issue_token(&id, new).await {
        Ok(issued) => {
            let detail =
                json!({"token_id": issued.0.id, "name": issued.0.name, "scopes": issued.0.scopes});
            let actor = operator.actor();
            state.audit.admin(&actor, "token.issued", Some(&id), detail);
            issued
        }
        Err(TokenError::Storage(e)) => return internal(&e),
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                layout::message("No token", &e.to_string()),
            )
                .into_response();
        }
    };
    page(
        "New token",
        Section::Connections,
        Some(&operator.csrf),
        html! {
            div.card {
                h1 { "Token " (token.name) }
                p { "Give this token to the application that uses the connection. It is shown once: only its hash is kept." }
                p.link #new-token { (secret) }
                p.small.muted { "Scopes: " @for s in &token.scopes { code { (s) } " " } }
                p { a href=(path(&["dashboard", "connections", &token.connection_id])) { "Back to the connection" } }
            }
        },
    )
    .into_response()
}

/// The confirmation of a revocation: only for a stored token of a stored
/// connection (404 otherwise), its form built from their stored ids.
pub async fn revoke_form(
    operator: Operator,
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
) -> Response {
    let c = match find(&state, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let t = match state.connections.tokens(&c.id).await {
        Ok(tokens) => tokens.into_iter().find(|t| t.id == token),
        Err(TokenError::Storage(e)) => return internal(&e),
        Err(e) => return no_such_token(&e),
    };
    let Some(t) = t else {
        return no_such_token(&TokenError::UnknownToken {
            connection: c.id,
            token,
        });
    };
    let what = html! {
        p { "Revoke token " code { (t.id) } " (" (t.name) ") of " strong { (c.account_name) } "? The very next request with it is refused (401 "
            code { (Code::TokenInvalid) } "). The connection and its other tokens, syncs, webhooks and stored data stay." }
    };
    confirm(
        &operator,
        &c,
        (&["tokens", &t.id, "revoke"], "Revoke token"),
        what,
    )
}

fn no_such_token(e: &TokenError) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout::message("No such token", &e.to_string()),
    )
        .into_response()
}

pub async fn revoke(
    operator: Operator,
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check(&form.csrf) {
        return refused.into_response();
    }
    match state.connections.revoke_token(&id, &token).await {
        Ok(t) => {
            let actor = operator.actor();
            state.audit.admin(
                &actor,
                "token.revoked",
                Some(&id),
                json!({"token_id": token}),
            );
            Redirect::to(&path(&["dashboard", "connections", &t.connection_id])).into_response()
        }
        Err(TokenError::Storage(e)) => internal(&e),
        Err(e) => no_such_token(&e),
    }
}
