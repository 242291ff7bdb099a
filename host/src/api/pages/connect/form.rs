//! The connect form: each config field the customer sets, by its label,
//! under its group, and a refusal said next to the field it concerns.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Values, operator, page_of};
use crate::api::AppState;
use crate::connections::ConnectError;
use crate::connections::connect_sessions::ConnectSession;
use crate::manifest::{ConfigField, ConfigSetter, ConfigType, Manifest};

/// Why a submission was refused: a sentence for the top of the form, a
/// message next to each field it concerns, and the rest.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Problem {
    text: String,
    by_field: BTreeMap<String, String>,
    others: Vec<String>,
}

impl Problem {
    pub(super) fn new(text: impl Into<String>) -> Self {
        Problem {
            text: text.into(),
            ..Problem::default()
        }
    }
}

/// Whether the customer sets `field` on this link's page: not one only the
/// operator sets, nor one the link presets.
pub(super) fn asks_for(field: &ConfigField, session: &ConnectSession) -> bool {
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
        // The file input has the field's id: the error summary links to it.
        let file = format!("{}__file", field.name);
        let source = format!("{}__source", field.name);
        let own = values.get(&source).map(String::as_str) == Some("own");
        return html! {
            fieldset.key {
                legend { (field.label) }
                (hint_and_error(field, &ids, error))
                @if let Some(certificate) = certificate {
                    div.choice {
                        input #(format!("{}-platform", ids.input)) type="radio" name=(source) value="platform" checked[!own];
                        label for=(format!("{}-platform", ids.input)) { "Use this service's certificate" }
                    }
                    span.hint {
                        "Upload "
                        a href=(certificate) download { "its public certificate" }
                        " to your system first (NetSuite: Setup > Integration > OAuth 2.0 Client Credentials)."
                    }
                    div.choice {
                        input #(format!("{}-own", ids.input)) type="radio" name=(source) value="own" checked[own];
                        label for=(format!("{}-own", ids.input)) { "Use my own key pair" }
                    }
                }
                label for=(ids.input) { "Private key file (PEM)" }
                span.hint { "The key of the certificate you uploaded to your system. It is stored encrypted and never shown again." }
                input #(ids.input) type="file" name=(file) accept=".pem,.key,text/plain"
                    aria-describedby=[described_by] aria-invalid=[error.map(|_| "true")];
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

pub(super) fn form_page(
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
        .filter(|f| f.kind != ConfigType::PrivateKey)
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
            @if !shown_presets.is_empty() {
                h2 { "Set by " (operator(&state.brand)) }
                dl.presets {
                    @for (field, value) in &shown_presets { dt { (field.label) } dd { (value) } }
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
                    section.group aria-labelledby="platform-key" {
                        h2 #platform-key { (key.label) }
                        p.flush {
                            "Signs with the certificate of " (operator(&state.brand)) ". Upload "
                            @if let Some(certificate) = &certificate { a href=(certificate) download { "its public certificate" } }
                            @else { "its public certificate" }
                            " to your system before you connect."
                        }
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

/// The connect error in words the customer can act on, each next to the
/// field it concerns where there is one, and nothing the system or the
/// network said: the log has that (`why`). A refused credential is marked
/// on the secrets the customer typed.
pub(super) fn in_plain_words(
    e: &ConnectError,
    manifest: &Manifest,
    session: &ConnectSession,
    operator: &str,
) -> Problem {
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
                    // The customer posted it: they may hear why.
                    None if error.code == "set_by_operator" => {
                        problem.others.push(error.message.clone());
                    }
                    // A value the customer cannot see (a hidden preset):
                    // never what was refused in it.
                    None => {
                        let refused = format!(
                            "A setting made by {operator} was refused. Tell them: they can fix \
                             it and send you a new link."
                        );
                        if !problem.others.contains(&refused) {
                            problem.others.push(refused);
                        }
                    }
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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::connections::ConfigError;
    use crate::connections::connect_sessions::Preset;
    use crate::contract::FieldError;

    fn fields() -> Vec<ConfigField> {
        let mut key = ConfigField::sample("api_key", ConfigType::Text, true, true);
        key.group = "Credentials".into();
        let mut proxy = ConfigField::sample("proxy_url", ConfigType::Url, false, false);
        proxy.set_by = ConfigSetter::Operator;
        proxy.group = "Advanced".into();
        let mut region = ConfigField::sample("region", ConfigType::Text, false, false);
        region.group = "Advanced".into();
        vec![
            ConfigField::sample("base_url", ConfigType::Url, false, true),
            key,
            proxy,
            region,
            ConfigField::sample("account_id", ConfigType::Text, false, true),
        ]
    }

    fn session() -> ConnectSession {
        let now = SystemTime::now();
        ConnectSession {
            id: "cs_1".into(),
            adapter_id: "demo".into(),
            replaces: None,
            created_at: now,
            expires_at: now,
            used_at: None,
            connection_id: None,
            sealed_token: None,
            failed_attempts: 0,
            platform_key_for: None,
            field_requests: vec![],
            presets: [(
                "account_id".to_string(),
                Preset {
                    value: "42".into(),
                    visible: true,
                },
            )]
            .into(),
        }
    }

    #[test]
    fn fields_are_shown_in_their_groups_untitled_first() {
        let fields = fields();
        let shown: Vec<(&str, Vec<&str>)> = groups(fields.iter())
            .into_iter()
            .map(|(group, members)| (group, members.iter().map(|f| f.name.as_str()).collect()))
            .collect();
        assert_eq!(
            shown,
            [
                ("", vec!["base_url", "account_id"]),
                ("Credentials", vec!["api_key"]),
                ("Advanced", vec!["proxy_url", "region"]),
            ]
        );
    }

    #[test]
    fn refusals_are_said_next_to_the_fields_the_customer_sets() {
        let mut manifest = crate::manifest::tests::sample();
        manifest.config = fields();
        let session = session();
        let error = |path: &str, code: &str| FieldError {
            path: path.into(),
            code: code.into(),
            message: format!("`{}` is wrong", path.rsplit('/').next().unwrap()),
        };
        let refused = ConnectError::Config(ConfigError(vec![
            error("/config/base_url", "invalid_value"),
            error("/config/region", "required"),
            error("/config/proxy_url", "set_by_operator"),
            error("/config/account_id", "address_refused"),
            error("/config/account_id", "address_refused"),
        ]));
        let problem = in_plain_words(&refused, &manifest, &session, "Acme");
        assert_eq!(
            problem.by_field,
            BTreeMap::from([
                (
                    "base_url".to_string(),
                    "Enter an address starting with https:// or http://.".to_string()
                ),
                ("region".to_string(), "Region is required.".to_string()),
            ])
        );
        assert_eq!(
            problem.others,
            [
                "`proxy_url` is wrong",
                "A setting made by Acme was refused. Tell them: they can fix it and send you a \
                 new link."
            ],
            "fields the customer does not set have no input to be said next to, and what \
             was refused in a hidden preset is not said"
        );

        let rejected = ConnectError::CredentialsRejected("401 from upstream".into());
        let problem = in_plain_words(&rejected, &manifest, &session, "Acme");
        assert_eq!(
            problem.by_field.keys().collect::<Vec<_>>(),
            ["api_key"],
            "marked on the secrets the customer typed"
        );
        assert!(
            !format!("{problem:?}").contains("401"),
            "nothing the system said"
        );
    }
}
