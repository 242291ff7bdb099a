//! The host's model of an adapter manifest, and its validation.
//!
//! Every contract version converts its WIT manifest into these types (see
//! [`crate::contract`]), so the rest of the host is written once, against the
//! latest model. They serialize as the JSON of `GET /v1/adapters/{id}`. This
//! is the bottom of the host's layers: it imports no other module of it.

pub mod diff;
pub mod limits;
mod origin;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use origin::OriginTemplate;

/// Everything an adapter declares about its system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    pub contract_version: String,
    pub description: String,
    pub auth: AuthScheme,
    pub config: Vec<ConfigField>,
    pub outbound_hosts: Vec<String>,
    pub limits: RateLimits,
    pub entities: Vec<Entity>,
    /// Whether the adapter forwards requests to the system's own API
    /// (`/v1/passthrough`); contract 0.3.0 and later.
    #[serde(default)]
    pub passthrough: bool,
    /// What a customer prepares in the system before connecting, one step
    /// each; contract 0.4.0 and later.
    #[serde(default)]
    pub setup_steps: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    None,
    ApiKey,
    Basic,
    Oauth2ClientCredentials,
    Oauth2ClientCredentialsJwt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfigType {
    Text,
    Url,
    Integer,
    Boolean,
    PrivateKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigField {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: ConfigType,
    pub secret: bool,
    pub required: bool,
    /// How the connect page names it (`Account ID`); made from the name for
    /// adapters before contract 0.4.0 ([`label_of`]).
    pub label: String,
    /// An example value shown in the empty input.
    pub placeholder: Option<String>,
    /// The heading it is shown under; empty for the form's first group.
    pub group: String,
    /// Who sets the value: an operator's field is never an input of the
    /// connect page, which refuses a value posted for it.
    pub set_by: ConfigSetter,
}

#[cfg(test)]
impl ConfigField {
    /// A field the customer sets, labelled from its name, for tests.
    pub(crate) fn sample(name: &str, kind: ConfigType, secret: bool, required: bool) -> Self {
        ConfigField {
            name: name.into(),
            description: String::new(),
            kind,
            secret,
            required,
            label: label_of(name),
            placeholder: None,
            group: String::new(),
            set_by: ConfigSetter::Customer,
        }
    }
}

/// Who sets a config value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSetter {
    /// The customer who connects the account (or the operator for them,
    /// through the API).
    Customer,
    /// The operator only: through the API, or a connect link's preset.
    Operator,
}

/// Words a label writes in capitals (`api_key` -> `API key`).
const ACRONYMS: [&str; 11] = [
    "api", "id", "url", "uri", "http", "https", "jwt", "pem", "sso", "erp", "sql",
];

/// The label of a config field named `name` by an adapter that declares
/// none (contracts before 0.4.0, or an empty label): its words, the first
/// capitalized, acronyms in capitals (`account_id` -> `Account ID`), at
/// most [`MAX_LABEL_CHARS`] characters.
pub fn label_of(name: &str) -> String {
    let label = name
        .split('_')
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, word)| {
            if ACRONYMS.contains(&word) {
                word.to_ascii_uppercase()
            } else if i == 0 {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<String>>()
        .join(" ");
    label.chars().take(MAX_LABEL_CHARS).collect()
}

/// Whether `c` may not be in a text a page shows: a control character, or
/// one that changes the direction text is shown in (which can make a label
/// read as something else).
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RateLimits {
    pub max_concurrent_requests: u32,
    pub writes_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    List,
    Get,
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    ReadOnly,
    CreateOnly,
    Updatable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "values")]
pub enum FieldType {
    Text,
    Integer,
    Decimal,
    Boolean,
    Date,
    DateTime,
    Enumeration(Vec<String>),
    Object,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Field {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub access: FieldAccess,
    pub required: bool,
    pub custom: bool,
    pub references: Option<String>,
}

/// A custom field an account adds to an entity (reported at `connect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    pub entity: String,
    pub field: Field,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChildCollection {
    pub name: String,
    pub description: String,
    pub fields: Vec<Field>,
    pub create_with_parent: bool,
    pub min_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "fields")]
