//! The host's integration tests, in one binary: the real `interlink`
//! binary over HTTP, its library driven directly, and the real parts users
//! have (PostgreSQL, Chromium, trytond, schemathesis, ...). One binary links
//! wasmtime and the host once, not once a file. Each module is one subject;
//! `cargo xtask test` runs them with cargo-nextest, every test in its own
//! process under a deadline (`.config/nextest.toml`). One subject:
//! `cargo nextest run -p interlink --test it -E 'test(/^doors::/)'`.

mod common;

mod adapter_cli;
mod audit;
mod component_wit;
mod config;
mod conformance;
mod connections;
mod contract_versions;
mod dashboard;
mod data_path;
mod dataplane;
mod deployment;
mod doors;
mod edge;
mod hostile;
mod hot_swap;
mod http_api;
mod layers;
mod mcp;
mod netsuite;
mod nodes;
mod nodes_limits;
mod openapi_contract;
mod outbound;
mod passthrough;
mod postgres;
mod python_adapter;
mod runtime;
mod sap;
mod soak;
mod suite;
mod syncs;
mod telemetry;
mod tokens;
mod tryton;
mod upstream;
mod write_rules;
