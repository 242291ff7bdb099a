//! The host side of the contract's imports: what an adapter can ask of the
//! host, and nothing else (no files, sockets, environment or WASI).

mod adapt;
mod clock;
pub mod http;
pub mod kv;
mod log;
mod secrets;
mod v0_1_0;
mod v0_2_0;
mod v0_3_0;

use wasmtime::component::{HasSelf, Linker};

use super::state::HostState;
use crate::contract::{self, ContractVersion, latest};

impl latest::interlink::adapter::types::Host for HostState {}

/// Adds the host's imports, for every contract version served, to `linker`.
pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    for version in ContractVersion::ALL {
        match version {
            ContractVersion::V0_4_0 => {
                latest::AdapterWorld::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?
            }
            ContractVersion::V0_3_0 => {
                contract::v0_3_0::AdapterWorld::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?
            }
            ContractVersion::V0_2_0 => {
                contract::v0_2_0::AdapterWorld::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?
            }
            ContractVersion::V0_1_0 => {
                contract::v0_1_0::AdapterWorld::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?
            }
        }
    }
    Ok(())
}
