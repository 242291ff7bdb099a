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
pub mod v0_4_0;

pub use guest::{Answer, Guest, GuestPre};
pub use model::{
    Account, AdapterError, CallFor, FieldError, ListRequest, PassthroughMethod, PassthroughRequest,
    PassthroughResponse, RawPage,
};
/// The newest version, which the host's imports implement.
pub use v0_4_0 as latest;

use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The export every adapter provides, without its version.
const EXPORT: &str = "interlink:adapter/adapter";

/// A contract version this host serves. Adding one is adding a variant:
/// every place that treats versions differently matches on this enum
/// exhaustively (the linker, [`GuestPre::new`], [`Guest`]'s calls), so the
/// compiler names each place to extend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractVersion {
    V0_1_0,
    V0_2_0,
    V0_3_0,
    V0_4_0,
}

impl ContractVersion {
    /// Every version this host serves, newest first.
    pub const ALL: [ContractVersion; 4] = [Self::V0_4_0, Self::V0_3_0, Self::V0_2_0, Self::V0_1_0];

    /// As the component's export names it (`interlink:adapter/adapter@0.4.0`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V0_1_0 => "0.1.0",
            Self::V0_2_0 => "0.2.0",
            Self::V0_3_0 => "0.3.0",
            Self::V0_4_0 => "0.4.0",
        }
    }

    /// The served version `text` names, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The versions served, newest first, for messages.
fn served() -> String {
    ContractVersion::ALL.map(ContractVersion::as_str).join(", ")
}

/// Why a component is not an adapter this host can serve.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContractError {
    #[error(
        "the component does not export `{EXPORT}`: it is not an Interlink adapter (build it with interlink-sdk)"
    )]
    NotAnAdapter,
    #[error(
        "the adapter implements contract {found}, which this host does not serve; it serves {}",
        served()
    )]
    Unsupported { found: String },
}

/// The contract version a component's exports name.
///
/// # Errors
///
/// The component exports no adapter, or one of a version not served.
pub fn detect(engine: &Engine, component: &Component) -> Result<ContractVersion, ContractError> {
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
) -> Result<ContractVersion, ContractError> {
    let mut found = None;
    for name in export_names {
        if let Some(version) = name.strip_prefix(EXPORT).and_then(|v| v.strip_prefix('@')) {
            if let Some(served) = ContractVersion::parse(version) {
                return Ok(served);
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
        for version in ContractVersion::ALL {
            let name = format!("interlink:adapter/adapter@{version}");
            assert_eq!(version_of([name.as_str()].into_iter()), Ok(version));
            assert_eq!(ContractVersion::parse(version.as_str()), Some(version));
        }
        assert_eq!(
            ContractVersion::ALL[0],
            ContractVersion::V0_4_0,
            "newest first"
        );
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
            err.to_string()
                .contains("it serves 0.4.0, 0.3.0, 0.2.0, 0.1.0"),
            "{err}"
        );
    }

    #[test]
    fn other_components_are_not_adapters() {
        let err = version_of(["wasi:cli/run@0.2.0"].into_iter()).unwrap_err();
        assert_eq!(err, ContractError::NotAnAdapter);
    }
}
