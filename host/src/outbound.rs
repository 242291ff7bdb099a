//! Outbound HTTP: the allow-list every adapter request is checked against,
//! and the client that sends what passes.
//!
//! An adapter declares the origins it needs as templates over its connection
//! config (`https://{account_id}.suitetalk.api.netsuite.com`, `{base_url}`).
//! For each call the host renders them with the connection's values into an
//! [`AllowList`] of exact origins (scheme, host and port). Anything else is
//! refused before a byte leaves: deny by default, as Spin does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Url;
use url::Origin;

use crate::manifest::{ConfigField, ConfigType};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(String),
}

/// A parsed `outbound-hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTemplate {
    parts: Vec<Part>,
}

fn is_label(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The origin of an absolute http(s) URL.
fn http_origin(text: &str) -> Result<Origin, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` is not an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{text}` carries credentials"));
    }
    Ok(url.origin())
}

impl OriginTemplate {
    /// Parses `template`; every `{name}` must be a non-secret config field.
    pub fn parse(template: &str, config: &[ConfigField]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let end = rest[start..].find('}').ok_or("an unclosed `{`")? + start;
            let name = &rest[start + 1..end];
            match config.iter().find(|c| c.name == name) {
                Some(field) if !field.secret && field.kind != ConfigType::PrivateKey => {}
                Some(_) => return Err(format!("`{{{name}}}` is a secret config field")),
                None => return Err(format!("`{{{name}}}` is not a config field")),
            }
            parts.push(Part::Placeholder(name.to_string()));
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        let template = OriginTemplate { parts };
        if !template.is_whole_placeholder() {
            // Check the shape with a stand-in value for every placeholder.
            let sample: BTreeMap<String, String> = template
                .placeholders()
                .map(|p| (p.to_string(), "x".to_string()))
                .collect();
            template.render(&sample)?;
        }
        Ok(template)
    }

    fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    fn is_whole_placeholder(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Placeholder(_)])
    }

    /// The origin this template allows for a connection's `config`.
    ///
    /// A template that is one placeholder (`{base_url}`) takes the origin of
    /// the URL the connection supplies. Inside a larger template a value may
    /// only be a host label (letters, digits, `-`, `_`), so that no value can
    /// move the request to another host (`evil.example#`).
    pub fn render(&self, config: &BTreeMap<String, String>) -> Result<Origin, String> {
        let value = |name: &str| {
            config
                .get(name)
                .ok_or_else(|| format!("the connection has no `{name}` config value"))
        };
        if let [Part::Placeholder(name)] = self.parts.as_slice() {
            return http_origin(value(name)?);
        }
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => text.push_str(literal),
                Part::Placeholder(name) => {
                    let v = value(name)?;
                    if !is_label(v) {
                        return Err(format!(
                            "config value `{name}` may only hold letters, digits, `-` and `_`"
                        ));
                    }
                    text.push_str(v);
                }
            }
        }
        let url = Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{text}` must be an origin (scheme://host[:port]) without a path"
            ));
        }
        http_origin(&text)
    }
}

/// The exact origins one call may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Origin>);

impl AllowList {
    /// Renders `templates` for `config`. A template whose config values are
    /// missing or unfit allows nothing; the call may still use the others.
    pub fn render(templates: &[OriginTemplate], config: &BTreeMap<String, String>) -> Self {
        AllowList(
            templates
                .iter()
                .filter_map(|t| match t.render(config) {
                    Ok(origin) => Some(origin),
                    Err(reason) => {
                        tracing::debug!(%reason, "outbound host template allows nothing for this connection");
                        None
                    }
                })
                .collect(),
        )
    }

    /// Whether `url` may be requested.
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin();
        self.0.contains(&origin)
    }
}

/// Upstream requests in flight, bounded per connection by the adapter's
/// `max-concurrent-requests`: a request past the bound waits for a slot.
#[derive(Default)]
pub struct ConnectionGates {
    gates: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl ConnectionGates {
    /// Waits for one of `limit` slots of `connection`; the slot is held until
    /// the permit is dropped.
    pub async fn enter(&self, connection: &str, limit: u32) -> tokio::sync::OwnedSemaphorePermit {
        let gate = self
            .gates
            .lock()
            .unwrap()
            .entry(connection.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(limit.max(1) as usize)))
            .clone();
        gate.acquire_owned().await.expect("gates are never closed")
    }
}

/// A request that passed the allow-list, with its secret headers filled in.
#[derive(Debug)]
pub struct OutboundRequest {
    pub method: reqwest::Method,
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
}

/// Sends requests that passed the allow-list. The production implementation
/// is [`ReqwestOutbound`]; benchmarks plug in canned responses.
pub trait Outbound: Send + Sync + 'static {
    fn send(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>>;
}

/// Outbound HTTP with reqwest: no redirects (each hop would need its own
/// allow-list check), bounded time, and a cap on response size.
pub struct ReqwestOutbound {
    client: reqwest::Client,
    max_response_bytes: u64,
}

impl ReqwestOutbound {
    pub fn new(max_response_bytes: u64) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("interlink/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(ReqwestOutbound {
            client,
            max_response_bytes,
        })
    }
}

impl Outbound for ReqwestOutbound {
    fn send(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'static, Result<OutboundResponse, OutboundError>> {
        let mut builder = self
            .client
            .request(request.method, request.url)
            .timeout(request.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let max = self.max_response_bytes;
        Box::pin(async move {
            let classify = |e: reqwest::Error| {
                if e.is_timeout() {
                    OutboundError::Timeout
                } else if e.is_builder() {
                    OutboundError::InvalidRequest(e.to_string())
                } else {
                    OutboundError::Transport(e.to_string())
                }
            };
            let mut response = builder.send().await.map_err(classify)?;
            if response.content_length().is_some_and(|n| n > max) {
                return Err(OutboundError::TooLarge(max));
            }
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() as u64 + chunk.len() as u64 > max {
                    return Err(OutboundError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(OutboundResponse {
                status,
                headers,
                body,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_fields() -> Vec<ConfigField> {
        ["base_url", "account_id"]
            .iter()
            .map(|name| ConfigField {
                name: name.to_string(),
                description: String::new(),
                kind: ConfigType::Text,
                secret: false,
                required: true,
            })
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