pub enum FieldSelection {
    All,
    AllExcept(Vec<String>),
    Only(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateLock {
    pub field: String,
    pub values: Vec<String>,
    pub locked_fields: FieldSelection,
    pub locked_operations: Vec<Operation>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperationPermissions {
    pub operation: Operation,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entity {
    pub name: String,
    pub description: String,
    pub operations: Vec<OperationPermissions>,
    pub fields: Vec<Field>,
    pub children: Vec<ChildCollection>,
    pub state_locks: Vec<StateLock>,
}

/// A manifest that the host refuses to load.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error(
        "adapter id `{0}` must be 1-64 lowercase letters, digits or `-`, starting with a letter"
    )]
    InvalidId(String),
    #[error("version `{0}` is not a semantic version (such as 1.2.0)")]
    InvalidVersion(String),
    #[error(
        "the manifest says contract {declared} but the component implements contract {exported}"
    )]
    ContractMismatch { declared: String, exported: String },
    #[error("{0} `{1}` is declared twice")]
    Duplicate(&'static str, String),
    #[error("config field `{0}` must be snake_case")]
    InvalidConfigName(String),
    #[error("config field `{field}`: {reason}")]
    InvalidConfigText { field: String, reason: String },
    #[error("setup step {index}: {reason}")]
    InvalidSetupStep { index: usize, reason: String },
    #[error("outbound host `{template}`: {reason}")]
    InvalidOutboundHost { template: String, reason: String },
    #[error("max_concurrent_requests must be at least 1")]
    NoConcurrency,
    #[error(
        "entity `{entity}`: state lock on `{field}`, which is not one of its fields nor `<child>.<field>` of one of its child collections"
    )]
    UnknownLockField { entity: String, field: String },
    #[error("the manifest declares more {what} than the host takes ({limit})")]
    TooLarge { what: &'static str, limit: usize },
}

/// Whether `id` can name an adapter: 1-64 lowercase letters, digits or
/// `-`, starting with a letter.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_snake_case(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The longest label of a config field, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// The longest placeholder of a config field, in characters.
pub const MAX_PLACEHOLDER_CHARS: usize = 200;
/// The longest group of a config field, in characters.
pub const MAX_GROUP_CHARS: usize = 50;
/// The longest setup step, in characters.
pub const MAX_SETUP_STEP_CHARS: usize = 300;

/// Why `text` cannot be a line a page shows: shorter than `min` or longer
/// than `max` characters, or with control characters ([`is_hidden_control`]).
fn line_problem(text: &str, min: usize, max: usize) -> Option<String> {
    let chars = text.chars().count();
    if chars < min || chars > max {
        Some(format!("must be {min} to {max} characters"))
    } else if text.chars().any(is_hidden_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// Why the texts a page shows of `field` cannot be shown, or why it cannot
/// be the operator's.
fn config_text_problem(field: &ConfigField) -> Option<String> {
    if field.secret && field.set_by == ConfigSetter::Operator {
        return Some(
            "a secret is set by the customer: an operator's value would have no way to a \
             connect link (which carries no secret)"
                .into(),
        );
    }
    let labelled = |what: &str, problem: Option<String>| problem.map(|p| format!("its {what} {p}"));
    labelled("label", line_problem(&field.label, 1, MAX_LABEL_CHARS))
        .or_else(|| {
            let placeholder = field.placeholder.as_deref()?;
            labelled(
                "placeholder",
                line_problem(placeholder, 1, MAX_PLACEHOLDER_CHARS),
            )
        })
        .or_else(|| labelled("group", line_problem(&field.group, 0, MAX_GROUP_CHARS)))
}

/// Every name of `names` seen before, as a problem.
fn duplicates<'a>(
    what: &'static str,
    names: impl Iterator<Item = &'a str>,
    problems: &mut Vec<ManifestError>,
) {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            problems.push(ManifestError::Duplicate(what, name.to_string()));
        }
    }
}

