//! The customer's connect page: a form generated from the adapter's config
//! fields, reached through a connect link (`connections::connect_sessions`).
//! Each field is shown by its label, under its group, with its description
//! and an example; fields the operator sets (declared operator-only, or
//! preset by the link) are never inputs. Secrets are password fields; a
//! private key is a file upload, or the host's platform certificate
//! (downloadable here, to upload to the system) when the operator bound the
//! link to the customer's account. A refusal is said next to the field it
//! concerns; the token goes to the operator, never to this page. The
//! operator's brand (`--brand-name`, `--brand-color`, `--brand-logo`) says
//! whom the customer connects to.
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

use super::brand::Brand;
use super::layout::{self, customer_page};
use super::session::internal;
use crate::api::AppState;
use crate::connections::connect_sessions::{ConnectSession, ConnectSessionError, FieldRequest};
use crate::connections::mappings::{MappingError, account_fields};
use crate::connections::{ConnectError, Connection};
use crate::manifest::{
    ConfigField, ConfigSetter, ConfigType, Field, FieldAccess, FieldType, Manifest,
};

/// The largest value of one form field (a PEM key is a few KiB).
const MAX_FIELD_BYTES: usize = 64 << 10;
/// The largest whole form.
pub const MAX_FORM_BYTES: usize = 256 << 10;

/// The connect page's own stylesheet, after the shared one (the page
/// policy allows it by its hash): the brand's header, the steps, grouped
/// fields, errors next to their field, and a layout for narrow screens.
pub const STYLE: &str = r#"
header img.logo { height: 2rem; width: auto; max-width: 10rem; }
header span.brand { font-weight: 700; font-size: 1.05rem; }
ol.steps { margin: .25rem 0 0; padding-left: 1.25rem; } ol.steps li { margin: .25rem 0; }
section.before { border-left: 3px solid var(--accent); padding: .1rem 0 .1rem 1rem; margin: 1rem 0; }
section.before h2 { margin-top: 0; }
fieldset.group { border: 0; padding: 0; margin: 1.5rem 0 0; }
fieldset.group > legend { font-weight: 700; font-size: 1.05rem; padding: 0; }
fieldset.group label { display: block; font-weight: 600; margin: .9rem 0 .25rem; }
fieldset.key { margin: .9rem 0 0; padding: .5rem .9rem .9rem; }
fieldset.key > legend { font-weight: 600; padding: 0 .25rem; }
fieldset.key .choice { display: flex; gap: .5rem; align-items: baseline; margin: .4rem 0; }
fieldset.key .choice label { margin: 0; font-weight: 400; }
fieldset.key input[type=file] { display: block; margin-top: .25rem; max-width: 100%; }
.field-error { color: var(--bad); font-weight: 600; margin: .3rem 0 0; }
input[aria-invalid=true], select[aria-invalid=true] { border: 2px solid var(--bad); }
dl.presets { margin: 1rem 0 0; }
.actions button { min-width: 10rem; }
@media (max-width: 480px) {
  header { padding: .5rem .9rem; gap: .75rem; }
  main { padding: 0 .6rem; margin: .75rem auto; }
  .card { padding: .9rem .9rem; }
  dl { grid-template-columns: 1fr; gap: 0 0; } dd { margin-bottom: .5rem; }
  .actions button { width: 100%; }
}
"#;

/// What the customer typed, by field name (secrets are never sent back).
type Values = BTreeMap<String, String>;

/// A page of the operator's customer, in the operator's brand.
fn page_of(state: &AppState, title: &str, body: Markup) -> Markup {
    let brand_style = state.brand.style();
    let styles: Vec<&str> = std::iter::once(STYLE)
        .chain(brand_style.as_deref())
        .collect();
    customer_page(&state.brand, title, &styles, body)
}

/// Whom the customer connects to, for sentences.
fn operator(brand: &Brand) -> &str {
    brand
        .name
        .as_deref()
        .unwrap_or("the service that sent you this link")
}

/// A link that cannot be used, as a page that says why and what to do.
fn refused(state: &AppState, e: &ConnectSessionError) -> Response {
    let who = operator(&state.brand);
    let (status, title, text) = match e {
        ConnectSessionError::Expired => (
            StatusCode::GONE,
            "This link has expired",
            format!(
                "Connect links work for a limited time, so that a forgotten link cannot be used \
                 later. Nothing was connected. Ask {who} for a new one."
            ),
        ),
        ConnectSessionError::Used => (
            StatusCode::GONE,
            "This link was already used",
            format!(
                "Each connect link connects one account, once, and this one did. If you need to \
                 connect again, ask {who} for a new one."
            ),
        ),
        ConnectSessionError::Locked => (
            StatusCode::GONE,
            "This link is locked",
            format!("It had too many failed attempts. Ask {who} for a new one."),
        ),
        ConnectSessionError::Unknown => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            format!("Check that you copied the whole link, or ask {who} for a new one."),
        ),
        other => return internal(other),
    };
    let body = html! {
        div.card.wide role="alert" {
            h1 { (title) }
            p { (text) }
        }
    };
    (status, page_of(state, title, body)).into_response()
}

