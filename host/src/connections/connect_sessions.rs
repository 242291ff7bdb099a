//! Connect sessions: a link an operator gives a customer, so that the
//! customer connects their own account (its credentials never pass through
//! the operator, or a support ticket).
//!
//! ```text
//!   operator: create ──▶ open ──(customer submits, connect succeeds)──▶ used ──▶ operator claims the token, once
//!                         │  ╲──(connect fails: the link stays open, the customer may fix and retry)
//!                         └──(time passes)──▶ expired
//! ```
//!
//! The link's secret is stored as a hash. The new connection's token is
//! sealed in the session until the operator claims it: the customer never
//! sees it. A link holder is not trusted: a link takes at most
//! [`MAX_FAILED_ATTEMPTS`] failed attempts, offers the host's platform
//! certificate only for the account the operator bound it to
//! ([`PlatformKeyUse`]), and takes no value for a field the operator sets
//! (one the adapter declares operator-only, or one the link presets).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use thiserror::Error;

use super::config::{ConfigError, value_problem};
use super::mappings::{MappingError, NewMapping};
use super::{
    ConnectError, Connection, Connections, NewConnection, PlatformKeyUse, new_secret, token_hash,
};
use crate::code::Code;
use crate::contract::FieldError;
use crate::manifest::{ConfigSetter, ConfigType, is_hidden_control};
use crate::rules::mapping;
use crate::runtime::PLATFORM_KEY;
pub use crate::storage::sessions::{ConnectSession, FieldRequest, Preset};
use crate::storage::{FieldMapping, StorageError};

/// How long a link is valid when the operator does not say.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// The longest a link may be valid.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 86_400);
/// Failed attempts a link takes; past them it is locked, and the customer
/// needs a new one (so a link is not a way to try passwords, or addresses,
/// without end).
pub const MAX_FAILED_ATTEMPTS: u32 = 10;
/// The most fields a link asks the customer to map.
pub const MAX_FIELD_REQUESTS: usize = 20;
/// The longest preset value, in characters.
pub const MAX_PRESET_CHARS: usize = 2048;

/// Why a connect session could not be created or used.
#[derive(Debug, Error)]
pub enum ConnectSessionError {
    #[error("no adapter `{0}` is loaded")]
    UnknownAdapter(String),
    #[error("connection `{0}`, which the session would replace, does not exist")]
    UnknownReplaced(String),
    #[error("a connect link is valid for 1 second to 7 days")]
    InvalidTtl,
    #[error("this connect link does not exist")]
    Unknown,
    #[error("this connect link expired; ask for a new one")]
    Expired,
    #[error("this connect link was already used; ask for a new one")]
    Used,
    #[error("this connect link had too many failed attempts; ask for a new one")]
    Locked,
    /// The platform-key binding of a new session does not fit the adapter.
    #[error("{0}")]
    InvalidPlatformKeyBinding(String),
    /// A field a new session asks for cannot be mapped.
    #[error("{0}")]
    InvalidFieldRequest(String),
    /// A preset of a new session does not fit the adapter's config.
    #[error("{0}")]
    InvalidPreset(String),
    /// The customer's mapping of the asked-for fields was refused.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ConnectSessionError {
    /// The stable machine-readable code.
    pub fn code(&self) -> Code {
        match self {
            ConnectSessionError::UnknownAdapter(_) => Code::AdapterNotFound,
            ConnectSessionError::UnknownReplaced(_) => Code::ConnectionNotFound,
            ConnectSessionError::InvalidTtl => Code::InvalidBody,
            ConnectSessionError::Unknown => Code::ConnectLinkUnknown,
            ConnectSessionError::Expired => Code::ConnectLinkExpired,
            ConnectSessionError::Used => Code::ConnectLinkUsed,
            ConnectSessionError::Locked => Code::ConnectLinkLocked,
            ConnectSessionError::InvalidPlatformKeyBinding(_) => Code::InvalidBody,
            ConnectSessionError::InvalidFieldRequest(_) => Code::InvalidMapping,
            ConnectSessionError::InvalidPreset(_) => Code::InvalidConfig,
            ConnectSessionError::Mapping(e) => e.code(),
            ConnectSessionError::Connect(_) => Code::ConnectFailed,
            ConnectSessionError::Storage(_) => Code::Internal,
        }
    }
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting for the customer.
    Open,
    /// The customer connected; the connection is in the session.
    Connected,
    Expired,
}

