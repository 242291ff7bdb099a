//! Structured logs, recorded by the host with the adapter and connection ids.

use crate::bindings::interlink::adapter::log as wit;
pub use wit::Level;

/// Logs `message` with `fields` at `level`.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<wit::LogField> = fields
        .iter()
        .map(|(k, v)| wit::LogField {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect();
    #[cfg(target_arch = "wasm32")]
    wit::log(level, message, &fields);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = fields;
        crate::testing::log(level, message);
    }
}

pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(Level::Debug, message, fields)
}

pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields)
}

pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields)
}

pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(Level::Error, message, fields)
}