async fn open(state: &AppState, secret: &str) -> Result<ConnectSession, Response> {
    state
        .connections
        .open_connect_session(secret)
        .await
        .map_err(|e| refused(state, &e))
}

/// Why a submission was refused: a sentence for the top of the form, a
/// message next to each field it concerns, and the rest.
#[derive(Debug, Default, PartialEq)]
struct Problem {
    text: String,
    by_field: BTreeMap<String, String>,
    others: Vec<String>,
}

impl Problem {
    fn new(text: impl Into<String>) -> Self {
        Problem {
            text: text.into(),
            ..Problem::default()
        }
    }
}

/// Whether the customer sets `field` on this link's page: not one only the
/// operator sets, nor one the link presets.
fn asks_for(field: &ConfigField, session: &ConnectSession) -> bool {
    field.set_by == ConfigSetter::Customer && !session.presets.contains_key(&field.name)
}

/// `field`'s hint, error and input ids, and the `aria-describedby` of its
/// input.
struct Ids {
    input: String,
    hint: String,
    error: String,
}

impl Ids {
    fn of(field: &ConfigField) -> Ids {
        let input = format!("f-{}", field.name);
        Ids {
            hint: format!("{input}-hint"),
            error: format!("{input}-error"),
            input,
        }
    }

    fn described_by(&self, field: &ConfigField, error: Option<&String>) -> Option<String> {
        let ids: Vec<&str> = [
            (!field.description.is_empty()).then_some(self.hint.as_str()),
            error.map(|_| self.error.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!ids.is_empty()).then(|| ids.join(" "))
    }
}

/// What is shown around every input: its description and its error.
fn hint_and_error(field: &ConfigField, ids: &Ids, error: Option<&String>) -> Markup {
    html! {
        @if !field.description.is_empty() { span.hint id=(ids.hint) { (field.description) } }
        @if let Some(error) = error { p.field-error id=(ids.error) { (error) } }
    }
}

/// One input the customer fills.
fn field_input(
    field: &ConfigField,
    values: &Values,
    certificate: Option<&str>,
    error: Option<&String>,
) -> Markup {
    let ids = Ids::of(field);
    let described_by = ids.described_by(field, error);
    if field.kind == ConfigType::PrivateKey {
        let file = format!("{}__file", field.name);
        let source = format!("{}__source", field.name);
        return html! {
            fieldset.key aria-describedby=[described_by] {
                legend { (field.label) }
                (hint_and_error(field, &ids, error))
                @if let Some(certificate) = certificate {
                    div.choice {
                        input #(format!("{}-platform", ids.input)) type="radio" name=(source) value="platform" checked;
                        label for=(format!("{}-platform", ids.input)) { "Use this service's certificate" }
                    }
                    span.hint {
                        "Upload "
                        a href=(certificate) download { "its public certificate" }
                        " to your system first (NetSuite: Setup > Integration > OAuth 2.0 Client Credentials)."
                    }
                    div.choice {
                        input #(format!("{}-own", ids.input)) type="radio" name=(source) value="own";
                        label for=(format!("{}-own", ids.input)) { "Use my own key pair" }
                    }
                }
                label for=(file) { "Private key file (PEM)" }
                span.hint { "The key of the certificate you uploaded to your system. It is stored encrypted and never shown again." }
                input #(file) type="file" name=(file) accept=".pem,.key,text/plain"
                    aria-invalid=[error.map(|_| "true")];
            }
        };
    }
    let kind = match (field.secret, field.kind) {
        (true, _) => "password",
        (false, ConfigType::Url) => "url",
        (false, ConfigType::Integer) => "number",
        _ => "text",
    };
    let value = (!field.secret)
        .then(|| values.get(&field.name).cloned())
        .flatten();
    html! {
        label for=(ids.input) {
            (field.label)
            @if !field.required { " " span.muted { "(optional)" } }
        }
        (hint_and_error(field, &ids, error))
        @if field.kind == ConfigType::Boolean {
            select #(ids.input) name=(field.name) aria-describedby=[described_by]
                aria-invalid=[error.map(|_| "true")] {
                option value="false" { "No" }
                option value="true" selected[value.as_deref() == Some("true")] { "Yes" }
            }
        } @else {
            input #(ids.input) type=(kind) name=(field.name) value=[value] required[field.required]
                placeholder=[field.placeholder.as_deref()]
                aria-describedby=[described_by] aria-invalid=[error.map(|_| "true")]
                autocomplete=(if field.secret { "off" } else { "on" });
        }
    }
}

/// The config fields in their groups: the untitled group first, then each
/// group in the order its first field is declared.
fn groups<'a>(
    fields: impl Iterator<Item = &'a ConfigField>,
) -> Vec<(&'a str, Vec<&'a ConfigField>)> {
    let mut groups: Vec<(&str, Vec<&ConfigField>)> = vec![("", Vec::new())];
    for field in fields {
        match groups.iter_mut().find(|(name, _)| *name == field.group) {
            Some((_, members)) => members.push(field),
            None => groups.push((&field.group, vec![field])),
        }
    }
    groups.retain(|(_, members)| !members.is_empty());
    groups
}

