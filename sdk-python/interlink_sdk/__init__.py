"""Write Interlink adapters in Python.

An adapter maps one business system onto Interlink's unified model. It is
built into a WebAssembly component (with `componentize-py`, by `cargo xtask
build-adapters`) that the Interlink host loads, sandboxes and calls, exactly
as it does a Rust adapter. This package hides the component plumbing and
has the Rust SDK's concepts:

- `Adapter`: the class you subclass, with `manifest()` and the operations
  (`connect`, `list`, `get`, `create`, `update`, `delete`, `passthrough`);
- `manifest`: the manifest, its entities, fields and rules;
- `http`: requests the host sends (with secret headers it fills in);
- `errors`: the typed failures the host turns into precise API errors;
- `kv`, `log`, `clock`, `secrets`: the other host imports;
- `export(MyAdapter)`: the class componentize-py exports, bound as
  `Adapter` in your app module;
- `testing.TestHost`: answers those host calls in plain unit tests.

The guide is `docs/adapter-guide.md`.
"""

from . import clock, errors, http, kv, log, secrets
from .adapter import Adapter, ListRequest, Page, Record, export
from .context import Context
from .manifest import (
    CONTRACT_VERSION,
    Account,
    AuthScheme,
    ChildCollection,
    ConfigField,
    Entity,
    Field,
    Manifest,
    Operation,
    StateLock,
)

__all__ = [
    "CONTRACT_VERSION",
    "Account",
    "Adapter",
    "AuthScheme",
    "ChildCollection",
    "ConfigField",
    "Context",
    "Entity",
    "Field",
    "ListRequest",
    "Manifest",
    "Operation",
    "Page",
    "Record",
    "StateLock",
    "clock",
    "errors",
    "export",
    "http",
    "kv",
    "log",
    "secrets",
]
