//! `interlink:adapter/log`: adapter logs become tracing events that carry the
//! adapter and connection ids.
//!
//! Bounded, because adapters may be third-party code: at most
//! [`MAX_LINES`] lines a call (the rest are counted, and the count logged
//! once when the call ends), [`MAX_MESSAGE`] bytes a message, [`MAX_FIELDS`]
//! fields of [`MAX_FIELD`] bytes; control characters are escaped, so that an
//! adapter cannot write a line that looks like one of the host's. The lines
//! the host writes about what a call did (an outbound request it denied)
//! come out of the same budget ([`HostState::log_budget`]).

use std::borrow::Cow;

use crate::contract::latest::interlink::adapter::log::{self, Level, LogField};
use crate::runtime::state::HostState;

/// Lines one call may log.
pub const MAX_LINES: u32 = 200;
/// The longest message kept.
pub const MAX_MESSAGE: usize = 4096;
/// Fields kept per line, and the longest key or value.
pub const MAX_FIELDS: usize = 16;
pub const MAX_FIELD: usize = 256;

/// `text`, cut to at most `max` bytes and with control characters escaped.
pub(super) fn clean(text: &str, max: usize) -> Cow<'_, str> {
    let cut = &text[..text.floor_char_boundary(max)];
    if !cut.chars().any(char::is_control) {
        return Cow::Borrowed(cut);
    }
    Cow::Owned(
        cut.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

impl HostState {
    /// Takes one line of the call's log budget: false once [`MAX_LINES`]
    /// were logged (the line is then counted as dropped, not written).
    pub(super) fn log_budget(&mut self) -> bool {
        if self.log_lines >= MAX_LINES {
            self.logs_dropped += 1;
            return false;
        }
        self.log_lines += 1;
        true
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: Level, message: String, fields: Vec<LogField>) {
        if self.describing || !self.log_budget() {
            return;
        }
        let message = clean(&message, MAX_MESSAGE);
        let fields = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|f| {
                format!(
                    "{}={}",
                    clean(&f.key, MAX_FIELD),
                    clean(&f.value, MAX_FIELD)
                )
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_and_cannot_start_a_line_of_their_own() {
        assert_eq!(clean("plain", 100), "plain");
        assert_eq!(
            clean("ok\n2026-11-29T00:00:00Z  INFO forged", 100),
            "ok\\n2026-11-29T00:00:00Z  INFO forged"
        );
        assert_eq!(clean("ééé", 3), "é", "cut on a character boundary");
    }
}