/// The status of `session` at `now`.
pub fn status(session: &ConnectSession, now: SystemTime) -> SessionStatus {
    if session.connection_id.is_some() {
        SessionStatus::Connected
    } else if now >= session.expires_at {
        SessionStatus::Expired
    } else {
        SessionStatus::Open
    }
}

impl Connections {
    /// A new link for a customer to connect an account through `adapter`,
    /// replacing connection `replaces` if given. Answers the session and the
    /// link's secret, which is shown once.
    ///
    /// `platform_key_for` binds the host's platform certificate to the
    /// config values that pick the customer's system (fields the adapter's
    /// own outbound hosts are made of, such as NetSuite's `account_id`):
    /// only a connection with exactly those values, and none for such
    /// fields the binding leaves out, may use it. Without it, a link that replaces a connection signing with the
    /// platform key is bound to that connection's values; any other link
    /// does not offer the platform certificate.
    ///
    /// `field_requests` are the fields the operator's application needs:
    /// once connected, the customer picks which of their fields holds each
    /// ([`Connections::map_through_session`]).
    ///
    /// `presets` fix config values for the link, hidden from the customer
    /// or shown read-only: e.g. a proxy's address, or `platform` for a
    /// private key on a link that offers the platform certificate. Every
    /// required field the adapter declares operator-only needs one; a link
    /// that replaces a connection keeps, hidden, that connection's values of
    /// the operator-only fields it does not preset. The values the platform
    /// key is bound to are presets too, shown to the customer.
    ///
    /// # Errors
    ///
    /// [`ConnectSessionError::InvalidTtl`], `UnknownAdapter`,
    /// `UnknownReplaced`, `InvalidPlatformKeyBinding` (the adapter takes no
    /// private key, or the values name no field that picks the system, or
    /// another field), `InvalidFieldRequest` (more than
    /// [`MAX_FIELD_REQUESTS`], an entity the adapter does not serve, a
    /// target that cannot be one or is asked twice, a label that is empty,
    /// over 100 characters or has control characters), `InvalidPreset` (see
    /// [`check_presets`]), and storage errors.
    pub async fn create_connect_session(
        &self,
        adapter: &str,
        replaces: Option<String>,
        ttl: Option<Duration>,
        platform_key_for: Option<BTreeMap<String, String>>,
        field_requests: Vec<FieldRequest>,
        presets: BTreeMap<String, Preset>,
    ) -> Result<(ConnectSession, String), ConnectSessionError> {
        let ttl = ttl.unwrap_or(DEFAULT_TTL);
        if !(Duration::from_secs(1)..=MAX_TTL).contains(&ttl) {
            return Err(ConnectSessionError::InvalidTtl);
        }
        let Some(loaded) = self.registry.get(adapter) else {
            return Err(ConnectSessionError::UnknownAdapter(adapter.into()));
        };
        let replaced = match &replaces {
            Some(id) => Some(
                self.storage
                    .connection(id)
                    .await?
                    .ok_or_else(|| ConnectSessionError::UnknownReplaced(id.clone()))?,
            ),
            None => None,
        };
        let field_requests: Vec<FieldRequest> = field_requests
            .into_iter()
            .map(|r| FieldRequest {
                label: r.label.trim().to_string(),
                ..r
            })
            .collect();
        check_field_requests(&loaded, &field_requests)?;
        let inherited = replaced
            .as_ref()
            .map(|old| operator_values(&loaded, old))
            .unwrap_or_default();
        let platform_key_for = match (platform_key_for, replaced) {
            (Some(values), _) => Some(check_binding(&loaded, values)?),
            (None, Some(old)) => self.binding_of(&loaded, old),
            (None, None) => None,
        };
        check_presets(&loaded, &presets, platform_key_for.as_ref())?;
        let presets = link_presets(&loaded, presets, inherited, platform_key_for.as_ref())?;
        let now = SystemTime::now();
        let session = ConnectSession {
            id: format!("cs_{}", uuid::Uuid::now_v7().simple()),
            adapter_id: adapter.into(),
            replaces,
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
            connection_id: None,
            sealed_token: None,
            failed_attempts: 0,
            platform_key_for,
            field_requests,
            presets,
        };
        let secret = new_secret("ilk_link_");
        self.storage
            .insert_connect_session(&session, &token_hash(&secret))
            .await?;
        Ok((session, secret))
    }

