//! After connecting through a link that asks for fields: which of the
//! account's fields holds each field the operator's application needs.

use std::collections::BTreeMap;

use axum::Extension;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::json;

use super::{audit, connected, page_of, refused};
use crate::api::AppState;
use crate::api::pages::session::internal;
use crate::api::request_id::RequestId;
use crate::connections::Connection;
use crate::connections::connect_sessions::{ConnectSession, ConnectSessionError, FieldRequest};
use crate::connections::mappings::{MappingError, account_fields};
use crate::manifest::{Field, FieldAccess, FieldType};

/// After connecting: for each field the link asks for, which of the
/// account's fields holds it (those the application writes, among the
/// fields the system lets the API write).
pub(super) fn fields_page(
    state: &AppState,
    secret: &str,
    session: &ConnectSession,
    connection: &Connection,
    problem: Option<&str>,
) -> Response {
    let manifest = state
        .registry
        .get(&session.adapter_id)
        .map(|adapter| adapter.manifest().clone());
    let candidates = |request: &FieldRequest| -> Vec<Field> {
        let Some(entity) = manifest.as_ref().and_then(|m| m.entity(&request.entity)) else {
            return Vec::new();
        };
        entity
            .fields
            .iter()
            .cloned()
            .chain(account_fields(connection, &request.entity))
            .filter(|f| f.kind != FieldType::Object)
            .filter(|f| !request.writable || f.access != FieldAccess::ReadOnly)
            .collect()
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        div.card.wide {
            h1 { "Your fields" }
            p.notice.ok role="status" { "Your account " strong { (connection.account_name) } " is connected." }
            @if let Some(text) = problem {
                div.notice.error role="alert" { p.flush { (text) } }
            }
            p { "Which of your fields holds each of these? Leave one unset if your system does not have it." }
            form #map-fields method="post" action=(format!("/connect/{secret}/fields")) {
                @for (i, request) in session.field_requests.iter().enumerate() {
                    label for=(format!("field-{i}")) { (request.label) }
                    select id=(format!("field-{i}")) name=(format!("field_{i}")) {
                        option value="" { "Not in my system" }
                        @for f in candidates(request) {
                            option value=(f.name) {
                                (f.name)
                                @if !f.description.is_empty() { " (" (f.description) ")" }
                            }
                        }
                    }
                }
                button type="submit" { "Save" }
            }
        }
    };
    (status, page_of(state, "Your fields", body)).into_response()
}

/// `POST /connect/{secret}/fields`: the customer's picks, each the field
/// `field_{i}` holds for the link's `i`-th requested field.
pub async fn map_fields(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    request_id: Option<Extension<RequestId>>,
    Form(picked): Form<BTreeMap<String, String>>,
) -> Response {
    let session = match state.connections.connect_session_by_link(&secret).await {
        Ok(Some(session)) => session,
        Ok(None) => return refused(&state, &ConnectSessionError::Unknown),
        Err(e) => return internal(&e),
    };
    let choices: Vec<(usize, String)> = (0..session.field_requests.len())
        .filter_map(|i| {
            let source = picked.get(&format!("field_{i}"))?.trim();
            (!source.is_empty()).then(|| (i, source.to_string()))
        })
        .collect();
    match state
        .connections
        .map_through_session(&secret, choices)
        .await
    {
        Ok(connection) => {
            let detail = json!({"mappings": connection.field_mappings});
            let action = "connection.mappings_set";
            audit(&state, &session, request_id, action, &connection, detail);
            connected(&state, &connection)
        }
        Err(ConnectSessionError::Mapping(MappingError::Invalid(violations))) => {
            let connection = match session.connection_id.as_deref() {
                Some(id) => state.connections.get(id).await.ok().flatten(),
                None => None,
            };
            let Some(connection) = connection else {
                return refused(&state, &ConnectSessionError::Used);
            };
            let text: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
            fields_page(
                &state,
                &secret,
                &session,
                &connection,
                Some(&text.join("; ")),
            )
        }
        Err(e @ ConnectSessionError::InvalidFieldRequest(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page_of(
                &state,
                "Not saved",
                html! { div.card.wide role="alert" { h1 { "Not saved" } p { (e.to_string()) } } },
            ),
        )
            .into_response(),
        Err(e) => refused(&state, &e),
    }
}