/// Every problem found in a manifest, in the order they were checked.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ManifestProblems(pub Vec<ManifestError>);

impl Manifest {
    /// Checks what the host relies on; `exported` is the contract version the
    /// component's exports carry. Returns the parsed outbound host templates,
    /// or every problem found (only the first when the manifest is past the
    /// host's size bounds, which are checked first: every check after them is
    /// then linear in a bounded size).
    ///
    /// # Errors
    ///
    /// [`ManifestProblems`]: only a [`ManifestError::TooLarge`] when a size
    /// bound is passed; else every one of an invalid id or version, a
    /// contract version other than `exported`, no concurrency, a config
    /// name not in snake_case, a name declared twice, a state lock on an
    /// unknown field, and an outbound host that does not parse.
    pub fn validate(&self, exported: &str) -> Result<Vec<OriginTemplate>, ManifestProblems> {
        limits::check(self).map_err(|e| ManifestProblems(vec![e]))?;
        let mut problems = Vec::new();
        if !is_valid_id(&self.id) {
            problems.push(ManifestError::InvalidId(self.id.clone()));
        }
        if semver::Version::parse(&self.version).is_err() {
            problems.push(ManifestError::InvalidVersion(self.version.clone()));
        }
        if self.contract_version != exported {
            problems.push(ManifestError::ContractMismatch {
                declared: self.contract_version.clone(),
                exported: exported.to_string(),
            });
        }
        if self.limits.max_concurrent_requests == 0 {
            problems.push(ManifestError::NoConcurrency);
        }
        let config = self.config.iter().map(|c| c.name.as_str());
        duplicates("config field", config, &mut problems);
        for bad in self.config.iter().filter(|c| !is_snake_case(&c.name)) {
            problems.push(ManifestError::InvalidConfigName(bad.name.clone()));
        }
        for field in &self.config {
            if let Some(reason) = config_text_problem(field) {
                problems.push(ManifestError::InvalidConfigText {
                    field: field.name.clone(),
                    reason,
                });
            }
        }
        for (index, step) in self.setup_steps.iter().enumerate() {
            if let Some(reason) = line_problem(step, 1, MAX_SETUP_STEP_CHARS) {
                problems.push(ManifestError::InvalidSetupStep { index, reason });
            }
        }
        let entities = self.entities.iter().map(|e| e.name.as_str());
        duplicates("entity", entities, &mut problems);
        for entity in &self.entities {
            let fields = entity.fields.iter().map(|f| f.name.as_str());
            duplicates("field", fields, &mut problems);
            let children = entity.children.iter().map(|c| c.name.as_str());
            duplicates("child collection", children, &mut problems);
            let operations = entity.operations.iter().map(|o| o.operation.as_str());
            duplicates("operation", operations, &mut problems);
            let mut fields: HashSet<String> =
                entity.fields.iter().map(|f| f.name.clone()).collect();
            for child in &entity.children {
                fields.extend(
                    child
                        .fields
                        .iter()
                        .map(|f| format!("{}.{}", child.name, f.name)),
                );
            }
            for lock in &entity.state_locks {
                if !fields.contains(&lock.field) {
                    problems.push(ManifestError::UnknownLockField {
                        entity: entity.name.clone(),
                        field: lock.field.clone(),
                    });
                }
            }
        }
        let mut templates = Vec::with_capacity(self.outbound_hosts.len());
        for template in &self.outbound_hosts {
            match OriginTemplate::parse(template, &self.config) {
                Ok(parsed) => templates.push(parsed),
                Err(reason) => problems.push(ManifestError::InvalidOutboundHost {
                    template: template.clone(),
                    reason,
                }),
            }
        }
        if problems.is_empty() {
            Ok(templates)
        } else {
            Err(ManifestProblems(problems))
        }
    }