    /// The session behind a link, if the link can still be used.
    ///
    /// # Errors
    ///
    /// [`ConnectSessionError::Unknown`] when no session has this link,
    /// `Locked` when it had [`MAX_FAILED_ATTEMPTS`] failed attempts, `Used`
    /// when it was used (or a submission through it is running), `Expired`
    /// when its time is over; `Storage` when the database failed.
    pub async fn open_connect_session(
        &self,
        secret: &str,
    ) -> Result<ConnectSession, ConnectSessionError> {
        let session = self
            .storage
            .connect_session_by_secret(&token_hash(secret))
            .await?
            .ok_or(ConnectSessionError::Unknown)?;
        match status(&session, SystemTime::now()) {
            SessionStatus::Open if session.failed_attempts >= MAX_FAILED_ATTEMPTS => {
                Err(ConnectSessionError::Locked)
            }
            SessionStatus::Open if session.used_at.is_none() => Ok(session),
            SessionStatus::Open | SessionStatus::Connected => Err(ConnectSessionError::Used),
            SessionStatus::Expired => Err(ConnectSessionError::Expired),
        }
    }

    /// Connects the customer's account through the link `secret` with the
    /// values they gave and the link's presets. The link is used once: two
    /// submissions cannot both connect, and a failed connect leaves it open
    /// for another try, up to [`MAX_FAILED_ATTEMPTS`].
    ///
    /// # Errors
    ///
    /// Those of [`Connections::open_connect_session`]; `Used` too when
    /// another submission took the link first; [`ConnectSessionError::Connect`]
    /// with a `set_by_operator` config error, before anything is tried, when
    /// the customer gave a value for a field the operator sets;
    /// [`ConnectSessionError::Connect`] with why the connection was not
    /// created ([`Connections::create`]), which counts as a failed attempt;
    /// `Storage` when the database failed.
    pub async fn connect_through_session(
        &self,
        secret: &str,
        mut config: Map<String, Value>,
        mut credentials: Map<String, Value>,
    ) -> Result<Connection, ConnectSessionError> {
        let session = self.open_connect_session(secret).await?;
        if let Some(adapter) = self.registry.get(&session.adapter_id) {
            let fields = &adapter.manifest().config;
            refuse_operator_values(fields, &session, &config, &credentials)?;
            for (name, preset) in &session.presets {
                let secret = fields.iter().any(|f| &f.name == name && f.secret);
                let home = if secret {
                    &mut credentials
                } else {
                    &mut config
                };
                home.insert(name.clone(), Value::String(preset.value.clone()));
            }
        }
        if !self
            .storage
            .use_connect_session(&session.id, SystemTime::now(), MAX_FAILED_ATTEMPTS)
            .await?
        {
            return Err(ConnectSessionError::Used);
        }
        let platform_key = match session.platform_key_for.clone() {
            Some(values) => PlatformKeyUse::BoundTo(values),
            None => PlatformKeyUse::NotOffered,
        };
        let created = self
            .create(NewConnection {
                adapter: session.adapter_id.clone(),
                config,
                credentials,
                replaces: session.replaces.clone(),
                platform_key,
            })
            .await;
        let (connection, token) = match created {
            Ok(created) => created,
            Err(e) => {
                self.storage.fail_connect_session(&session.id).await?;
                return Err(e.into());
            }
        };
        let sealed = self.secret_box.seal(token.as_bytes(), &session.id);
        self.storage
            .complete_connect_session(&session.id, &connection.id, &sealed)
            .await?;
        Ok(connection)
    }

