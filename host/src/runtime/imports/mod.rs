//! The host side of the contract's imports: what an adapter can ask of the
//! host, and nothing else (no files, sockets, environment or WASI).

mod clock;
mod http;
pub mod kv;
mod log;
mod secrets;

use super::state::HostState;
use crate::contract::v0_1_0::interlink::adapter::types;

impl types::Host for HostState {}
