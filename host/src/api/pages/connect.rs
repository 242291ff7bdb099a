//! The customer's connect page: a form generated from the adapter's config
//! fields, reached through a connect link (`connections::connect_sessions`).
//! Secrets are password fields; a private key is a file upload, or the
//! host's platform certificate (downloadable here, to upload to the
//! system) when the operator bound the link to the customer's account. The
//! result is said in plain words; the token goes to the operator, never to
//! this page.
//!
//! The link holder is not trusted: the page never relays what the system
//! (or whatever answered at the address they typed) said, nor a transport
//! or database error. It says a coarse cause ("could not reach the
//! system", "the system did not accept these credentials") and the log
//! keeps the detail, with the session's id.

use crate::api::request_id::RequestId;
use crate::audit::Actor;
use std::collections::BTreeMap;

use axum::Extension;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::layout::{self, Section, page};
use super::session::internal;
use crate::api::AppState;
use crate::connections::connect_sessions::{ConnectSession, ConnectSessionError, FieldRequest};
use crate::connections::mappings::{MappingError, account_fields};
use crate::connections::{ConnectError, Connection};
use crate::manifest::{ConfigField, ConfigType, Field, FieldAccess, FieldType};

/// The largest value of one form field (a PEM key is a few KiB).
const MAX_FIELD_BYTES: usize = 64 << 10;
/// The largest whole form.
pub const MAX_FORM_BYTES: usize = 256 << 10;

/// What the customer typed, by field name (secrets are never sent back).
type Values = BTreeMap<String, String>;

/// A link that cannot be used, as a page that says what to do.
fn refused(e: &ConnectSessionError) -> Response {
    let (status, title, text) = match e {
        ConnectSessionError::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Connect links work for a limited time. Ask whoever sent it for a new one.",
        ),
        ConnectSessionError::Used => (
            StatusCode::GONE,
            "This link was already used",
            "Each connect link connects one account, once. If you need to connect again, ask \
             whoever sent it for a new one.",
        ),
        ConnectSessionError::Locked => (
            StatusCode::GONE,
            "This link is locked",
            "It had too many failed attempts. Ask whoever sent it for a new one.",
        ),
        ConnectSessionError::Unknown => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that you copied the whole link, or ask whoever sent it for a new one.",
        ),
        other => return internal(other),
    };
    (status, layout::message(title, text)).into_response()
}

async fn open(state: &AppState, secret: &str) -> Result<ConnectSession, Response> {
    state
        .connections
        .open_connect_session(secret)
        .await
        .map_err(|e| refused(&e))
}

fn field_input(
    field: &ConfigField,
    values: &Values,
    bound: Option<&str>,
    certificate: Option<&str>,
) -> Markup {
    let id = format!("f-{}", field.name);
    let hint = html! {
        @if !field.description.is_empty() { span.hint { (field.description) } }
    };
    if field.kind == ConfigType::PrivateKey {
        let file = format!("{}__file", field.name);
        return html! {
            fieldset {
                legend { (field.name) (hint) }
                @if let Some(certificate) = certificate {
                    input #(format!("{id}-platform")) type="radio" name=(format!("{}__source", field.name)) value="platform" checked;
                    label for=(format!("{id}-platform")) { "Use this service's certificate" }
                    span.hint {
                        "Upload "
                        a href=(certificate) download { "its public certificate" }
                        " to your system first (NetSuite: Setup → Integration → OAuth 2.0 Client Credentials)."
                    }
                    br;
                    input #(format!("{id}-own")) type="radio" name=(format!("{}__source", field.name)) value="own";
                    label for=(format!("{id}-own")) { "Use my own key pair" }
                }
                label for=(file) { "Private key (PEM file)"
                    span.hint { "The key of the certificate you uploaded to your system, e.g. made with OpenSSL. It is stored encrypted and never shown again." }
                }
                input #(file) type="file" name=(file) accept=".pem,.key,text/plain";
            }
        };
    }
    let kind = match (field.secret, field.kind) {
        (true, _) => "password",
        (false, ConfigType::Url) => "url",
        (false, ConfigType::Integer) => "number",
        _ => "text",
    };
    let value = match bound {
        Some(bound) => Some(bound.to_string()),
        None => (!field.secret)
            .then(|| values.get(&field.name).cloned())
            .flatten(),
    };
    html! {
        label for=(id) {
            (field.name)
            @if !field.required { " " span.muted { "(optional)" } }
            (hint)
        }
        @if field.kind == ConfigType::Boolean {
            select #(id) name=(field.name) {
                option value="false" { "No" }
                option value="true" selected[value.as_deref() == Some("true")] { "Yes" }
            }
        } @else {
            input #(id) type=(kind) name=(field.name) value=[value] required[field.required]
                readonly[bound.is_some()]
                autocomplete=(if field.secret { "off" } else { "on" });
        }
    }
}

