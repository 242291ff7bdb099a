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

mod fields;
mod form;

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::brand::Brand;
use super::layout::{self, customer_page};
use super::session::internal;
use crate::api::AppState;
use crate::api::request_id::RequestId;
use crate::audit::Actor;
use crate::connections::Connection;
use crate::connections::connect_sessions::{ConnectSession, ConnectSessionError};
use crate::manifest::{ConfigField, ConfigType};
use fields::fields_page;
pub use fields::map_fields;
use form::{Problem, form_page, in_plain_words};

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
section.group h2 { font-size: 1.05rem; margin: 1.5rem 0 .25rem; }
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

/// The stylesheets of the customer's pages after the shared one: the
/// connect page's, and the brand's colour if any. The page policy of the
/// connect routes allows exactly these.
pub fn styles(brand: &Brand) -> Vec<String> {
    std::iter::once(STYLE.to_string())
        .chain(brand.style())
        .collect()
}

/// A page of the operator's customer, in the operator's brand.
fn page_of(state: &AppState, title: &str, body: Markup) -> Markup {
    let styles = styles(&state.brand);
    let styles: Vec<&str> = styles.iter().map(String::as_str).collect();
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
            let detail = json!({"adapter": connection.adapter_id, "replaces": session.replaces});
            audit(
                &state,
                &session,
                request_id,
                "connection.created",
                &connection,
                detail,
            );
            if session.field_requests.is_empty() {
                connected(&state, &connection)
            } else {
                fields_page(&state, &secret, &session, &connection, None)
            }
        }
        Err(ConnectSessionError::Connect(e)) => {
            tracing::info!(session = %session.id, adapter = %session.adapter_id, error = %e, "a connect attempt through a link failed");
            let who = operator(&state.brand);
            let problem = in_plain_words(&e, adapter.manifest(), &session, who);
            form_page(&state, &secret, &session, &values, Some(&problem))
        }
        Err(e) => refused(&state, &e),
    }
}

/// Records in the audit trail that the holder of `session`'s link did
/// `action` to `connection`.
fn audit(
    state: &AppState,
    session: &ConnectSession,
    request_id: Option<Extension<RequestId>>,
    action: &str,
    connection: &Connection,
    detail: Value,
) {
    let actor = format!("connect-link:{}", session.id);
    let request_id =
        request_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), |Extension(id)| id.0);
    let by = Actor {
        name: &actor,
        request_id: &request_id,
    };
    state.audit.admin(&by, action, Some(&connection.id), detail);
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
