//! The conversions every contract version shares: its WIT types into the
//! host's model ([`crate::manifest`], [`super::Account`],
//! [`super::AdapterError`], [`super::RawPage`]), and the host's call
//! arguments into its WIT types.
//!
//! Versions whose `types` interface is the same generate the same Rust
//! types, so one macro serves them all; what a version added is read by
//! functions of its own module, which older versions answer with defaults.

use crate::manifest::{ConfigSetter, label_of};

/// How the connect page shows a config field (contract 0.4.0's additions
/// to `config-field`).
pub(super) struct Presentation {
    pub label: String,
    pub placeholder: Option<String>,
    pub group: String,
    pub set_by: ConfigSetter,
}

impl Presentation {
    /// For a field of a version before 0.4.0: labelled from its name, in
    /// the form's first group, set by the customer.
    pub fn of_name(name: &str) -> Self {
        Presentation {
            label: label_of(name),
            placeholder: None,
            group: String::new(),
            set_by: ConfigSetter::Customer,
        }
    }
}

/// Conversions between `types` (a version's generated `types` module, in
/// scope where the macro is used) and the host's model. The version's
/// module also defines what came after the oldest version:
/// `declares_passthrough(&types::Manifest) -> bool` (0.3.0),
/// `setup_steps(&types::Manifest) -> Vec<String>` and
/// `presentation(&types::ConfigField) -> Presentation` (0.4.0).
macro_rules! type_conversions {
    () => {
        use $crate::contract as host;
        use $crate::manifest as m;

        impl From<types::Manifest> for m::Manifest {
            fn from(w: types::Manifest) -> Self {
                let passthrough = declares_passthrough(&w);
                let setup_steps = setup_steps(&w);
                m::Manifest {
                    id: w.id,
                    name: w.name,
                    version: w.version,
                    contract_version: w.contract_version,
                    description: w.description,
                    auth: match w.auth {
                        types::AuthScheme::None => m::AuthScheme::None,
                        types::AuthScheme::ApiKey => m::AuthScheme::ApiKey,
                        types::AuthScheme::Basic => m::AuthScheme::Basic,
                        types::AuthScheme::Oauth2ClientCredentials => {
                            m::AuthScheme::Oauth2ClientCredentials
                        }
                        types::AuthScheme::Oauth2ClientCredentialsJwt => {
                            m::AuthScheme::Oauth2ClientCredentialsJwt
                        }
                    },
                    config: w.config.into_iter().map(Into::into).collect(),
                    outbound_hosts: w.outbound_hosts,
                    limits: m::RateLimits {
                        max_concurrent_requests: w.limits.max_concurrent_requests,
                        writes_per_minute: w.limits.writes_per_minute,
                    },
                    entities: w.entities.into_iter().map(Into::into).collect(),
                    passthrough,
                    setup_steps,
                }
            }
        }

        impl From<types::ConfigField> for m::ConfigField {
            fn from(w: types::ConfigField) -> Self {
                let shown = presentation(&w);
                m::ConfigField {
                    name: w.name,
                    description: w.description,
                    kind: match w.type_ {
                        types::ConfigType::Text => m::ConfigType::Text,
                        types::ConfigType::Url => m::ConfigType::Url,
                        types::ConfigType::Integer => m::ConfigType::Integer,
                        types::ConfigType::Boolean => m::ConfigType::Boolean,
                        types::ConfigType::PrivateKey => m::ConfigType::PrivateKey,
                    },
                    secret: w.secret,
                    required: w.required,
                    label: shown.label,
                    placeholder: shown.placeholder,
                    group: shown.group,
                    set_by: shown.set_by,
                }
            }
        }

        impl From<types::Operation> for m::Operation {
            fn from(w: types::Operation) -> Self {
                match w {
                    types::Operation::List => m::Operation::List,
                    types::Operation::Get => m::Operation::Get,
                    types::Operation::Create => m::Operation::Create,
                    types::Operation::Update => m::Operation::Update,
                    types::Operation::Delete => m::Operation::Delete,
                }
            }
        }

        impl From<types::Field> for m::Field {
            fn from(w: types::Field) -> Self {
                m::Field {
                    name: w.name,
                    description: w.description,
                    kind: match w.type_ {
                        types::FieldType::Text => m::FieldType::Text,
                        types::FieldType::Integer => m::FieldType::Integer,
                        types::FieldType::Decimal => m::FieldType::Decimal,
                        types::FieldType::Boolean => m::FieldType::Boolean,
                        types::FieldType::Date => m::FieldType::Date,
                        types::FieldType::DateTime => m::FieldType::DateTime,
                        types::FieldType::Enumeration(values) => m::FieldType::Enumeration(values),
                        types::FieldType::Object => m::FieldType::Object,
                    },
                    access: match w.access {
                        types::FieldAccess::ReadOnly => m::FieldAccess::ReadOnly,
                        types::FieldAccess::CreateOnly => m::FieldAccess::CreateOnly,
                        types::FieldAccess::Updatable => m::FieldAccess::Updatable,
                    },
                    required: w.required,
                    custom: w.custom,
                    references: w.references,
                }
            }
        }

        impl From<types::Entity> for m::Entity {
            fn from(w: types::Entity) -> Self {
                m::Entity {
                    name: w.name,
                    description: w.description,
                    operations: w
                        .operations
                        .into_iter()
                        .map(|o| m::OperationPermissions {
                            operation: o.operation.into(),
                            permissions: o.permissions,
                        })
                        .collect(),
                    fields: w.fields.into_iter().map(Into::into).collect(),
                    children: w
                        .children
                        .into_iter()
                        .map(|c| m::ChildCollection {
                            name: c.name,
                            description: c.description,
                            fields: c.fields.into_iter().map(Into::into).collect(),
                            create_with_parent: c.create_with_parent,
                            min_count: c.min_count,
                        })
                        .collect(),
                    state_locks: w
                        .state_locks
                        .into_iter()
                        .map(|l| m::StateLock {
                            field: l.field,
                            values: l.values,
                            locked_fields: match l.locked_fields {
                                types::FieldSelection::All => m::FieldSelection::All,
                                types::FieldSelection::AllExcept(f) => {
                                    m::FieldSelection::AllExcept(f)
                                }
                                types::FieldSelection::Only(f) => m::FieldSelection::Only(f),
                            },
                            locked_operations: l
                                .locked_operations
                                .into_iter()
                                .map(Into::into)
                                .collect(),
                            reason: l.reason,
                        })
                        .collect(),
                }
            }
        }

        impl From<types::Account> for host::Account {
            fn from(w: types::Account) -> Self {
                host::Account {
                    id: w.id,
                    name: w.name,
                    permissions: w.permissions,
                    custom_fields: w
                        .custom_fields
                        .into_iter()
                        .map(|c| m::CustomField {
                            entity: c.entity,
                            field: c.field.into(),
                        })
                        .collect(),
                }
            }
        }

        impl From<types::AdapterError> for host::AdapterError {
            fn from(w: types::AdapterError) -> Self {
                match w {
                    types::AdapterError::Unauthorized(message) => {
                        host::AdapterError::Unauthorized { message }
                    }
                    types::AdapterError::Forbidden(f) => host::AdapterError::Forbidden {
                        message: f.message,
                        missing_permissions: f.missing_permissions,
                    },
                    types::AdapterError::Invalid(errors) => host::AdapterError::Invalid {
                        errors: errors
                            .into_iter()
                            .map(|e| host::FieldError {
                                path: e.path,
                                code: e.code,
                                message: e.message,
                            })
                            .collect(),
                    },
                    types::AdapterError::NotFound(message) => {
                        host::AdapterError::NotFound { message }
                    }
                    types::AdapterError::Conflict(c) => host::AdapterError::Conflict {
                        message: c.message,
                        state: c.state,
                    },
                    types::AdapterError::RateLimited(r) => host::AdapterError::RateLimited {
                        message: r.message,
                        retry_after_ms: r.retry_after_ms,
                    },
                    types::AdapterError::Upstream(u) => host::AdapterError::Upstream {
                        status: u.status,
                        message: u.message,
                    },
                    types::AdapterError::Unsupported(message) => {
                        host::AdapterError::Unsupported { message }
                    }
                }
            }
        }

        impl From<types::Page> for host::RawPage {
            fn from(w: types::Page) -> Self {
                host::RawPage {
                    records: w.records,
                    next_cursor: w.next_cursor,
                }
            }
        }

        impl From<&host::CallFor<'_>> for types::CallContext {
            fn from(c: &host::CallFor<'_>) -> Self {
                types::CallContext {
                    connection_id: c.connection_id.to_string(),
                    config: c
                        .config
                        .iter()
                        .map(|(name, value)| types::ConfigValue {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                }
            }
        }

        impl From<&host::ListRequest> for types::ListRequest {
            fn from(r: &host::ListRequest) -> Self {
                types::ListRequest {
                    entity: r.entity.clone(),
                    cursor: r.cursor.clone(),
                    page_size: r.page_size,
                    modified_after: r.modified_after.clone(),
                }
            }
        }
    };
}

/// Conversions of a passthrough request and answer (contract 0.3.0 and
/// later), with the version's `exported` adapter interface and `http`
/// module in scope.
macro_rules! passthrough_conversions {
    () => {
        impl From<&host::PassthroughRequest> for exported::PassthroughRequest {
            fn from(r: &host::PassthroughRequest) -> Self {
                exported::PassthroughRequest {
                    method: match r.method {
                        host::PassthroughMethod::Get => http::Method::Get,
                        host::PassthroughMethod::Head => http::Method::Head,
                        host::PassthroughMethod::Post => http::Method::Post,
                        host::PassthroughMethod::Put => http::Method::Put,
                        host::PassthroughMethod::Patch => http::Method::Patch,
                        host::PassthroughMethod::Delete => http::Method::Delete,
                    },
                    path: r.path.clone(),
                    headers: r
                        .headers
                        .iter()
                        .map(|(name, value)| http::Header {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    body: r.body.clone(),
                }
            }
        }

        impl From<http::Response> for host::PassthroughResponse {
            fn from(w: http::Response) -> Self {
                host::PassthroughResponse {
                    status: w.status,
                    headers: w.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                    body: w.body,
                }
            }
        }
    };
}

pub(super) use {passthrough_conversions, type_conversions};
