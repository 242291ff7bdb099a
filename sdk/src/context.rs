//! The connection a call is made for.

use crate::bindings::interlink::adapter::types::CallContext;
use crate::{Error, Result};

/// Who a call is made for: the connection's id and its non-secret config.
///
/// Secret config values never reach the adapter; use them through
/// [`http::Request::secret_header`](crate::http::Request::secret_header) and
/// [`secrets::sign_jwt`](crate::secrets::sign_jwt).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The connection's id.
    pub connection_id: String,
    config: Vec<(String, String)>,
}

impl Context {
    /// A context for tests and native use.
    pub fn new(connection_id: impl Into<String>, config: &[(&str, &str)]) -> Self {
        Context {
            connection_id: connection_id.into(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The config value `name`, if the connection has one.
    pub fn config_opt(&self, name: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The config value `name`; an `invalid` error naming it when missing.
    pub fn config(&self, name: &str) -> Result<&str> {
        self.config_opt(name).ok_or_else(|| {
            Error::invalid(
                format!("/config/{name}"),
                "required",
                format!("the connection has no `{name}` config value"),
            )
        })
    }
}

impl From<CallContext> for Context {
    fn from(ctx: CallContext) -> Self {
        Context {
            connection_id: ctx.connection_id,
            config: ctx.config.into_iter().map(|c| (c.name, c.value)).collect(),
        }
    }
}
