"""What an adapter declares: its system, the config a connection supplies,
the entities it serves, and the rules the host enforces before it calls
the adapter (field access, required fields, child collections, state locks,
permissions, limits). The same concepts as the Rust SDK's `manifest`
module, as keyword arguments instead of builder chains."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from wit_world.imports import types as wit

#: The version of the adapter contract (`wit/`) this SDK builds against.
CONTRACT_VERSION = "0.4.0"


class AuthScheme(Enum):
    """How a connection proves its identity to the system."""

    NONE = "none"
    API_KEY = "api-key"
    BASIC = "basic"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2-client-credentials"
    OAUTH2_CLIENT_CREDENTIALS_JWT = "oauth2-client-credentials-jwt"


class Operation(Enum):
    """An operation on an entity."""

    LIST = "list"
    GET = "get"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

    def to_wit(self) -> wit.Operation:
        return wit.Operation[self.name]


@dataclass
class ConfigField:
    """One value a customer supplies when connecting an account.

    How the connect page shows it: `label` (`Account ID`; the host makes
    one from the name when empty), `placeholder` (an example value), `group` (the
    heading it is shown under, `Credentials`; empty for the first group).
    `operator_only`: set by the operator only (through the API or a connect
    link's preset), never asked of the customer; never a secret.
    """

    name: str
    description: str
    type: wit.ConfigType = wit.ConfigType.TEXT
    secret: bool = False
    required: bool = True
    label: str = ""
    placeholder: str | None = None
    group: str = ""
    operator_only: bool = False

    @classmethod
    def text(cls, name: str, description: str, *, secret: bool = False, required: bool = True, **shown: object) -> ConfigField:
        return cls(name, description, wit.ConfigType.TEXT, secret, required, **shown)  # type: ignore[arg-type]

    @classmethod
    def url(cls, name: str, description: str, *, required: bool = True, **shown: object) -> ConfigField:
        """An absolute `http` or `https` URL."""
        return cls(name, description, wit.ConfigType.URL, False, required, **shown)  # type: ignore[arg-type]

    @classmethod
    def integer(cls, name: str, description: str, *, required: bool = True, **shown: object) -> ConfigField:
        return cls(name, description, wit.ConfigType.INTEGER, False, required, **shown)  # type: ignore[arg-type]

    @classmethod
    def boolean(cls, name: str, description: str, *, required: bool = True, **shown: object) -> ConfigField:
        return cls(name, description, wit.ConfigType.BOOLEAN, False, required, **shown)  # type: ignore[arg-type]

    @classmethod
    def private_key(cls, name: str, description: str, **shown: object) -> ConfigField:
        """A PEM private key; always secret, used only through `secrets.sign_jwt`."""
        return cls(name, description, wit.ConfigType.PRIVATE_KEY, True, True, **shown)  # type: ignore[arg-type]

    def to_wit(self) -> wit.ConfigField:
        set_by = wit.ConfigSetter.OPERATOR if self.operator_only else wit.ConfigSetter.CUSTOMER
        return wit.ConfigField(
            self.name,
            self.description,
            self.type,
            self.secret,
            self.required,
            self.label,
            self.placeholder,
            self.group,
            set_by,
        )


class Field:
    """One field of an entity or of a child collection.

    `read_only`: the system sets it and a write of it is refused;
    `create_only`: set on create, never changed after; neither: updatable.
    Members of an object field are written with a dot (`address.city`),
    custom fields as `custom_fields.<system name>`.
    """

    def __init__(
        self,
        name: str,
        type: wit.FieldType,
        *,
        description: str = "",
        read_only: bool = False,
        create_only: bool = False,
        required: bool = False,
        custom: bool = False,
        references: str | None = None,
    ) -> None:
        if read_only and create_only:
            raise ValueError(f"field {name}: read_only and create_only exclude each other")
        self.name = name
        self.type = type
        self.description = description
        self.read_only = read_only
        self.create_only = create_only
        self.required = required
        self.custom = custom
        self.references = references

    @classmethod
    def text(cls, name: str, **options: object) -> Field:
        return cls(name, wit.FieldType_Text(), **options)  # type: ignore[arg-type]

    @classmethod
    def integer(cls, name: str, **options: object) -> Field:
        return cls(name, wit.FieldType_Integer(), **options)  # type: ignore[arg-type]

    @classmethod
    def decimal(cls, name: str, **options: object) -> Field:
        """A decimal number, as a JSON number or string (money, quantities)."""
        return cls(name, wit.FieldType_Decimal(), **options)  # type: ignore[arg-type]

    @classmethod
    def boolean(cls, name: str, **options: object) -> Field:
        return cls(name, wit.FieldType_Boolean(), **options)  # type: ignore[arg-type]

    @classmethod
    def date(cls, name: str, **options: object) -> Field:
        """A calendar date, `YYYY-MM-DD`."""
        return cls(name, wit.FieldType_Date(), **options)  # type: ignore[arg-type]

    @classmethod
    def date_time(cls, name: str, **options: object) -> Field:
        """An RFC 3339 timestamp in UTC."""
        return cls(name, wit.FieldType_DateTime(), **options)  # type: ignore[arg-type]

    @classmethod
    def enumeration(cls, name: str, values: list[str], **options: object) -> Field:
        """One of `values`."""
        return cls(name, wit.FieldType_Enumeration(list(values)), **options)  # type: ignore[arg-type]

    @classmethod
    def object(cls, name: str, **options: object) -> Field:
        """A JSON object; its members may be declared as fields of their own."""
        return cls(name, wit.FieldType_Object(), **options)  # type: ignore[arg-type]

    def to_wit(self) -> wit.Field:
        if self.read_only:
            access = wit.FieldAccess.READ_ONLY
        elif self.create_only:
            access = wit.FieldAccess.CREATE_ONLY
        else:
            access = wit.FieldAccess.UPDATABLE
        return wit.Field(
            self.name,
            self.description,
            self.type,
            access,
            self.required,
            self.custom,
            self.references,
        )


@dataclass
class ChildCollection:
    """Child records inside an entity (purchase-order lines)."""

    name: str
    description: str
    fields: list[Field]
    #: Children are created in the same request as their parent, never alone.
    create_with_parent: bool = False
    #: The fewest children a create must carry.
    min_count: int = 0

    def to_wit(self) -> wit.ChildCollection:
        return wit.ChildCollection(
            self.name,
            self.description,
            [f.to_wit() for f in self.fields],
            self.create_with_parent,
            self.min_count,
        )


@dataclass
class StateLock:
    """While `field` holds one of `values`, an update may not change the
    locked fields and the `operations` listed are refused.

    The locked fields are every field, or every field but
    `all_fields_except`, or only `fields`.
    """

    field: str
    values: list[str]
    all_fields_except: list[str] | None = None
    fields: list[str] | None = None
    operations: list[Operation] = field(default_factory=list)
    #: Why, in the system's own words, for error messages.
    reason: str = ""

    def to_wit(self) -> wit.StateLock:
        selection: wit.FieldSelection
        if self.fields is not None:
            selection = wit.FieldSelection_Only(list(self.fields))
        elif self.all_fields_except is not None:
            selection = wit.FieldSelection_AllExcept(list(self.all_fields_except))
        else:
            selection = wit.FieldSelection_All()
        return wit.StateLock(
            self.field,
            list(self.values),
            selection,
            [o.to_wit() for o in self.operations],
            self.reason,
        )


@dataclass
class Entity:
    """An entity of the unified model the adapter serves (`vendors`), with
    the permissions each operation needs, in the system's own terms."""

    name: str
    description: str
    operations: dict[Operation, list[str]]
    fields: list[Field]
    children: list[ChildCollection] = field(default_factory=list)
    state_locks: list[StateLock] = field(default_factory=list)

    def to_wit(self) -> wit.Entity:
        return wit.Entity(
            self.name,
            self.description,
            [wit.OperationPermissions(o.to_wit(), list(p)) for o, p in self.operations.items()],
            [f.to_wit() for f in self.fields],
            [c.to_wit() for c in self.children],
            [s.to_wit() for s in self.state_locks],
        )


@dataclass
class Manifest:
    """Everything the host needs to know about an adapter before calling it.

    `outbound_hosts` are `scheme://host[:port]` templates over config fields
    (`{base_url}`); every other destination is refused by the host.
    `max_concurrent_requests` and `writes_per_minute` hold per connection.
    """

    id: str
    name: str
    version: str
    description: str = ""
    auth: AuthScheme = AuthScheme.NONE
    config: list[ConfigField] = field(default_factory=list)
    outbound_hosts: list[str] = field(default_factory=list)
    max_concurrent_requests: int = 4
    writes_per_minute: int | None = None
    entities: list[Entity] = field(default_factory=list)
    #: Whether `passthrough` forwards requests to the system's own API.
    passthrough: bool = False
    #: What a customer prepares in the system before connecting, one step
    #: each: the connect page's "Before you start" list.
    setup_steps: list[str] = field(default_factory=list)

    def to_wit(self) -> wit.Manifest:
        return wit.Manifest(
            id=self.id,
            name=self.name,
            version=self.version,
            contract_version=CONTRACT_VERSION,
            description=self.description,
            auth=wit.AuthScheme[self.auth.name],
            config=[c.to_wit() for c in self.config],
            outbound_hosts=list(self.outbound_hosts),
            limits=wit.RateLimits(self.max_concurrent_requests, self.writes_per_minute),
            entities=[e.to_wit() for e in self.entities],
            passthrough=self.passthrough,
            setup_steps=list(self.setup_steps),
        )


@dataclass
class Account:
    """What `connect` learns about the connected account: its id and name in
    the system, the permissions it holds, and the custom fields it adds
    (entity name, field named `custom_fields.<system name>`)."""

    id: str
    name: str
    permissions: list[str] = field(default_factory=list)
    custom_fields: list[tuple[str, Field]] = field(default_factory=list)

    def to_wit(self) -> wit.Account:
        return wit.Account(
            self.id,
            self.name,
            list(self.permissions),
            [wit.CustomField(entity, f.to_wit()) for entity, f in self.custom_fields],
        )
