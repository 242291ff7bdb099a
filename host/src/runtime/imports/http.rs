//! `interlink:adapter/http`: the checks every adapter request passes, then
//! the [`Outbound`](crate::outbound::Outbound) client.
//!
//! - the URL's origin must be one the manifest's templates render for this
//!   connection (the allow-list);
//! - the host sets `Host`, framing and connection headers itself: an adapter
//!   may not (`Host` would reach another virtual host on an allowed address);
//! - secret headers are filled in by the host, and only for origins the
//!   connection's own config names, never for an origin the adapter fixed;
//!   private keys never go into a header;
//! - the response reaches the adapter with every secret value of the
//!   connection masked, so a system that echoes a request's headers cannot
//!   hand a secret to the adapter;
//! - in a dry run, a request that may change the system (not a `GET` or
//!   `HEAD`, and not marked `read-only`) is held: kept, with its secrets
//!   redacted, as the dry run's answer, and the call stops there;
//! - a request sent is counted (by adapter and status) and traced: it
//!   carries the `traceparent` of its span when traces are exported.
//! - when the request's client asked for its exchanges
//!   (`Prefer: include-upstream`), a request sent is kept for its answer
//!   ([`crate::audit::upstream`]: no header, secrets and the credentials
//!   it carried masked).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tracing::Instrument;
use url::Url;

use crate::audit::redact::{self, MASK, MIN_SECRET_LEN, Redactor, mask};
use crate::audit::upstream::{Capture, Sent};
use crate::contract::latest::interlink::adapter::http::{
    self, Error, Header, Method, Request, Response,
};
use crate::outbound::{OutboundError, OutboundRequest, OutboundResponse};
use crate::runtime::state::{Held, HostState};
use crate::storage::audit::{AuditKind, AuditOutcome};
use crate::telemetry::metrics::Upstream;
use crate::telemetry::trace::{self, SPANS};
use crate::timing::Part;

/// Headers the host owns (besides `Proxy-*`).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// Refuses a header the host sets itself, and every `Proxy-*` header.
fn settable(name: &str) -> Result<(), Error> {
    let proxy = name
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"));
    if proxy
        || RESERVED_HEADERS
            .iter()
            .any(|r| name.eq_ignore_ascii_case(r))
    {
        return Err(Error::InvalidRequest(format!(
            "the host sets `{name}` itself"
        )));
    }
    Ok(())
}

/// Headers whose whole value is a credential: a held request shows them
/// redacted, whoever set them (a secret header, or a token from `kv`).
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// A request a dry run held instead of sending: what the write would have
/// sent, with the connection's secrets and credential headers redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The body, as text (lossy for bytes that are not UTF-8).
    pub body: Option<String>,
}

/// The longest origin a denial shows (in the log and the error): a URL's
/// host can be as long as the adapter makes it.
const MAX_SHOWN_ORIGIN: usize = 256;

/// `url`'s origin as a denial shows it: cut to [`MAX_SHOWN_ORIGIN`] bytes,
/// control characters escaped.
fn shown_origin(url: &Url) -> String {
    super::log::clean(&url.origin().ascii_serialization(), MAX_SHOWN_ORIGIN).into_owned()
}

impl HostState {
    /// Checks `request` and turns it into what the client sends.
    fn prepare(&mut self, request: Request) -> Result<OutboundRequest, Error> {
        if self.describing {
            return Err(Error::Denied(
                "adapters make no requests while describing themselves".into(),
            ));
        }
        let url = Url::parse(&request.url)
            .map_err(|e| Error::InvalidRequest(format!("`{}`: {e}", request.url)))?;
        if !self.allow.allows(&url) {
            // The origin, never the whole URL (an adapter's megabyte of
            // path), and a line of the call's log budget.
            let origin = shown_origin(&url);
            if self.log_budget() {
                tracing::warn!(adapter = &*self.adapter_id, connection = %self.ctx.connection_id, %origin, "outbound request denied");
            }
            return Err(Error::Denied(format!(
                "{origin} is not among the adapter's outbound hosts for this connection"
            )));
        }
        if self.passthrough && !self.allow.keeps_base_path(&url) {
            let origin = shown_origin(&url);
            if self.log_budget() {
                tracing::warn!(adapter = &*self.adapter_id, connection = %self.ctx.connection_id, %origin, "passthrough request outside the base path denied");
            }
            return Err(Error::Denied(format!(
                "a passthrough request to {origin} stays under the path of the connection's base URL"
            )));
        }
        let mut headers: Vec<(String, String)> = Vec::with_capacity(request.headers.len());
        for h in request.headers {
            settable(&h.name)?;
            headers.push((h.name, h.value));
        }
        if !request.secret_headers.is_empty() && !self.allow.trusts_with_secrets(&url) {
            return Err(Error::Denied(format!(
                "the connection's secrets go only to origins its config names, not to {}",
                shown_origin(&url)
            )));
        }
        for secret in request.secret_headers {
            if self.private_keys.contains(&secret.secret) {
                return Err(Error::Denied(format!(
                    "`{}` is a private key: it signs (secrets.sign-jwt), it is never sent",
                    secret.secret
                )));
            }
            let value = self.ctx.secrets.get(&secret.secret).ok_or_else(|| {
                Error::InvalidRequest(format!("the connection has no secret `{}`", secret.secret))
            })?;
            settable(&secret.name)?;
            headers.push((secret.name, format!("{}{value}", secret.prefix)));
        }
        let mut timeout = self.http_timeout.min(self.remaining());
        if let Some(ms) = request.timeout_ms {
            timeout = timeout.min(Duration::from_millis(ms.into()));
        }
        let method = match request.method {
            Method::Get => ::http::Method::GET,
            Method::Head => ::http::Method::HEAD,
            Method::Post => ::http::Method::POST,
            Method::Put => ::http::Method::PUT,
            Method::Patch => ::http::Method::PATCH,
            Method::Delete => ::http::Method::DELETE,
        };
        Ok(OutboundRequest {
            network: self.allow.network().clone(),
            method,
            url,
            headers,
            body: request.body,
            timeout,
        })
    }

