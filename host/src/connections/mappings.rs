//! A connection's field mappings, set by its operator (or its customer on
//! the connect page), and the account's fields, described again on demand
//! so that a mapping whose field the system dropped shows as drift.
//! What a mapping does to reads and writes is [`crate::rules::mapping`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::{Connection, Connections, Status};
use crate::code::Code;
use crate::contract::AdapterError;
use crate::manifest::{Entity, Field, FieldType};
use crate::rules::Violation;
use crate::rules::mapping::{self, MappingIssue};
use crate::runtime::CallError;
use crate::storage::{FieldMapping, StorageError};

/// A mapping as an operator asks for it; the source's type is the host's to
/// record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMapping {
    /// The entity (`purchase-orders`).
    #[schema(max_length = 64)]
    pub entity: String,
    /// The system's field, as `GET /v1/{entity}/meta` names it
    /// (`custom_fields.custbody_cc`).
    #[schema(max_length = 256)]
    pub source: String,
    /// `custom.<name>` or a field of the unified model (`reference`).
    #[schema(max_length = 128)]
    pub target: String,
    /// Writes to the target go to the source (default: read only).
    #[serde(default)]
    pub writable: bool,
}

impl From<&FieldMapping> for NewMapping {
    /// A mapping the connection has, as it would be asked for again.
    fn from(m: &FieldMapping) -> Self {
        NewMapping {
            entity: m.entity.clone(),
            source: m.source.clone(),
            target: m.target.clone(),
            writable: m.writable,
        }
    }
}

/// The most mappings a connection holds.
pub const MAX_MAPPINGS: usize = 200;

/// Why mappings were not set, or the account not described again.
#[derive(Debug, Error)]
pub enum MappingError {
    #[error("no connection `{0}`")]
    NotFound(String),
    #[error("connection `{0}` is disconnected")]
    Disconnected(String),
    #[error("the connection's adapter `{0}` is not loaded")]
    AdapterUnavailable(String),
    #[error("the mappings are invalid")]
    Invalid(Vec<Violation>),
    #[error("the system rejected the credentials: {0}")]
    CredentialsRejected(String),
    #[error("the adapter could not describe the account: {0}")]
    Call(CallError),
    #[error("the connection's credentials cannot be opened")]
    Secrets,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl MappingError {
    /// The stable machine-readable code.
    pub fn code(&self) -> Code {
        match self {
            MappingError::NotFound(_) => Code::ConnectionNotFound,
            MappingError::Disconnected(_) => Code::ConnectionNotActive,
            MappingError::AdapterUnavailable(_) => Code::AdapterUnavailable,
            MappingError::Invalid(violations) => violations
                .iter()
                .find(|v| v.code == Code::MappingSourceReadOnly)
                .map_or(Code::InvalidMapping, |v| v.code),
            MappingError::CredentialsRejected(_) => Code::CredentialsRejected,
            MappingError::Call(e) => e.code(),
            MappingError::Secrets | MappingError::Storage(_) => Code::Internal,
        }
    }
}

impl Connections {
    /// The connection `id`, which must not be disconnected.
    async fn live(&self, id: &str) -> Result<Connection, MappingError> {
        let connection = self
            .storage
            .connection(id)
            .await?
            .ok_or_else(|| MappingError::NotFound(id.to_string()))?;
        if connection.status == Status::Disconnected {
            return Err(MappingError::Disconnected(id.to_string()));
        }
        Ok(connection)
    }