/// The form's summary of a refusal: the sentence, and a link to each
/// field it concerns.
fn summary(manifest: &Manifest, problem: &Problem) -> Markup {
    let label = |name: &str| {
        manifest
            .config
            .iter()
            .find(|f| f.name == name)
            .map_or(name.to_string(), |f| f.label.clone())
    };
    html! {
        div.notice.error role="alert" {
            p.flush { (problem.text) }
            @if !problem.by_field.is_empty() || !problem.others.is_empty() {
                ul {
                    @for (name, message) in &problem.by_field {
                        li { a href=(format!("#f-{name}")) { (label(name)) } ": " (message) }
                    }
                    @for other in &problem.others { li { (other) } }
                }
            }
        }
    }
}

fn form_page(
    state: &AppState,
    secret: &str,
    session: &ConnectSession,
    values: &Values,
    problem: Option<&Problem>,
) -> Response {
    let Some(adapter) = state.registry.get(&session.adapter_id) else {
        let who = operator(&state.brand);
        let title = "This system is no longer available";
        let body = html! {
            div.card.wide role="alert" {
                h1 { (title) }
                p { "This link connects to a system that " (who) " no longer offers. Ask them for help." }
            }
        };
        return (StatusCode::GONE, page_of(state, title, body)).into_response();
    };
    let manifest = adapter.manifest();
    let certificate = (state.platform_certificate.is_some() && session.platform_key_for.is_some())
        .then(|| format!("/connect/{secret}/platform-certificate.pem"));
    let shown_presets: Vec<(&ConfigField, &str)> = manifest
        .config
        .iter()
        .filter_map(|f| {
            let preset = session.presets.get(&f.name).filter(|p| p.visible)?;
            Some((f, preset.value.as_str()))
        })
        .collect();
    let platform_preset = manifest
        .config
        .iter()
        .find(|f| f.kind == ConfigType::PrivateKey && session.presets.contains_key(&f.name));
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let error_of = |field: &ConfigField| problem.and_then(|p| p.by_field.get(&field.name));
    let body = html! {
        div.card.wide {
            h1 {
                "Connect your " (manifest.name) " account"
                @if let Some(name) = &state.brand.name { " to " (name) }
            }
            p.muted { (manifest.description) }
            @if let Some(problem) = problem { (summary(manifest, problem)) }
            @if !manifest.setup_steps.is_empty() {
                section.before aria-labelledby="before" {
                    h2 #before { "Before you start" }
                    ol.steps { @for step in &manifest.setup_steps { li { (step) } } }
                }
            }
            form method="post" enctype="multipart/form-data" novalidate {
                @for (group, fields) in groups(manifest.config.iter().filter(|f| asks_for(f, session))) {
                    @if group.is_empty() {
                        @for field in fields {
                            (field_input(field, values, certificate.as_deref(), error_of(field)))
                        }
                    } @else {
                        fieldset.group {
                            legend { (group) }
                            @for field in fields {
                                (field_input(field, values, certificate.as_deref(), error_of(field)))
                            }
                        }
                    }
                }
                @if let Some(key) = platform_preset {
                    fieldset.group {
                        legend { (key.label) }
                        p.flush {
                            "Signs with the certificate of " (operator(&state.brand)) ". Upload "
                            @if let Some(certificate) = &certificate { a href=(certificate) download { "its public certificate" } }
                            @else { "its public certificate" }
                            " to your system before you connect."
                        }
                    }
                }
                @if !shown_presets.is_empty() {
                    h2 { "Set by " (operator(&state.brand)) }
                    dl.presets {
                        @for (field, value) in &shown_presets { dt { (field.label) } dd { (value) } }
                    }
                }
                div.actions { button type="submit" { "Connect" } }
            }
            p.small.muted {
                "Your credentials are checked with " (manifest.name) " and stored encrypted. "
                "Whoever sent you this link never sees them."
            }
        }
    };
    let title = format!("Connect {}", manifest.name);
    (status, page_of(state, &title, body)).into_response()
}

