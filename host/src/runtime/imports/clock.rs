//! `interlink:adapter/clock`

use std::time::{SystemTime, UNIX_EPOCH};

use crate::contract::latest::interlink::adapter::clock;
use crate::runtime::state::HostState;

impl clock::Host for HostState {
    async fn now_ms(&mut self) -> u64 {
        if let Some(ms) = self.services.fixed_clock_ms {
            return ms;
        }
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}