    /// Maps the fields the link `secret` asked for, as the customer who
    /// connected through it picked them: `choices` pairs the index of a
    /// requested field with one of the new connection's fields (a request
    /// left out is not mapped). The chosen mappings replace any of the same
    /// targets; the connection's other mappings stay. Once, after the link
    /// connected and before it expires: a saved choice uses the link's
    /// requests up.
    ///
    /// # Errors
    ///
    /// `Unknown`, `Expired`; `Used` when the link has not connected (there
    /// is nothing to map yet), asks for no fields, or its choices were
    /// saved already; `InvalidFieldRequest` for an index the link did not
    /// ask; [`ConnectSessionError::Mapping`] when the mapping is refused (a
    /// read-only field picked for a field the application writes, a field
    /// of another type); `Storage`.
    pub async fn map_through_session(
        &self,
        secret: &str,
        choices: Vec<(usize, String)>,
    ) -> Result<Connection, ConnectSessionError> {
        let session = self
            .storage
            .connect_session_by_secret(&token_hash(secret))
            .await?
            .ok_or(ConnectSessionError::Unknown)?;
        let connection_id = match status(&session, SystemTime::now()) {
            _ if SystemTime::now() >= session.expires_at => {
                return Err(ConnectSessionError::Expired);
            }
            SessionStatus::Connected if !session.field_requests.is_empty() => session
                .connection_id
                .clone()
                .ok_or(ConnectSessionError::Used)?,
            _ => return Err(ConnectSessionError::Used),
        };
        let mut chosen = Vec::new();
        for (index, source) in choices {
            let request = session.field_requests.get(index).ok_or_else(|| {
                ConnectSessionError::InvalidFieldRequest(format!(
                    "this link asks for no field {index}"
                ))
            })?;
            chosen.push(NewMapping {
                entity: request.entity.clone(),
                source,
                target: request.target.clone(),
                writable: request.writable,
            });
        }
        let connection = self
            .storage
            .connection(&connection_id)
            .await?
            .ok_or(ConnectSessionError::Used)?;
        let replaced = |m: &FieldMapping| {
            chosen
                .iter()
                .any(|c| c.entity == m.entity && c.target == m.target)
        };
        let mappings = connection
            .field_mappings
            .iter()
            .filter(|m| !replaced(m))
            .map(NewMapping::from)
            .chain(chosen.iter().cloned())
            .collect();
        let connection = self.set_mappings(&connection_id, mappings).await?;
        self.storage.clear_field_requests(&session.id).await?;
        Ok(connection)
    }

    /// The session behind the link `secret`, in whatever status, or
    /// `None`.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn connect_session_by_link(
        &self,
        secret: &str,
    ) -> Result<Option<ConnectSession>, StorageError> {
        self.storage
            .connect_session_by_secret(&token_hash(secret))
            .await
    }

    /// The session `id`, in whatever status, or `None`.
    ///
    /// # Errors
    ///
    /// The database failed.
    pub async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>, StorageError> {
        self.storage.connect_session(id).await
    }

    /// The token of the connection made through session `id`: once, for
    /// the operator.
    ///
    /// # Errors
    ///
    /// The database failed. A token already claimed, or one that no longer
    /// opens, is `None`.
    pub async fn claim_connect_token(&self, id: &str) -> Result<Option<String>, StorageError> {
        let Some(sealed) = self.storage.take_connect_token(id).await? else {
            return Ok(None);
        };
        Ok(self
            .secret_box
            .open(&sealed, id)
            .ok()
            .and_then(|plain| String::from_utf8(plain).ok()))
    }
}

impl Connections {
    /// The binding a reconnect link inherits: the replaced connection's
    /// values of the fields that pick the system, if it signs with the
    /// platform key.
    fn binding_of(
        &self,
        adapter: &crate::runtime::Adapter,
        old: Connection,
    ) -> Option<BTreeMap<String, String>> {
        let opened = self.open(old).ok()?;
        let signs_with_platform = adapter.manifest().config.iter().any(|f| {
            f.kind == ConfigType::PrivateKey
                && opened.ctx.secrets.get(&f.name) == Some(PLATFORM_KEY)
        });
        signs_with_platform.then(|| {
            adapter
                .system_fields()
                .filter_map(|name| {
                    let value = opened.ctx.config.get(name)?;
                    Some((name.to_string(), value.clone()))
                })
                .collect()
        })
    }
}