    /// `request` as a dry run shows it. Credential headers are redacted by
    /// name and secret header values (which may not be credentials by name)
    /// by value, as everywhere else.
    fn held(&self, request: OutboundRequest) -> HeldRequest {
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&self.masked(bytes)).into_owned();
        HeldRequest {
            method: request.method.to_string(),
            url: text(request.url.to_string().into_bytes()),
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| {
                    let credential = CREDENTIAL_HEADERS
                        .iter()
                        .any(|c| name.eq_ignore_ascii_case(c));
                    let value = if credential {
                        String::from_utf8_lossy(MASK).into_owned()
                    } else {
                        text(value.into_bytes())
                    };
                    (name, value)
                })
                .collect(),
            body: request.body.map(text),
        }
    }

    /// `bytes` with every secret value of the connection masked.
    fn masked(&self, bytes: Vec<u8>) -> Vec<u8> {
        let secrets = self.ctx.secrets.values().map(str::as_bytes);
        mask(bytes, secrets.filter(|s| s.len() >= MIN_SECRET_LEN))
    }
}

impl HostState {
    /// Sends `request` in a span of its own, whose `traceparent` it
    /// carries (when traces are exported: replacing any the adapter set),
    /// and counts it.
    async fn sent(&self, mut request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let span = tracing::info_span!(
            target: SPANS,
            "upstream request",
            otel.kind = "client",
            adapter = &*self.adapter_id,
            http.request.method = %request.method,
            server.address = request.url.host_str().unwrap_or_default(),
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        trace::inject(&span, &mut request.headers);
        let started = Instant::now();
        let sent = self
            .services
            .outbound
            .send(request)
            .instrument(span.clone())
            .await;
        let outcome = match &sent {
            Ok(response) => {
                span.record("http.response.status_code", response.status);
                Upstream::Status(response.status)
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                match e {
                    OutboundError::InvalidRequest(_) => Upstream::Invalid,
                    OutboundError::Timeout => Upstream::Timeout,
                    OutboundError::TooLarge(_) => Upstream::TooLarge,
                    OutboundError::Transport(_) => Upstream::Transport,
                    OutboundError::Refused(_) => Upstream::Refused,
                }
            }
        };
        self.services
            .metrics
            .upstream(&self.adapter_id, outcome, started.elapsed());
        sent
    }
}

/// Whether a request of `method` may change the system, unless the adapter
/// marked it `read-only`.
fn may_write(method: Method) -> bool {
    !matches!(method, Method::Get | Method::Head)
}

impl http::Host for HostState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, Error>> {
        let holds = self.dry_run && may_write(request.method) && !request.read_only;
        let secrets_used: Vec<(String, String)> = match &self.trail {
            Some(_) if self.services.audit.on() => request
                .secret_headers
                .iter()
                .map(|h| (h.secret.clone(), h.name.clone()))
                .collect(),
            _ => Vec::new(),
        };
        let sent = match self.prepare(request) {
            Ok(request) if holds => {
                let held = self.held(request);
                tracing::debug!(adapter = &*self.adapter_id, method = %held.method, url = %held.url, "dry run: request held");
                self.held.push(held);
                return Err(Held.into());
            }
            Ok(request) => {
                let audited = self.trail.is_some() && self.services.audit.on();
                let exchange = audited.then(|| Exchange::of(&request, self));
                let capture = self.trail.as_ref().and_then(|t| t.upstream.get());
                let shown = capture.map(|capture| Shown::of(&request, capture));
                let started = Instant::now();
                let sent = self.sent(request).await.map_err(|e| match e {
                    OutboundError::InvalidRequest(m) => Error::InvalidRequest(m),
                    OutboundError::Timeout => Error::Timeout,
                    OutboundError::TooLarge(n) => Error::TooLarge(n),
                    OutboundError::Transport(m) => Error::Transport(m),
                    OutboundError::Refused(m) => Error::Denied(m),
                });
                let took = started.elapsed();
                if let Some(trail) = &self.trail {
                    trail.timing.add(Part::Upstream, took);
                }
                if let Some(exchange) = exchange {
                    self.audit_exchange(exchange, took, &sent, &secrets_used);
                }
                if let (Some(capture), Some(shown)) = (capture, shown) {
                    capture.record(Sent {
                        method: &shown.method,
                        url: &shown.url,
                        body: shown.body.as_deref(),
                        answer: match &sent {
                            Ok(response) => Ok((response.status, &response.body)),
                            Err(error) => Err(error.to_string()),
                        },
                        took,
                    });
                }
                sent
            }
            Err(e) => Err(e),
        };
        if let Err(Error::Denied(reason)) = &sent {
            self.denied.get_or_insert_with(|| reason.clone());
        }
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Ok(Err(error)),
        };
        let headers = response
            .headers
            .into_iter()
            .map(|(name, value)| Header {
                name,
                value: String::from_utf8(self.masked(value.into_bytes()))
                    .expect("masking keeps UTF-8 text UTF-8"),
            })
            .collect();
        Ok(Ok(Response {
            status: response.status,
            headers,
            body: self.masked(response.body),
        }))
    }
}

