//! Outbound HTTP: the allow-list every adapter request is checked against,
//! the network policy of each purpose that every connection is checked
//! against ([`network`]), and the one client that sends what passes
//! ([`client`]), for adapters and webhook deliveries alike.
//!
//! An adapter declares the origins it needs as templates over its connection
//! config (`https://{account_id}.suitetalk.api.netsuite.com`, `{base_url}`).
//! For each call the host renders them with the connection's values into an
//! [`AllowList`] of exact origins (scheme, host and port). Anything else is
//! refused before a byte leaves: deny by default, as Spin does.

pub mod cassette;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use url::{Origin, Url};

pub mod client;
pub mod network;

pub use client::HttpClient;
pub use network::{AdapterGrants, NetworkPolicy};

use crate::manifest::OriginTemplate;

/// What one call may reach: exact origins, each marked with whether it is
/// the connection's own (rendered from its config) or fixed by the
/// adapter, and the restricted networks the operator granted the adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    origins: Vec<Allowed>,
    network: NetworkPolicy,
}

/// One origin a call may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    origin: Origin,
    /// Rendered from the connection's config, not fixed by the adapter.
    own: bool,
    /// The path of the connection's URL (`/api`), or `""`: what a
    /// passthrough request to this origin stays under.
    base_path: String,
}

impl AllowList {
    /// Renders `templates` for `config`. A template whose config values are
    /// missing or unfit allows nothing; the call may still use the others.
    pub fn render(templates: &[OriginTemplate], config: &BTreeMap<String, String>) -> Self {
        let origins = templates
                .iter()
                .filter_map(|t| match t.render_with_base(config) {
                    Ok((origin, base_path)) => Some(Allowed {
                        origin,
                        own: t.is_connections_own(),
                        base_path,
                    }),
                    Err(reason) => {
                        tracing::debug!(%reason, "outbound host template allows nothing for this connection");
                        None
                    }
                })
                .collect();
        AllowList {
            origins,
            network: NetworkPolicy::default(),
        }
    }

    /// The same origins, whose addresses may also be in the restricted
    /// networks `network` allows.
    pub fn within(mut self, network: NetworkPolicy) -> Self {
        self.network = network;
        self
    }

    /// The restricted networks the call's requests may reach.
    pub fn network(&self) -> &NetworkPolicy {
        &self.network
    }

