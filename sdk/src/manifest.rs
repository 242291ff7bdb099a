//! Builders for the adapter manifest: what the system is, how to connect to
//! it, and what it allows.
//!
//! ```
//! use interlink_sdk::manifest::*;
//!
//! let manifest = Manifest::new("demo", "Demo Procurement", "1.0.0")
//!     .auth(AuthScheme::ApiKey)
//!     .setup_step("Create an API key under Settings > API.")
//!     .config(ConfigField::url("base_url", "Where the API lives").placeholder("https://erp.example"))
//!     .config(ConfigField::text("api_key", "An API key").label("API key").secret())
//!     .outbound_host("{base_url}")
//!     .entity(
//!         Entity::new("vendors", "Suppliers")
//!             .operation(Operation::List, &["suppliers:read"])
//!             .field(Field::text("id").read_only())
//!             .field(Field::text("name").required()),
//!     );
//! assert_eq!(manifest.entities[0].fields.len(), 2);
//! ```

use crate::CONTRACT_VERSION;
#[cfg(not(feature = "contract-0-1-0"))]
pub use crate::bindings::interlink::adapter::types::ConfigSetter;
pub use crate::bindings::interlink::adapter::types::{
    Account, AuthScheme, ChildCollection, ConfigField, ConfigType, CustomField, Entity, Field,
    FieldAccess, FieldSelection, FieldType, Manifest, Operation, OperationPermissions, RateLimits,
    StateLock,
};

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

impl Manifest {
    /// A manifest for adapter `id` (lowercase letters, digits, `-`) at `version`
    /// (semver), with no auth, no config, no outbound hosts and no entities yet.
    pub fn new(id: &str, name: &str, version: &str) -> Self {
        Manifest {
            id: id.into(),
            name: name.into(),
            version: version.into(),
            contract_version: CONTRACT_VERSION.into(),
            description: String::new(),
            auth: AuthScheme::None,
            config: Vec::new(),
            outbound_hosts: Vec::new(),
            limits: RateLimits {
                max_concurrent_requests: 4,
                writes_per_minute: None,
            },
            entities: Vec::new(),
            #[cfg(not(feature = "contract-0-1-0"))]
            passthrough: false,
            #[cfg(not(feature = "contract-0-1-0"))]
            setup_steps: Vec::new(),
        }
    }

    /// Adds a step of the connect page's "Before you start" list: what a
    /// customer prepares in the system before connecting (at most 10, each
    /// up to 300 characters). Under contract 0.1.0 this does nothing.
    pub fn setup_step(mut self, step: &str) -> Self {
        #[cfg(not(feature = "contract-0-1-0"))]
        self.setup_steps.push(step.into());
        #[cfg(feature = "contract-0-1-0")]
        let _ = step;
        self
    }

    /// Declares that [`crate::Adapter::passthrough`] forwards requests to the
    /// system's own API (`/v1/passthrough/{path}`). Under contract 0.1.0 (the
    /// `contract-0-1-0` feature) there is no passthrough, and this does
    /// nothing.
    pub fn passthrough(mut self) -> Self {
        #[cfg(not(feature = "contract-0-1-0"))]
        {
            self.passthrough = true;
        }
        #[cfg(feature = "contract-0-1-0")]
        let _ = &mut self;
        self
    }

    pub fn description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    pub fn auth(mut self, auth: AuthScheme) -> Self {
        self.auth = auth;
        self
    }

    pub fn config(mut self, field: ConfigField) -> Self {
        self.config.push(field);
        self
    }

    /// Allows calls to an origin, templated over config fields:
    /// `https://{account_id}.suitetalk.api.netsuite.com` or `{base_url}`.
    pub fn outbound_host(mut self, template: &str) -> Self {
        self.outbound_hosts.push(template.into());
        self
    }

    /// At most `max_concurrent_requests` upstream requests in flight per
    /// connection, and at most `writes_per_minute` writes.
    pub fn limits(mut self, max_concurrent_requests: u32, writes_per_minute: Option<u32>) -> Self {
        self.limits = RateLimits {
            max_concurrent_requests,
            writes_per_minute,
        };
        self
    }