/// What a request's answer shows of a request on its way out
/// (`Prefer: include-upstream`), before the client takes the request.
struct Shown {
    method: String,
    url: String,
    body: Option<Vec<u8>>,
}

impl Shown {
    /// `request` as shown, after noting the credentials its headers carry
    /// with `capture`, which masks them.
    fn of(request: &OutboundRequest, capture: &Capture) -> Self {
        for (name, value) in &request.headers {
            let named = CREDENTIAL_HEADERS
                .iter()
                .any(|c| name.eq_ignore_ascii_case(c));
            if named || redact::is_credential_name(name) {
                capture.credential(value);
            }
        }
        Shown {
            method: request.method.to_string(),
            url: request.url.to_string(),
            body: request.body.clone(),
        }
    }
}

/// What the audit trail keeps of a request on its way out.
struct Exchange {
    method: String,
    origin: String,
    path: String,
    bytes_out: usize,
    /// The request's body, when the connection's bodies are kept.
    body: Option<Vec<u8>>,
}

impl Exchange {
    fn of(request: &OutboundRequest, state: &HostState) -> Self {
        let bodies = state.trail.as_ref().is_some_and(|t| t.bodies);
        Exchange {
            method: request.method.to_string(),
            origin: request.url.origin().ascii_serialization(),
            path: path_template(request.url.path()),
            bytes_out: request.body.as_ref().map_or(0, Vec::len),
            body: request.body.clone().filter(|_| bodies),
        }
    }
}

/// The most of a body the trail keeps.
const MAX_AUDITED_BODY: usize = 64 * 1024;

