//! The adapter contract versions this host serves.
//!
//! As in Zed's extension host, every released WIT version is frozen in its
//! own folder (`wit/since_vX.Y.Z/`) and gets its own module here: a
//! `bindgen!` of that version plus conversions of its types into the host's
//! model ([`crate::manifest`], and [`Account`] and [`AdapterError`] here). The rest
//! of the host is written once, against that model. When a new version ships,
//! older guests keep working through their module's conversions.
//!
//! A component says which version it implements through the name of its
//! export: `interlink:adapter/adapter@0.1.0`. The host reads it before
//! instantiating and refuses versions it does not serve, naming those it does.
//! The runtime holds every adapter as a [`Guest`], one enum over the
//! versions' bindings.

mod convert;
mod guest;
mod model;
pub mod v0_1_0;
pub mod v0_2_0;
pub mod v0_3_0;

pub use guest::{Answer, Guest, GuestPre};
pub use model::{
    Account, AdapterError, CallFor, FieldError, ListRequest, PassthroughMethod, PassthroughRequest,
    PassthroughResponse, RawPage,
};
/// The newest version, which the host's imports implement.
pub use v0_3_0 as latest;

use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The export every adapter provides, without its version.
const EXPORT: &str = "interlink:adapter/adapter";

/// The contract versions this host can load, newest first.
pub const SUPPORTED: &[&str] = &["0.3.0", "0.2.0", "0.1.0"];

/// Why a component is not an adapter this host can serve.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContractError {
    #[error(
        "the component does not export `{EXPORT}`: it is not an Interlink adapter (build it with interlink-sdk)"
    )]
    NotAnAdapter,
    #[error(
        "the adapter implements contract {found}, which this host does not serve; it serves {}",
        SUPPORTED.join(", ")
    )]
    Unsupported { found: String },
}

/// The contract version a component's exports name.
pub fn detect(engine: &Engine, component: &Component) -> Result<&'static str, ContractError> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    version_of(names.iter().map(String::as_str))
}

/// The supported version among export names, or why there is none.
fn version_of<'a>(
    export_names: impl Iterator<Item = &'a str>,
) -> Result<&'static str, ContractError> {
    let mut found = None;
    for name in export_names {
        if let Some(version) = name.strip_prefix(EXPORT).and_then(|v| v.strip_prefix('@')) {
            if let Some(supported) = SUPPORTED.iter().find(|s| **s == version) {
                return Ok(supported);
            }
            found = Some(version.to_string());
        }
    }
    Err(match found {
        Some(found) => ContractError::Unsupported { found },
        None => ContractError::NotAnAdapter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_supported_version() {
        for version in SUPPORTED {
            let name = format!("interlink:adapter/adapter@{version}");
            assert_eq!(version_of([name.as_str()].into_iter()), Ok(*version));
        }
    }

    #[test]
    fn names_supported_versions_when_refusing() {
        let err = version_of(["interlink:adapter/adapter@9.0.0"].into_iter()).unwrap_err();
        assert_eq!(
            err,
            ContractError::Unsupported {
                found: "9.0.0".into()
            }
        );
        assert!(
            err.to_string().contains("it serves 0.3.0, 0.2.0, 0.1.0"),
            "{err}"
        );
    }

    #[test]
    fn other_components_are_not_adapters() {
        let err = version_of(["wasi:cli/run@0.2.0"].into_iter()).unwrap_err();
        assert_eq!(err, ContractError::NotAnAdapter);
    }
}