/// `values` if they fit as a platform-key binding for `adapter`: it takes a
/// private key, and they name some of the fields that pick the system
/// (and no other field), each with a value.
fn check_binding(
    adapter: &crate::runtime::Adapter,
    values: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConnectSessionError> {
    let refuse = |why: String| Err(ConnectSessionError::InvalidPlatformKeyBinding(why));
    let manifest = adapter.manifest();
    if !manifest
        .config
        .iter()
        .any(|f| f.kind == ConfigType::PrivateKey)
    {
        return refuse(format!(
            "adapter `{}` signs with no private key: it has no use for the platform certificate",
            manifest.id
        ));
    }
    let mut fields: Vec<&str> = adapter.system_fields().collect();
    fields.sort_unstable();
    fields.dedup();
    let named = |list: &[&str]| {
        list.iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if values.is_empty() || values.keys().any(|k| !fields.contains(&k.as_str())) {
        return refuse(format!(
            "`platform_key_for` names the config values that pick the customer's system, \
             of {} for adapter `{}`",
            named(&fields),
            manifest.id
        ));
    }
    if let Some((name, _)) = values.iter().find(|(_, v)| v.trim().is_empty()) {
        return refuse(format!("`platform_key_for.{name}` is empty"));
    }
    Ok(values)
}

/// The values connection `old` has for the fields of `adapter` that only
/// the operator sets (none is a secret): what a reconnect keeps.
fn operator_values(
    adapter: &crate::runtime::Adapter,
    old: &Connection,
) -> BTreeMap<String, String> {
    adapter
        .manifest()
        .config
        .iter()
        .filter(|f| f.set_by == ConfigSetter::Operator)
        .filter_map(|f| Some((f.name.clone(), old.config.get(&f.name)?.clone())))
        .collect()
}

/// The link's presets: the operator's (checked by [`check_presets`]); the
/// values the platform key is bound to, shown but for fields only the
/// operator sets (the customer sees which account, and cannot change it);
/// and, hidden, the replaced connection's
/// values of the operator's fields that neither names (but for a field that
/// picks the system and that the binding leaves out: the platform key
/// would refuse it).
///
/// # Errors
///
/// [`ConnectSessionError::InvalidPreset`]: a required field only the
/// operator sets has no value.
fn link_presets(
    adapter: &crate::runtime::Adapter,
    mut presets: BTreeMap<String, Preset>,
    inherited: BTreeMap<String, String>,
    binding: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, Preset>, ConnectSessionError> {
    let operators = |name: &str| {
        adapter
            .manifest()
            .config
            .iter()
            .any(|f| f.name == name && f.set_by == ConfigSetter::Operator)
    };
    for (name, value) in binding.into_iter().flatten() {
        presets.entry(name.clone()).or_insert_with(|| Preset {
            value: value.clone(),
            visible: !operators(name),
        });
    }
    let unbound = |name: &str| {
        binding.is_some_and(|b| !b.contains_key(name)) && adapter.system_fields().any(|f| f == name)
    };
    for (name, value) in inherited {
        if !unbound(&name) {
            presets.entry(name).or_insert(Preset {
                value,
                visible: false,
            });
        }
    }
    let manifest = adapter.manifest();
    if let Some(missing) = manifest.config.iter().find(|f| {
        f.set_by == ConfigSetter::Operator && f.required && !presets.contains_key(&f.name)
    }) {
        return Err(ConnectSessionError::InvalidPreset(format!(
            "presets.{0}: adapter `{1}` has the operator set `{0}`, which it requires: preset it",
            missing.name, manifest.id
        )));
    }
    Ok(presets)
}

/// Refuses a value the customer gave for a field the operator sets: one the
/// adapter declares operator-only, or one the link presets.
fn refuse_operator_values(
    fields: &[crate::manifest::ConfigField],
    session: &ConnectSession,
    config: &Map<String, Value>,
    credentials: &Map<String, Value>,
) -> Result<(), ConnectSessionError> {
    let operators = |name: &str| {
        session.presets.contains_key(name)
            || fields
                .iter()
                .any(|f| f.name == name && f.set_by == ConfigSetter::Operator)
    };
    let errors: Vec<FieldError> = [(config, "config"), (credentials, "credentials")]
        .into_iter()
        .flat_map(|(values, object)| {
            values
                .keys()
                .filter(|name| operators(name))
                .map(move |name| FieldError {
                    path: format!("/{object}/{name}"),
                    code: "set_by_operator".into(),
                    message: format!("`{name}` is set by whoever sent this link"),
                })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConnectError::Config(ConfigError(errors)).into())
    }
}

/// Refuses presets a link of `adapter` cannot carry: a name that is not
/// one of its config fields; a value that is empty, does not fit the
/// field's type, is over [`MAX_PRESET_CHARS`] or has control characters; a
/// secret (the customer types those, or the operator connects through the
/// API), but `platform` for a private key on a link that offers the
/// platform certificate (`binding`); with a binding, a value other than
/// the binding's for a field it binds, or one for a field that picks the
/// system that the binding leaves out (the platform key would be refused).
fn check_presets(
    adapter: &crate::runtime::Adapter,
    presets: &BTreeMap<String, Preset>,
    binding: Option<&BTreeMap<String, String>>,
) -> Result<(), ConnectSessionError> {
    let refuse = |message: String| Err(ConnectSessionError::InvalidPreset(message));
    let fields = &adapter.manifest().config;
    for (name, preset) in presets {
        let Some(field) = fields.iter().find(|f| &f.name == name) else {
            return refuse(format!(
                "presets.{name}: adapter `{}` has no config field `{name}`",
                adapter.manifest().id
            ));
        };
        let value = preset.value.as_str();
        if value.trim().is_empty()
            || value.chars().count() > MAX_PRESET_CHARS
            || value.chars().any(is_hidden_control)
        {
            return refuse(format!(
                "presets.{name}: a preset is 1 to {MAX_PRESET_CHARS} characters, without \
                 control characters"
            ));
        }
        if field.kind == ConfigType::PrivateKey {
            if value != "platform" || binding.is_none() {
                return refuse(format!(
                    "presets.{name}: a private key is preset only to `platform`, on a link that \
                     offers the platform certificate (`platform_key_for`)"
                ));
            }
            continue;
        }
        if field.secret {
            return refuse(format!(
                "presets.{name}: a secret is never preset in a link; the customer types it, or \
                 connect the account through `POST /v1/connections`"
            ));
        }
        if let Some(problem) = value_problem(field, value) {
            return refuse(format!("presets.{name}: {problem}"));
        }
        if let Some(binding) = binding {
            match binding.get(name) {
                Some(bound) if bound != value => {
                    return refuse(format!(
                        "presets.{name}: differs from `platform_key_for.{name}`"
                    ));
                }
                None if adapter.system_fields().any(|f| f == name) => {
                    return refuse(format!(
                        "presets.{name}: it picks the system, and the platform certificate is \
                         bound without it: name it in `platform_key_for` instead"
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Refuses field requests a connection of `adapter` could not map (see
/// [`Connections::create_connect_session`]).
fn check_field_requests(
    adapter: &crate::runtime::Adapter,
    requests: &[FieldRequest],
) -> Result<(), ConnectSessionError> {
    let refuse = |message: String| Err(ConnectSessionError::InvalidFieldRequest(message));
    if requests.len() > MAX_FIELD_REQUESTS {
        return refuse(format!(
            "a link asks for at most {MAX_FIELD_REQUESTS} fields"
        ));
    }
    for (i, r) in requests.iter().enumerate() {
        let Some(entity) = adapter.manifest().entity(&r.entity) else {
            return refuse(format!(
                "fields/{i}: the adapter serves no entity `{}`",
                r.entity
            ));
        };
        if let Some((_, message)) = mapping::target_problem(entity, &r.target) {
            return refuse(format!("fields/{i}: {message}"));
        }
        if requests[..i]
            .iter()
            .any(|o| o.target == r.target && o.entity == r.entity)
        {
            return refuse(format!("fields/{i}: `{}` is asked twice", r.target));
        }
        let label = r.label.trim();
        if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
            return refuse(format!(
                "fields/{i}: a label is 1 to 100 characters, without control characters"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_in: i64, connection: Option<&str>) -> ConnectSession {
        let now = SystemTime::now();
        ConnectSession {
            id: "cs_1".into(),
            adapter_id: "example".into(),
            replaces: None,
            created_at: now,
            expires_at: if expires_in >= 0 {
                now + Duration::from_secs(expires_in as u64)
            } else {
                now - Duration::from_secs((-expires_in) as u64)
            },
            used_at: None,
            connection_id: connection.map(Into::into),
            sealed_token: None,
            failed_attempts: 0,
            platform_key_for: None,
            field_requests: vec![],
            presets: BTreeMap::new(),
        }
    }

    #[test]
    fn a_session_is_open_until_it_connects_or_expires() {
        let now = SystemTime::now();
        assert_eq!(status(&session(60, None), now), SessionStatus::Open);
        assert_eq!(status(&session(-1, None), now), SessionStatus::Expired);
        assert_eq!(
            status(&session(-1, Some("conn_1")), now),
            SessionStatus::Connected,
            "a used link stays connected after its time"
        );
    }
}
