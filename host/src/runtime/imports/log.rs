//! `interlink:adapter/log`: adapter logs become tracing events that carry the
//! adapter and connection ids.

use crate::contract::v0_1_0::interlink::adapter::log::{self, Level, LogField};
use crate::runtime::state::HostState;

/// The longest message kept; adapters cannot flood the logs with one call.
const MAX_MESSAGE: usize = 4096;

impl log::Host for HostState {
    async fn log(&mut self, level: Level, message: String, fields: Vec<LogField>) {
        let mut message = message;
        message.truncate(message.floor_char_boundary(MAX_MESSAGE));
        let fields = fields
            .iter()
            .map(|f| format!("{}={}", f.key, f.value))
            .collect::<Vec<_>>()
            .join(" ");
        let adapter = &*self.adapter_id;
        let connection = &self.ctx.connection_id;
        match level {
            Level::Trace => {
                tracing::trace!(target: "adapter", adapter, connection, fields, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "adapter", adapter, connection, fields, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "adapter", adapter, connection, fields, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "adapter", adapter, connection, fields, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "adapter", adapter, connection, fields, "{message}")
            }
        }
    }
}
