//! Interlink's host: it loads WebAssembly adapters, runs every call sandboxed
//! and bounded, and serves one HTTP API over all of them.
//!
//! Where things live:
//! - [`contract`]: the WIT contract versions the host serves;
//! - [`manifest`]: what adapters declare, and its validation;
//! - [`runtime`]: wasmtime, the per-call sandbox and the host imports;
//! - [`outbound`]: the outbound allow-list and HTTP client;
//! - [`registry`]: the loaded adapters, hot-swapped from a folder or uploads;
//! - [`connections`]: the connection lifecycle, tokens and credits;
//! - [`storage`]: the database (SQLite by default);
//! - [`secret_box`]: encryption of credentials at rest;
//! - [`rules`]: the write-rule engine;
//! - [`api`]: the HTTP API;
//! - [`data_dir`]: the host's data folder.

pub mod api;
pub mod certificates;
pub mod connections;
pub mod contract;
pub mod data_dir;
pub mod manifest;
pub mod outbound;
pub mod registry;
pub mod rules;
pub mod runtime;
pub mod secret_box;
pub mod storage;
pub mod sync;
pub mod webhooks;