    /// Replaces `id`'s field mappings with `mappings`, checked against its
    /// adapter's entities and its account's fields as last described. The
    /// next call (on every node) reads and writes through them. Answers the
    /// connection.
    ///
    /// # Errors
    ///
    /// [`MappingError::NotFound`], [`MappingError::Disconnected`],
    /// [`MappingError::AdapterUnavailable`]; [`MappingError::Invalid`] with
    /// every problem of every mapping ([`mapping::check`]: a writable
    /// mapping of a read-only field, a source the system does not have, a
    /// target that cannot be one, a field mapped twice; more than
    /// [`MAX_MAPPINGS`]); [`MappingError::Storage`].
    pub async fn set_mappings(
        &self,
        id: &str,
        mappings: Vec<NewMapping>,
    ) -> Result<Connection, MappingError> {
        let connection = self.live(id).await?;
        let adapter = self
            .registry
            .get(&connection.adapter_id)
            .ok_or_else(|| MappingError::AdapterUnavailable(connection.adapter_id.clone()))?;
        if let Some((i, m)) = mappings
            .iter()
            .enumerate()
            .find(|(_, m)| m.entity.len() > 64 || m.source.len() > 256 || m.target.len() > 128)
        {
            return Err(MappingError::Invalid(vec![Violation {
                path: format!("/mappings/{i}"),
                code: Code::InvalidMapping,
                message: format!(
                    "an entity is at most 64 bytes, a source 256, a target 128 (`{}`)",
                    m.target.chars().take(40).collect::<String>()
                ),
            }]));
        }
        if mappings.len() > MAX_MAPPINGS {
            return Err(MappingError::Invalid(vec![Violation {
                path: "/mappings".into(),
                code: Code::InvalidMapping,
                message: format!("a connection holds at most {MAX_MAPPINGS} mappings"),
            }]));
        }
        let manifest = adapter.manifest();
        let entity = |name: &str| {
            manifest
                .entity(name)
                .map(|e| (e, account_fields(&connection, name)))
        };
        // A mapping the connection has already stays as it is, drifted or
        // not: removing one mapping never needs another fixed first.
        let kept = |m: &NewMapping| {
            connection.field_mappings.iter().find(|o| {
                o.entity == m.entity
                    && o.source == m.source
                    && o.target == m.target
                    && o.writable == m.writable
            })
        };
        let kept_at: Vec<bool> = mappings.iter().map(|m| kept(m).is_some()).collect();
        let mappings: Vec<FieldMapping> = mappings
            .into_iter()
            .map(|m| {
                if let Some(old) = kept(&m) {
                    return old.clone();
                }
                let kind = entity(&m.entity)
                    .and_then(|(e, extra)| source_kind(e, &extra, &m.source))
                    .unwrap_or(FieldType::Text);
                FieldMapping {
                    entity: m.entity,
                    source: m.source,
                    target: m.target,
                    writable: m.writable,
                    kind,
                }
            })
            .collect();
        let problems: Vec<Violation> = mapping::check(&mappings, entity)
            .into_iter()
            .filter(|v| v.code == Code::MappingConflict || !kept_at[index_of(v)])
            .collect();
        if !problems.is_empty() {
            return Err(MappingError::Invalid(problems));
        }
        if !self.storage.set_field_mappings(id, &mappings).await? {
            return Err(MappingError::NotFound(id.to_string()));
        }
        self.cache.invalidate(id);
        tracing::info!(connection = %id, mappings = mappings.len(), "field mappings set");
        Ok(Connection {
            field_mappings: mappings,
            ..connection
        })
    }

    /// Asks the system again which custom fields the account has (through
    /// the adapter's `connect`) and keeps them: a mapped field the system
    /// dropped or retyped then shows as drift. The permissions stay those
    /// the account held when it connected (a passing failure to read them
    /// must not refuse the connection's calls until the next describe).
    /// Answers the connection.
    ///
    /// # Errors
    ///
    /// [`MappingError::NotFound`], [`MappingError::Disconnected`],
    /// [`MappingError::AdapterUnavailable`]; [`MappingError::Secrets`];
    /// [`MappingError::CredentialsRejected`] when the system refuses the
    /// connection's credentials, [`MappingError::Call`] when the adapter
    /// fails otherwise; [`MappingError::Storage`].
    pub async fn describe_again(&self, id: &str) -> Result<Connection, MappingError> {
        let connection = self.live(id).await?;
        let adapter = self
            .registry
            .get(&connection.adapter_id)
            .ok_or_else(|| MappingError::AdapterUnavailable(connection.adapter_id.clone()))?;
        let open = self.open(connection).map_err(|_| MappingError::Secrets)?;
        let account = adapter.connect(open.ctx).await.map_err(|e| match e {
            CallError::Adapter(AdapterError::Unauthorized { message }) => {
                MappingError::CredentialsRejected(message)
            }
            other => MappingError::Call(other),
        })?;
        let connection = open.connection;
        if !self
            .storage
            .set_custom_fields(id, &account.custom_fields)
            .await?
        {
            return Err(MappingError::NotFound(id.to_string()));
        }
        self.cache.invalidate(id);
        let updated = Connection {
            custom_fields: account.custom_fields,
            ..connection
        };
        let drifted = self.mapping_issues(&updated).len();
        tracing::info!(connection = %id, drifted, "account described again");
        Ok(updated)
    }