    /// The entity named `name`.
    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            id: "demo".into(),
            name: "Demo".into(),
            version: "1.0.0".into(),
            contract_version: "0.1.0".into(),
            description: String::new(),
            auth: AuthScheme::ApiKey,
            config: vec![ConfigField::sample(
                "base_url",
                ConfigType::Url,
                false,
                true,
            )],
            outbound_hosts: vec!["{base_url}".into()],
            limits: RateLimits {
                max_concurrent_requests: 4,
                writes_per_minute: None,
            },
            entities: vec![Entity {
                name: "vendors".into(),
                description: String::new(),
                operations: vec![OperationPermissions {
                    operation: Operation::List,
                    permissions: vec![],
                }],
                fields: vec![Field {
                    name: "status".into(),
                    description: String::new(),
                    kind: FieldType::Text,
                    access: FieldAccess::ReadOnly,
                    required: false,
                    custom: false,
                    references: None,
                }],
                children: vec![],
                state_locks: vec![],
            }],
            passthrough: false,
            setup_steps: vec![],
        }
    }

    #[test]
    fn labels_are_made_from_names_for_older_adapters() {
        assert_eq!(label_of("account_id"), "Account ID");
        assert_eq!(label_of("base_url"), "Base URL");
        assert_eq!(label_of("api_key"), "API key");
        assert_eq!(label_of("writable_custom_fields"), "Writable custom fields");
        assert_eq!(label_of("x"), "X");
        assert_eq!(
            label_of(&"long_".repeat(40)).chars().count(),
            MAX_LABEL_CHARS
        );
    }

    #[test]
    fn refuses_labels_and_steps_a_page_cannot_show() {
        let mut m = sample();
        m.config[0].label = String::new();
        assert_eq!(
            first(&m, "0.1.0"),
            Err(ManifestError::InvalidConfigText {
                field: "base_url".into(),
                reason: "its label must be 1 to 100 characters".into()
            })
        );
        m.config[0].label = "Base URL".into();
        m.config[0].placeholder = Some("https://erp.example\n".into());
        assert_eq!(
            first(&m, "0.1.0"),
            Err(ManifestError::InvalidConfigText {
                field: "base_url".into(),
                reason: "its placeholder must not contain control characters".into()
            })
        );
        m.config[0].placeholder = None;
        m.config[0].group = "g".repeat(51);
        assert!(first(&m, "0.1.0").is_err());
        m.config[0].group = "Advanced".into();
        m.setup_steps = vec!["Enable OAuth 2.0.".into(), String::new()];
        assert_eq!(
            first(&m, "0.1.0"),
            Err(ManifestError::InvalidSetupStep {
                index: 1,
                reason: "must be 1 to 300 characters".into()
            })
        );
        m.setup_steps = vec!["Open \u{202E}txt.exe".into()];
        assert!(
            first(&m, "0.1.0").is_err(),
            "a direction override hides text"
        );
        m.setup_steps.clear();
        m.config[0].secret = true;
        m.config[0].set_by = ConfigSetter::Operator;
        assert!(first(&m, "0.1.0").is_err(), "no secret is the operator's");
        m.config[0].secret = false;
        assert_eq!(first(&m, "0.1.0"), Ok(()));
    }

    /// The first problem `validate` finds.
    fn first(m: &Manifest, exported: &str) -> Result<(), ManifestError> {
        match m.validate(exported) {
            Ok(_) => Ok(()),
            Err(ManifestProblems(mut all)) => Err(all.remove(0)),
        }
    }

    #[test]
    fn every_problem_is_listed() {
        let mut m = sample();
        m.id = "Demo_1".into();
        m.version = "one".into();
        m.entities.push(m.entities[0].clone());
        m.outbound_hosts.push("https://{tenant}.example.com".into());
        let problems = m.validate("0.1.0").unwrap_err();
        assert_eq!(problems.0.len(), 4, "{problems}");
        assert_eq!(
            problems.to_string(),
            "adapter id `Demo_1` must be 1-64 lowercase letters, digits or `-`, starting with a letter; \
             version `one` is not a semantic version (such as 1.2.0); \
             entity `vendors` is declared twice; \
             outbound host `https://{tenant}.example.com`: `{tenant}` is not a config field"
        );
    }

    #[test]
    fn a_sound_manifest_validates() {
        assert_eq!(sample().validate("0.1.0").unwrap().len(), 1);
    }

    #[test]
    fn refuses_bad_ids_versions_and_contracts() {
        let mut m = sample();
        m.id = "Demo_1".into();
        assert_eq!(
            first(&m, "0.1.0"),
            Err(ManifestError::InvalidId("Demo_1".into()))
        );
        let mut m = sample();
        m.version = "one".into();
        assert!(matches!(
            first(&m, "0.1.0"),
            Err(ManifestError::InvalidVersion(_))
        ));
        assert!(matches!(
            first(&sample(), "0.2.0"),
            Err(ManifestError::ContractMismatch { .. })
        ));
    }

    #[test]
    fn refuses_duplicates_and_unknown_lock_fields() {
        let mut m = sample();
        m.entities.push(m.entities[0].clone());
        assert_eq!(
            first(&m, "0.1.0"),
            Err(ManifestError::Duplicate("entity", "vendors".into()))
        );
        let mut m = sample();
        m.entities[0].state_locks.push(StateLock {
            field: "state".into(),
            values: vec!["closed".into()],
            locked_fields: FieldSelection::All,
            locked_operations: vec![],
            reason: String::new(),
        });
        assert!(matches!(
            first(&m, "0.1.0"),
            Err(ManifestError::UnknownLockField { .. })
        ));
        // A field of a child collection is one a lock may name.
        let mut m = sample();
        let field = m.entities[0].fields[0].clone();
        m.entities[0].children.push(ChildCollection {
            name: "lines".into(),
            description: String::new(),
            fields: vec![field],
            create_with_parent: true,
            min_count: 0,
        });
        let child_field = format!("lines.{}", m.entities[0].fields[0].name);
        m.entities[0].state_locks.push(StateLock {
            field: child_field,
            values: vec!["L".into()],
            locked_fields: FieldSelection::All,
            locked_operations: vec![],
            reason: String::new(),
        });
        assert!(first(&m, "0.1.0").is_ok());
    }

    #[test]
    fn refuses_manifests_past_the_bounds_quickly() {
        let mut m = sample();
        let entity = m.entities[0].clone();
        m.entities = (0..100_000)
            .map(|i| Entity {
                name: format!("e{i}"),
                ..entity.clone()
            })
            .collect();
        assert_eq!(
            first(&m, "0.1.0"),
            Err(ManifestError::TooLarge {
                what: "entities",
                limit: limits::MAX_ENTITIES
            })
        );
        let mut m = sample();
        let field = m.entities[0].fields[0].clone();
        m.entities[0].fields = vec![field; 100_000];
        m.entities[0].state_locks = vec![
            StateLock {
                field: "status".into(),
                values: vec![],
                locked_fields: FieldSelection::All,
                locked_operations: vec![],
                reason: String::new(),
            };
            100_000
        ];
        assert!(matches!(
            first(&m, "0.1.0"),
            Err(ManifestError::TooLarge { .. })
        ));
        let mut m = sample();
        m.description = "x".repeat(limits::MAX_TEXT_BYTES + 1);
        assert!(matches!(
            first(&m, "0.1.0"),
            Err(ManifestError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_templates_over_unknown_config() {
        let mut m = sample();
        m.outbound_hosts = vec!["https://{tenant}.example.com".into()];
        assert!(matches!(
            first(&m, "0.1.0"),
            Err(ManifestError::InvalidOutboundHost { .. })
        ));
    }
}
