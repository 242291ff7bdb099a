//! Interlink's host: it loads WebAssembly adapters, runs every call sandboxed
//! and bounded, and serves one HTTP API over all of them.
//!
//! Where things live, top layer first (a module imports only modules of
//! lower layers: `docs/architecture.md` shows the layers, and the `layers`
//! test checks them):
//! - [`host`]: the composition root, which builds a host from its
//!   configuration (`interlink serve`, the tests and the benchmarks use it);
//! - [`mcp`]: the MCP door (`/mcp`) for AI agents, over the HTTP API's own
//!   pieces (its token check, errors and views);
//! - [`api`]: the HTTP API, and the dashboard and the customer's connect page
//!   (`api::pages`);
//! - [`sync`]: scheduled syncs, the other caller of the data plane;
//! - [`dataplane`]: one adapter call for a connection, for every caller:
//!   permissions, write rules, fairness, retries, failures;
//! - [`connections`]: the connection lifecycle, tokens and credits;
//!   [`rules`]: the write-rule engine;
//! - [`webhooks`]: subscriptions and signed deliveries;
//!   [`registry`]: the loaded adapters, hot-swapped from a folder or uploads;
//!   [`certificates`]: key pairs for JWT sign-ins;
//!   [`conformance`]: the adapter conformance suite;
//! - [`runtime`]: wasmtime, the per-call sandbox and the host imports;
//! - [`outbound`]: the outbound allow-list and HTTP client;
//!   [`storage`]: the database (SQLite by default);
//!   [`secret_box`]: encryption of credentials at rest;
//!   [`data_dir`]: the host's data folder;
//!   [`timestamps`]: timestamps as clients write them;
//!   [`rate_limit`]: token buckets (write budgets, the API's rate limit);
//!   [`duration`]: durations as flags and environment variables give them;
//!   [`telemetry`]: the metrics and trace spans every layer reports to;
//! - [`contract`]: the WIT contract versions the host serves;
//! - [`manifest`]: what adapters declare, and its validation;
//! - [`code`]: every error code a client can see, with its HTTP status.

pub mod api;
pub mod audit;
pub mod certificates;
pub mod code;
pub mod conformance;
pub mod connections;
pub mod contract;
pub mod data_dir;
pub mod dataplane;
pub mod duration;
pub mod host;
pub mod manifest;
pub mod mcp;
pub mod outbound;
pub mod rate_limit;
pub mod registry;
pub mod rules;
pub mod runtime;
pub mod secret_box;
pub mod storage;
pub mod sync;
pub mod telemetry;
pub mod timestamps;
pub mod timing;
pub mod webhooks;