    /// Describes again, every `every`, each active connection that maps
    /// fields, so that a field its system dropped or retyped shows as the
    /// connection's mapping issue without an operator asking
    /// (`--describe-every`). A connection the system refuses, or whose
    /// adapter fails, is logged and tried again next time. Every node does
    /// it (a few calls per mapped connection and interval).
    pub fn start_describing(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let connections = Arc::downgrade(self);
        // At most yearly: a longer period overflows the clock.
        let every = every.min(Duration::from_secs(365 * 86_400));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(connections) = connections.upgrade() else {
                    return;
                };
                let mapped = match connections.list().await {
                    Ok(all) => all
                        .into_iter()
                        .filter(|c| c.status == Status::Active && !c.field_mappings.is_empty()),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not list the connections to describe");
                        continue;
                    }
                };
                for connection in mapped.collect::<Vec<_>>() {
                    if let Err(e) = connections.describe_again(&connection.id).await {
                        tracing::warn!(connection = %connection.id, error = %e, "could not describe the account again");
                    }
                }
            }
        })
    }

    /// The mappings of `connection` whose source the system no longer has
    /// as it was mapped (none while its adapter is not loaded: nothing can
    /// be said then).
    pub fn mapping_issues(&self, connection: &Connection) -> Vec<MappingIssue> {
        let Some(adapter) = self.registry.get(&connection.adapter_id) else {
            return Vec::new();
        };
        let manifest = adapter.manifest();
        let mut issues = Vec::new();
        for entity in &manifest.entities {
            if !connection
                .field_mappings
                .iter()
                .any(|m| m.entity == entity.name)
            {
                continue;
            }
            let extra = account_fields(connection, &entity.name);
            issues.extend(mapping::issues(&mapping::resolve(
                &connection.field_mappings,
                entity,
                &extra,
            )));
        }
        // A mapping of an entity the adapter no longer serves.
        for m in &connection.field_mappings {
            if manifest.entity(&m.entity).is_none() {
                issues.push(MappingIssue {
                    entity: m.entity.clone(),
                    target: m.target.clone(),
                    source: m.source.clone(),
                    code: Code::MappingDrift,
                    message: mapping::Drift::Missing.message(m),
                });
            }
        }
        issues
    }
}

/// The custom fields `connection`'s account adds to `entity`.
pub fn account_fields(connection: &Connection, entity: &str) -> Vec<Field> {
    connection
        .custom_fields
        .iter()
        .filter(|c| c.entity == entity)
        .map(|c| c.field.clone())
        .collect()
}

/// The mapping a violation of [`mapping::check`] is about
/// (`/mappings/3/source`).
fn index_of(violation: &Violation) -> usize {
    violation
        .path
        .split('/')
        .nth(2)
        .and_then(|i| i.parse().ok())
        .expect("mapping::check names the mapping")
}

fn source_kind(entity: &Entity, extra: &[Field], name: &str) -> Option<FieldType> {
    entity
        .fields
        .iter()
        .chain(extra)
        .find(|f| f.name == name)
        .map(|f| f.kind.clone())
}