    pub fn entity(mut self, entity: Entity) -> Self {
        self.entities.push(entity);
        self
    }
}

impl ConfigField {
    fn new(name: &str, description: &str, kind: ConfigType) -> Self {
        ConfigField {
            name: name.into(),
            description: description.into(),
            type_: kind,
            secret: kind == ConfigType::PrivateKey,
            required: true,
            #[cfg(not(feature = "contract-0-1-0"))]
            label: String::new(),
            #[cfg(not(feature = "contract-0-1-0"))]
            placeholder: None,
            #[cfg(not(feature = "contract-0-1-0"))]
            group: String::new(),
            #[cfg(not(feature = "contract-0-1-0"))]
            set_by: ConfigSetter::Customer,
        }
    }

    /// How the connect page names it (`Account ID`; up to 100 characters).
    /// Without one, the host makes it from the name (`account_id` ->
    /// `Account ID`). Under contract 0.1.0 this does nothing, nor do the
    /// three below.
    pub fn label(mut self, label: &str) -> Self {
        #[cfg(not(feature = "contract-0-1-0"))]
        {
            self.label = label.into();
        }
        #[cfg(feature = "contract-0-1-0")]
        let _ = label;
        self
    }

    /// An example value, shown in the empty input (`1234567_SB1`).
    pub fn placeholder(mut self, example: &str) -> Self {
        #[cfg(not(feature = "contract-0-1-0"))]
        {
            self.placeholder = Some(example.into());
        }
        #[cfg(feature = "contract-0-1-0")]
        let _ = example;
        self
    }

    /// The heading the connect page shows it under (`Credentials`,
    /// `Advanced`); fields without one come first, untitled.
    pub fn group(mut self, group: &str) -> Self {
        #[cfg(not(feature = "contract-0-1-0"))]
        {
            self.group = group.into();
        }
        #[cfg(feature = "contract-0-1-0")]
        let _ = group;
        self
    }

    /// Set by the operator only (through the API, or a connect link's
    /// preset): the connect page never asks the customer for it, and
    /// refuses a value posted for it. For values a customer must not
    /// choose: a proxy's address, which custom fields the API may write.
    /// Never a secret's: the host refuses such a manifest.
    pub fn operator_only(mut self) -> Self {
        #[cfg(not(feature = "contract-0-1-0"))]
        {
            self.set_by = ConfigSetter::Operator;
        }
        #[cfg(feature = "contract-0-1-0")]
        let _ = &mut self;
        self
    }

    /// A required text value.
    pub fn text(name: &str, description: &str) -> Self {
        Self::new(name, description, ConfigType::Text)
    }

    /// A required `http(s)` URL.
    pub fn url(name: &str, description: &str) -> Self {
        Self::new(name, description, ConfigType::Url)
    }

    pub fn integer(name: &str, description: &str) -> Self {
        Self::new(name, description, ConfigType::Integer)
    }

    pub fn boolean(name: &str, description: &str) -> Self {
        Self::new(name, description, ConfigType::Boolean)
    }

    /// A PEM private key: always secret; use it with [`crate::secrets::sign_jwt`].
    pub fn private_key(name: &str, description: &str) -> Self {
        Self::new(name, description, ConfigType::PrivateKey)
    }

    /// Stored encrypted and never given to the adapter.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

impl Entity {
    pub fn new(name: &str, description: &str) -> Self {
        Entity {
            name: name.into(),
            description: description.into(),
            operations: Vec::new(),
            fields: Vec::new(),
            children: Vec::new(),
            state_locks: Vec::new(),
        }
    }

    /// Supports `operation`, which needs every one of `permissions`.
    pub fn operation(mut self, operation: Operation, permissions: &[&str]) -> Self {
        self.operations.push(OperationPermissions {
            operation,
            permissions: strings(permissions),
        });
        self
    }

    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    pub fn child(mut self, child: ChildCollection) -> Self {
        self.children.push(child);
        self
    }