/// `GET /connect/{secret}`
pub async fn form(State(state): State<AppState>, Path(secret): Path<String>) -> Response {
    match open(&state, &secret).await {
        Ok(session) => form_page(&state, &secret, &session, &Values::new(), None),
        Err(page) => page,
    }
}

/// `GET /connect-assets/logo`: the operator's logo, when it has one.
pub async fn logo(State(state): State<AppState>) -> Response {
    match state.brand.logo() {
        Some(logo) => (
            [
                (header::CONTENT_TYPE, logo.media_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            logo.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
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

/// The form's values as the connection's config and credentials: every
/// value posted for a config field, whether or not the page offered it
/// (the service refuses those the operator sets).
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

/// The connect error in words the customer can act on, each next to the
/// field it concerns where there is one, and nothing the system or the
/// network said: the log has that (`why`). A refused credential is marked
/// on the secrets the customer typed.
fn in_plain_words(e: &ConnectError, manifest: &Manifest, session: &ConnectSession) -> Problem {
    match e {
        ConnectError::CredentialsRejected(_) => {
            let mut problem = Problem::new(format!(
                "{} did not accept these credentials. Check them and try again.",
                manifest.name
            ));
            problem.by_field = manifest
                .config
                .iter()
                .filter(|f| f.secret && asks_for(f, session))
                .map(|f| {
                    let message = format!("Not accepted by {}: check it.", manifest.name);
                    (f.name.clone(), message)
                })
                .collect();
            problem
        }
        ConnectError::Config(errors) => {
            let mut problem = Problem::new("Some fields need fixing:");
            for error in &errors.0 {
                let name = error.path.rsplit('/').next().unwrap_or(&error.path);
                let shown = manifest
                    .config
                    .iter()
                    .find(|f| f.name == name)
                    .filter(|f| asks_for(f, session));
                match shown {
                    Some(field) => {
                        problem.by_field.insert(
                            field.name.clone(),
                            field_message(field, &error.code, &error.message),
                        );
                    }
                    None => problem.others.push(error.message.clone()),
                }
            }
            problem
        }
        ConnectError::NoCredits { .. } => Problem::new(
            "This service cannot take another connection right now. Tell whoever sent you this \
             link.",
        ),
        ConnectError::Call(_) => Problem::new(
            "The system could not be reached to check these credentials. Check its address, then \
             try again; if it keeps failing, tell whoever sent you this link.",
        ),
        _ => Problem::new(
            "Something went wrong on our side. Try again in a moment; if it keeps failing, tell \
             whoever sent you this link.",
        ),
    }
}

/// A config error as said next to `field`: by its label, not its name.
fn field_message(field: &ConfigField, code: &str, message: &str) -> String {
    match code {
        "required" => format!("{} is required.", field.label),
        "invalid_value" | "invalid_type" => match field.kind {
            ConfigType::Url => "Enter an address starting with https:// or http://.".into(),
            ConfigType::Integer => "Enter a whole number.".into(),
            _ => message.replace(&format!("`{}`", field.name), &field.label),
        },
        _ => message.replace(&format!("`{}`", field.name), &field.label),
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
            let problem = Problem::new(why);
            return form_page(&state, &secret, &session, &Values::new(), Some(&problem));
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
                connected(&state, &connection)
            } else {
                fields_page(&state, &secret, &session, &connection, None)
            }
        }
        Err(ConnectSessionError::Connect(e)) => {
            tracing::info!(session = %session.id, adapter = %session.adapter_id, error = %e, "a connect attempt through a link failed");
            let problem = in_plain_words(&e, adapter.manifest(), &session);
            form_page(&state, &secret, &session, &values, Some(&problem))
        }
        Err(e) => refused(&state, &e),
    }
}

/// The page that says the account is connected, and what happens next.
fn connected(state: &AppState, connection: &Connection) -> Response {
    let who = operator(&state.brand);
    let system = state.registry.get(&connection.adapter_id).map_or_else(
        || connection.adapter_id.clone(),
        |a| a.manifest().name.clone(),
    );
    let body = html! {
        div.card.wide role="status" {
            h1 { "Connected" }
            p.notice.ok { "Your " (system) " account " strong { (connection.account_name) } " is connected." }
            h2 { "What happens next" }
            ul {
                li { "From now on, " (who) " reads and writes the records of this account that your credentials allow, through this connection." }
                li { "Your credentials are stored encrypted; " (who) " never sees them." }
                li { "To stop it, ask " (who) " to disconnect the account, or revoke the credentials in " (system) "." }
            }
            p { "You can close this page." }
        }
    };
    page_of(state, "Connected", body).into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: ConfigType, secret: bool) -> ConfigField {
        ConfigField::sample(name, kind, secret, true)
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