fn form_page(
    state: &AppState,
    secret: &str,
    session: &ConnectSession,
    values: &Values,
    problem: Option<(&str, Vec<String>)>,
) -> Response {
    let Some(adapter) = state.registry.get(&session.adapter_id) else {
        return (
            StatusCode::GONE,
            layout::message(
                "This system is no longer available",
                "The service that sent this link no longer connects to this system. Ask it for help.",
            ),
        )
            .into_response();
    };
    let manifest = adapter.manifest();
    let bound = session.platform_key_for.as_ref();
    let certificate = (state.platform_certificate.is_some() && bound.is_some())
        .then(|| format!("/connect/{secret}/platform-certificate.pem"));
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        div.card.wide {
            h1 { "Connect your " (manifest.name) " account" }
            p.muted { (manifest.description) }
            @if let Some((text, details)) = &problem {
                div.notice.error role="alert" {
                    p.flush { (text) }
                    @if !details.is_empty() { ul { @for d in details { li { (d) } } } }
                }
            }
            form method="post" enctype="multipart/form-data" {
                @for field in &manifest.config {
                    (field_input(
                        field,
                        values,
                        bound.and_then(|b| b.get(&field.name)).map(String::as_str),
                        certificate.as_deref(),
                    ))
                }
                button type="submit" { "Connect" }
            }
            p.small.muted { "Your credentials are checked with " (manifest.name) " and stored encrypted. Whoever sent you this link never sees them." }
        }
    };
    (status, page("Connect", Section::None, None, body)).into_response()
}

/// `GET /connect/{secret}`
pub async fn form(State(state): State<AppState>, Path(secret): Path<String>) -> Response {
    match open(&state, &secret).await {
        Ok(session) => form_page(&state, &secret, &session, &Values::new(), None),
        Err(page) => page,
    }
}

/// `GET /connect/{secret}/platform-certificate.pem`: what the customer
/// uploads to their system to use the host's key pair.
pub async fn platform_certificate(
    State(state): State<AppState>,
    Path(secret): Path<String>,
) -> Response {
    let session = match open(&state, &secret).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    match &state.platform_certificate {
        Some(cert) if session.platform_key_for.is_some() => (
            [
                (header::CONTENT_TYPE, "application/x-pem-file"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"interlink-platform.pem\"",
                ),
            ],
            cert.certificate_pem.clone(),
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            layout::message(
                "No certificate",
                "This link does not offer the service's certificate; use your own key pair.",
            ),
        )
            .into_response(),
    }
}

/// Reads the multipart form: each field's text, bounded.
async fn read_form(mut multipart: Multipart) -> Result<Values, String> {
    let mut values = Values::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(values),
            Err(e) => return Err(format!("the form could not be read: {e}")),
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| format!("the form could not be read: {e}"))?;
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(format!("`{name}` is larger than 64 KiB"));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("`{name}` is not text (a PEM file is)"))?;
        values.insert(name, text);
    }
}

/// The form's values as the connection's config and credentials.
fn split(fields: &[ConfigField], values: &Values) -> (Map<String, Value>, Map<String, Value>) {
    let (mut config, mut credentials) = (Map::new(), Map::new());
    for field in fields {
        let value = if field.kind == ConfigType::PrivateKey {
            let source = values.get(&format!("{}__source", field.name));
            if source.map(String::as_str) == Some("platform") {
                Some("platform".to_string())
            } else {
                values.get(&format!("{}__file", field.name)).cloned()
            }
        } else {
            values.get(&field.name).cloned()
        };
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let home = if field.secret {
            &mut credentials
        } else {
            &mut config
        };
        home.insert(field.name.clone(), Value::String(value.trim().to_string()));
    }
    (config, credentials)
}

/// The connect error in words the customer can act on, and nothing the
/// system or the network said: the log has that (`why`).
fn in_plain_words(e: &ConnectError) -> (String, Vec<String>) {
    match e {
        ConnectError::CredentialsRejected(_) => (
            "The system did not accept these credentials. Check them and try again.".into(),
            vec![],
        ),
        ConnectError::Config(errors) => (
            "Some fields need fixing:".into(),
            errors
                .0
                .iter()
                .map(|f| {
                    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                    format!("{name}: {}", f.message)
                })
                .collect(),
        ),
        ConnectError::NoCredits { .. } => (
            "This service cannot take another connection right now. Tell whoever sent you this link."
                .into(),
            vec![],
        ),
        ConnectError::Call(_) => (
            "The system could not be reached to check these credentials. Check its address, \
             then try again; if it keeps failing, tell whoever sent you this link."
                .into(),
            vec![],
        ),
        _ => (
            "Something went wrong on our side. Try again in a moment; if it keeps failing, tell \
             whoever sent you this link."
                .into(),
            vec![],
        ),
    }
}