    pub fn state_lock(mut self, lock: StateLock) -> Self {
        self.state_locks.push(lock);
        self
    }
}

impl Field {
    /// An optional, updatable, standard field of type `kind`.
    pub fn new(name: &str, kind: FieldType) -> Self {
        Field {
            name: name.into(),
            description: String::new(),
            type_: kind,
            access: FieldAccess::Updatable,
            required: false,
            custom: false,
            references: None,
        }
    }

    pub fn text(name: &str) -> Self {
        Self::new(name, FieldType::Text)
    }

    pub fn integer(name: &str) -> Self {
        Self::new(name, FieldType::Integer)
    }

    pub fn decimal(name: &str) -> Self {
        Self::new(name, FieldType::Decimal)
    }

    pub fn boolean(name: &str) -> Self {
        Self::new(name, FieldType::Boolean)
    }

    pub fn date(name: &str) -> Self {
        Self::new(name, FieldType::Date)
    }

    pub fn date_time(name: &str) -> Self {
        Self::new(name, FieldType::DateTime)
    }

    pub fn enumeration(name: &str, values: &[&str]) -> Self {
        Self::new(name, FieldType::Enumeration(strings(values)))
    }

    pub fn object(name: &str) -> Self {
        Self::new(name, FieldType::Object)
    }

    pub fn description(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    /// The system sets it; writes are refused.
    pub fn read_only(mut self) -> Self {
        self.access = FieldAccess::ReadOnly;
        self
    }

    /// Settable on create only.
    pub fn create_only(mut self) -> Self {
        self.access = FieldAccess::CreateOnly;
        self
    }

    /// A create must supply it.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// A custom field of the system.
    pub fn custom(mut self) -> Self {
        self.custom = true;
        self
    }

    /// Holds the `id` of a record of `entity`.
    pub fn references(mut self, entity: &str) -> Self {
        self.references = Some(entity.into());
        self
    }
}

impl ChildCollection {
    /// A collection of children in field `name`, creatable on its own and
    /// with no minimum count.
    pub fn new(name: &str, description: &str) -> Self {
        ChildCollection {
            name: name.into(),
            description: description.into(),
            fields: Vec::new(),
            create_with_parent: false,
            min_count: 0,
        }
    }

    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Children are created with their parent, never alone.
    pub fn create_with_parent(mut self) -> Self {
        self.create_with_parent = true;
        self
    }

    pub fn min_count(mut self, min: u32) -> Self {
        self.min_count = min;
        self
    }
}

impl StateLock {
    /// A lock that applies while `field` holds one of `values`; it locks
    /// nothing until told what.
    pub fn when(field: &str, values: &[&str]) -> Self {
        StateLock {
            field: field.into(),
            values: strings(values),
            locked_fields: FieldSelection::Only(Vec::new()),
            locked_operations: Vec::new(),
            reason: String::new(),
        }
    }

    /// Locks every field.
    pub fn lock_all_fields(mut self) -> Self {
        self.locked_fields = FieldSelection::All;
        self
    }

    /// Locks every field but `fields`.
    pub fn lock_all_fields_except(mut self, fields: &[&str]) -> Self {
        self.locked_fields = FieldSelection::AllExcept(strings(fields));
        self
    }

    /// Locks only `fields`.
    pub fn lock_fields(mut self, fields: &[&str]) -> Self {
        self.locked_fields = FieldSelection::Only(strings(fields));
        self
    }

    pub fn lock_operations(mut self, operations: &[Operation]) -> Self {
        self.locked_operations = operations.to_vec();
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.into();
        self
    }
}

impl Account {
    pub fn new(id: &str, name: &str) -> Self {
        Account {
            id: id.into(),
            name: name.into(),
            permissions: Vec::new(),
            custom_fields: Vec::new(),
        }
    }

    /// The permissions the account holds, in the system's own terms.
    pub fn permissions(mut self, permissions: Vec<String>) -> Self {
        self.permissions = permissions;
        self
    }

    /// A custom field this account adds to `entity`.
    pub fn custom_field(mut self, entity: &str, field: Field) -> Self {
        self.custom_fields.push(CustomField {
            entity: entity.into(),
            field,
        });
        self
    }
}