    /// Whether `url` may be requested.
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin();
        self.origins.iter().any(|a| a.origin == origin)
    }

    /// Whether `url`, when it is on one of the connection's own origins,
    /// stays under that origin's base path (`/api` allows `/api` and
    /// `/api/x`, not `/admin` nor `/apix`). The URL was parsed, so its dot
    /// segments, encoded ones included, are resolved already: this is the
    /// path the system will see.
    pub fn keeps_base_path(&self, url: &Url) -> bool {
        let origin = url.origin();
        let path = url.path();
        self.origins
            .iter()
            .filter(|a| a.own && a.origin == origin)
            .all(|a| {
                path.strip_prefix(a.base_path.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }

    /// Whether the connection's secrets may go to `url`: only origins its
    /// own config names (`{base_url}`, `https://{account_id}.example.com`),
    /// never one the adapter fixed itself.
    pub fn trusts_with_secrets(&self, url: &Url) -> bool {
        let origin = url.origin();
        self.origins.iter().any(|a| a.own && a.origin == origin)
    }
}

/// A request that passed the allow-list, with its secret headers filled in.
#[derive(Debug)]
pub struct OutboundRequest {
    /// The restricted networks this request may reach: its purpose's
    /// (an adapter's grants, or the webhooks'). The default allows none.
    pub network: NetworkPolicy,
    pub method: http::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("no response within the timeout")]
    Timeout,
    #[error("the response exceeded {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Transport(String),
    /// The destination's address is one the network policy refuses.
    #[error("{0}")]
    Refused(String),
}

/// Sends requests that passed the allow-list. The production implementation
/// is [`HttpClient`]; benchmarks plug in canned responses.
pub trait Outbound: Send + Sync + 'static {
    fn send(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ConfigField, ConfigType};

    fn config_fields() -> Vec<ConfigField> {
        ["base_url", "account_id"]
            .iter()
            .map(|name| ConfigField::sample(name, ConfigType::Text, false, true))
            .collect()
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn allow(template: &str, config: &[(&str, &str)]) -> AllowList {
        let t = OriginTemplate::parse(template, &config_fields()).unwrap();
        AllowList::render(&[t], &values(config))
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_whole_url_placeholder_allows_its_origin_only() {
        let list = allow("{base_url}", &[("base_url", "http://127.0.0.1:8088/api")]);
        assert!(list.allows(&url("http://127.0.0.1:8088/api/suppliers?x=1")));
        assert!(
            !list.allows(&url("http://127.0.0.1:8089/api")),
            "another port"
        );
        assert!(
            !list.allows(&url("https://127.0.0.1:8088/api")),
            "another scheme"
        );
        assert!(
            !list.allows(&url("http://localhost:8088/api")),
            "another host"
        );
    }

    #[test]
    fn a_label_placeholder_cannot_change_the_host() {
        let t = "https://{account_id}.suitetalk.api.netsuite.com";
        let ok = allow(t, &[("account_id", "1234567-sb1")]);
        assert!(ok.allows(&url(
            "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"
        )));
        assert!(!ok.allows(&url("https://other.suitetalk.api.netsuite.com/")));
        let evil = allow(t, &[("account_id", "evil.example#")]);
        assert!(!evil.allows(&url("https://evil.example/")));
        assert_eq!(evil, AllowList::default());
    }

    #[test]
    fn secrets_go_only_to_origins_the_connection_names() {
        let fields = config_fields();
        let templates = [
            OriginTemplate::parse("{base_url}", &fields).unwrap(),
            OriginTemplate::parse("https://status.example.com", &fields).unwrap(),
        ];
        let list = AllowList::render(
            &templates,
            &values(&[("base_url", "https://erp.example.com")]),
        );
        assert!(list.allows(&url("https://status.example.com/x")));
        assert!(!list.trusts_with_secrets(&url("https://status.example.com/x")));
        assert!(list.trusts_with_secrets(&url("https://erp.example.com/api")));
    }

    #[test]
    fn passthrough_requests_stay_under_the_base_path() {
        let list = allow("{base_url}", &[("base_url", "http://127.0.0.1:8088/api/")]);
        for inside in [
            "http://127.0.0.1:8088/api",
            "http://127.0.0.1:8088/api/suppliers?x=1",
            "http://127.0.0.1:8088/api/a/../b",
        ] {
            assert!(list.keeps_base_path(&url(inside)), "{inside}");
        }
        for outside in [
            "http://127.0.0.1:8088/admin",
            "http://127.0.0.1:8088/apix",
            "http://127.0.0.1:8088/api/.%2e/.%2e/admin/secrets",
            "http://127.0.0.1:8088/api/%2e%2e/admin",
            "http://127.0.0.1:8088/api/../admin",
        ] {
            assert!(!list.keeps_base_path(&url(outside)), "{outside}");
        }
        let no_path = allow("{base_url}", &[("base_url", "http://127.0.0.1:8088")]);
        assert!(no_path.keeps_base_path(&url("http://127.0.0.1:8088/admin")));
    }

    #[test]
    fn missing_values_allow_nothing() {
        assert_eq!(allow("{base_url}", &[]), AllowList::default());
    }

    #[test]
    fn templates_must_be_origins_over_public_config() {
        let fields = config_fields();
        assert!(OriginTemplate::parse("https://{account_id}.example.com/path", &fields).is_err());
        assert!(OriginTemplate::parse("ftp://{account_id}.example.com", &fields).is_err());
        assert!(OriginTemplate::parse("https://{nope}.example.com", &fields).is_err());
        let mut secret = fields.clone();
        secret[1].secret = true;
        assert!(OriginTemplate::parse("https://{account_id}.example.com", &secret).is_err());
    }
}