/// `POST /connect/{secret}`
pub async fn submit(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    request_id: Option<Extension<RequestId>>,
    multipart: Multipart,
) -> Response {
    let session = match open(&state, &secret).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let values = match read_form(multipart).await {
        Ok(values) => values,
        Err(why) => {
            return form_page(
                &state,
                &secret,
                &session,
                &Values::new(),
                Some((&why, vec![])),
            );
        }
    };
    let Some(adapter) = state.registry.get(&session.adapter_id) else {
        return form_page(&state, &secret, &session, &values, None);
    };
    let (config, credentials) = split(&adapter.manifest().config, &values);
    match state
        .connections
        .connect_through_session(&secret, config, credentials)
        .await
    {
        Ok(connection) => {
            let actor = format!("connect-link:{}", session.id);
            let request_id =
                request_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), |Extension(id)| id.0);
            let by = Actor {
                name: &actor,
                request_id: &request_id,
            };
            let detail = json!({"adapter": connection.adapter_id, "replaces": session.replaces});
            state
                .audit
                .admin(&by, "connection.created", Some(&connection.id), detail);
            if session.field_requests.is_empty() {
                connected(&connection)
            } else {
                fields_page(&state, &secret, &session, &connection, None)
            }
        }
        Err(ConnectSessionError::Connect(e)) => {
            tracing::info!(session = %session.id, adapter = %session.adapter_id, error = %e, "a connect attempt through a link failed");
            let (text, details) = in_plain_words(&e);
            form_page(&state, &secret, &session, &values, Some((&text, details)))
        }
        Err(e) => refused(&e),
    }
}

/// The page that says the account is connected.
fn connected(connection: &Connection) -> Response {
    page(
        "Connected",
        Section::None,
        None,
        html! {
            div.card.wide role="status" {
                h1 { "Connected" }
                p.notice.ok { "Your account " strong { (connection.account_name) } " is connected. You can close this page." }
            }
        },
    )
    .into_response()
}

/// After connecting: for each field the link asks for, which of the
/// account's fields holds it (those the application writes, among the
/// fields the system lets the API write).
fn fields_page(
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
    (status, page("Your fields", Section::None, None, body)).into_response()
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
        Ok(None) => return refused(&ConnectSessionError::Unknown),
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
            let actor = format!("connect-link:{}", session.id);
            let request_id =
                request_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), |Extension(id)| id.0);
            let by = Actor {
                name: &actor,
                request_id: &request_id,
            };
            let detail = json!({"mappings": connection.field_mappings});
            state
                .audit
                .admin(&by, "connection.mappings_set", Some(&connection.id), detail);
            connected(&connection)
        }
        Err(ConnectSessionError::Mapping(MappingError::Invalid(violations))) => {
            let connection = match session.connection_id.as_deref() {
                Some(id) => state.connections.get(id).await.ok().flatten(),
                None => None,
            };
            let Some(connection) = connection else {
                return refused(&ConnectSessionError::Used);
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
            layout::message("Not saved", &e.to_string()),
        )
            .into_response(),
        Err(e) => refused(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: ConfigType, secret: bool) -> ConfigField {
        ConfigField {
            name: name.into(),
            description: String::new(),
            kind,
            secret,
            required: true,
        }
    }

    #[test]
    fn form_values_become_config_and_credentials() {
        let fields = [
            field("base_url", ConfigType::Url, false),
            field("api_key", ConfigType::Text, true),
            field("key", ConfigType::PrivateKey, true),
            field("optional", ConfigType::Text, false),
        ];
        let values: Values = [
            ("base_url", " https://erp.example "),
            ("api_key", "k"),
            ("key__source", "platform"),
            ("key__file", "-----BEGIN PRIVATE KEY-----"),
            ("optional", ""),
            ("unknown", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (config, credentials) = split(&fields, &values);
        assert_eq!(
            config,
            serde_json::json!({"base_url": "https://erp.example"})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(
            credentials,
            serde_json::json!({"api_key": "k", "key": "platform"})
                .as_object()
                .unwrap()
                .clone()
        );
    }
}