/// `path` with the segments that look like record ids (all digits, or
/// eight characters or more with a digit) replaced by `{id}`: what was
/// called, without whom it was about.
fn path_template(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let digits = segment.bytes().filter(u8::is_ascii_digit).count();
            let id = digits > 0 && (digits == segment.len() || segment.len() >= 8);
            if id { "{id}" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl HostState {
    /// Records a request sent for this call (the trail is on), and the
    /// secrets it carried.
    fn audit_exchange(
        &self,
        exchange: Exchange,
        took: Duration,
        sent: &Result<OutboundResponse, Error>,
        secrets_used: &[(String, String)],
    ) {
        let Some(trail) = &self.trail else { return };
        let audit = &self.services.audit;
        let redactor = exchange
            .body
            .is_some()
            .then(|| Redactor::new(self.ctx.secrets.values()));
        // Masked whole (the secrets, then the credentials a body carries
        // by name and every JWT), then cut.
        let body = |bytes: &[u8]| {
            redactor.as_ref().map(|r| {
                // By name first: re-serializing JSON may spell a secret
                // in another escape than the system did.
                let masked = r.bytes(redact::credentials(bytes.to_vec()));
                let cut = &masked[..masked.len().min(MAX_AUDITED_BODY)];
                String::from_utf8_lossy(cut).into_owned()
            })
        };
        let (outcome, mut detail) = match sent {
            Ok(response) => (
                if response.status < 400 {
                    AuditOutcome::Ok
                } else {
                    AuditOutcome::Error
                },
                json!({"status": response.status, "bytes_in": response.body.len()}),
            ),
            Err(Error::Denied(reason)) => (AuditOutcome::Refused, json!({"error": reason})),
            Err(error) => (AuditOutcome::Error, json!({"error": error.to_string()})),
        };
        detail["method"] = json!(exchange.method);
        detail["origin"] = json!(exchange.origin);
        detail["path"] = json!(exchange.path);
        detail["duration_ms"] = json!(took.as_secs_f64() * 1000.0);
        detail["bytes_out"] = json!(exchange.bytes_out);
        if let Some(request) = exchange.body.as_deref().and_then(body) {
            detail["request_body"] = json!(request);
        }
        if let (Ok(response), true) = (sent, redactor.is_some()) {
            detail["response_body"] = json!(body(&response.body));
        }
        let action = format!("{} {}{}", exchange.method, exchange.origin, exchange.path);
        audit.record(trail.entry(AuditKind::Upstream, outcome, action, detail));
        for (secret, header) in secrets_used {
            audit.record(trail.entry(
                AuditKind::Credential,
                AuditOutcome::Ok,
                format!("secret {secret}"),
                json!({"use": "header", "header": header, "origin": exchange.origin}),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::outbound::{AllowList, HttpClient};
    use crate::runtime::imports::log::MAX_LINES;
    use crate::runtime::{MemoryKv, Services};

    /// A call's state for the adapter `hostile`, whose allow-list is empty.
    fn state() -> HostState {
        let client = HttpClient::new(1 << 20, None).unwrap();
        HostState {
            adapter_id: "hostile".into(),
            ctx: Arc::default(),
            allow: AllowList::default(),
            describing: false,
            log_lines: 0,
            logs_dropped: 0,
            private_keys: Arc::new([]),
            services: Arc::new(Services::new(
                Arc::new(client),
                Arc::new(MemoryKv::default()),
            )),
            memory_limit: 1 << 20,
            memory: 0,
            deadline: Instant::now() + Duration::from_secs(5),
            http_timeout: Duration::from_secs(5),
            denied: None,
            dry_run: false,
            held: Vec::new(),
            call_id: String::new(),
            filling: false,
            passthrough: false,
            trail: None,
        }
    }

    fn get(url: String) -> Request {
        Request {
            method: Method::Get,
            url,
            headers: Vec::new(),
            secret_headers: Vec::new(),
            body: None,
            timeout_ms: None,
            read_only: false,
        }
    }

    /// What `run` logs, as text.
    fn logged(run: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    /// Before: a denied request logged the adapter's URL whole (a 1.9 MB
    /// URL, a 1.9 MB line a call) and outside the call's log budget.
    #[test]
    fn a_denied_url_logs_its_origin_cut_and_counts_in_the_log_budget() {
        let mut state = state();
        let url = format!("http://evil.example/{}", "x".repeat(2 << 20));
        let lines = logged(|| {
            let denied = state.prepare(get(url));
            assert!(matches!(denied, Err(Error::Denied(_))));
        });
        assert!(lines.contains("origin=http://evil.example\n"), "{lines}");
        assert!(!lines.contains("xxx"), "the path is not logged: {lines}");
        assert_eq!(state.log_lines, 1, "the line counts in the call's budget");

        // A host is as long as the adapter makes it: the origin is cut.
        let long_host = format!("http://{}.example/", "a".repeat(60_000));
        let lines = logged(|| {
            let Err(Error::Denied(reason)) = state.prepare(get(long_host)) else {
                panic!("denied")
            };
            assert!(reason.len() < 2 * MAX_SHOWN_ORIGIN, "{}", reason.len());
        });
        assert!(lines.len() < 2 * MAX_SHOWN_ORIGIN + 200, "{lines}");

        // Past the budget, denials are counted as dropped lines, not logged.
        state.log_lines = MAX_LINES;
        let lines = logged(|| {
            for _ in 0..1_000 {
                let _ = state.prepare(get("http://evil.example/".into()));
            }
        });
        assert_eq!(lines, "");
        assert_eq!(state.logs_dropped, 1_000);
    }

    #[test]
    fn the_host_owns_host_framing_and_proxy_headers() {
        for name in [
            "Host",
            "content-length",
            "TE",
            "Proxy-Authorization",
            "proxy-x",
        ] {
            assert!(settable(name).is_err(), "{name}");
        }
        for name in ["authorization", "accept", "x-proxy", "proxy", "teapot"] {
            assert!(settable(name).is_ok(), "{name}");
        }
    }
}
