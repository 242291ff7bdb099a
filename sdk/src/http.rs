//! HTTP through the host.
//!
//! The host sends the request, after checking it against the manifest's
//! `outbound-hosts`; it follows no redirects and bounds time and size.
//!
//! Build URLs from values (record ids, cursors, filters) with [`segment`]
//! and [`encode`]: a value pasted in raw could walk the request to another
//! resource of the system (`../admin`) or add query parameters.
//!
//! ```no_run
//! # fn demo(base: &str) -> interlink_sdk::Result<()> {
//! use interlink_sdk::http::Request;
//!
//! let me: serde_json::Value = Request::get(format!("{base}/api/me"))
//!     .secret_header("Authorization", "api_key", "Bearer ")
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! # Ok(()) }
//! ```

use crate::Error;
use crate::bindings::interlink::adapter::http as wit;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
pub use wit::Method;

/// Everything but RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` percent-encoded as one URL component (a query value): every
/// character but letters, digits and `-._~` is encoded.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// `value` as one path segment: percent-encoded as [`encode`] does, and
/// refused when empty or only dots (`.`, `..`), which name no resource.
///
/// ```
/// use interlink_sdk::http::segment;
/// assert_eq!(segment("PO 7/2").unwrap(), "PO%207%2F2");
/// assert!(segment("..").is_err());
/// ```
pub fn segment(value: &str) -> Result<String, Error> {
    if value.is_empty() || value.chars().all(|c| c == '.') {
        return Err(Error::not_found(format!("`{value}` names no record")));
    }
    Ok(encode(value))
}

/// `method` as HTTP spells it (`PATCH`): for requests an adapter writes
/// itself, such as the parts of an OData `$batch`.
pub fn method_name(method: Method) -> &'static str {
    method.name()
}

/// An outgoing request.
#[derive(Debug, Clone)]
pub struct Request(wit::Request);

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request(wit::Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            secret_headers: Vec::new(),
            body: None,
            timeout_ms: None,
            #[cfg(not(feature = "contract-0-1-0"))]
            read_only: false,
        })
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.headers.push(wit::Header {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// A header whose value is `prefix` followed by the connection's secret
    /// config value `secret`, filled in by the host: the adapter never sees it.
    pub fn secret_header(mut self, name: &str, secret: &str, prefix: &str) -> Self {
        self.0.secret_headers.push(wit::SecretHeader {
            name: name.into(),
            secret: secret.into(),
            prefix: prefix.into(),
        });
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.0.body = Some(body);
        self
    }

    /// A JSON body, with its `Content-Type`.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        let bytes = serde_json::to_vec(body).expect("JSON values always serialize");
        self.header("Content-Type", "application/json").body(bytes)
    }

    /// A timeout shorter than the host's.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.0.timeout_ms = Some(ms);
        self
    }

    /// Marks the request as one that changes nothing in the system, whatever
    /// its method: a token request, a query sent as `POST`. A dry-run write
    /// (`Prefer: dry-run`) sends it, and holds every other request that is
    /// not a `GET` or `HEAD`. Under contract 0.1.0 (the `contract-0-1-0`
    /// feature) there is no such mark, and this does nothing.
    pub fn read_only(mut self) -> Self {
        #[cfg(not(feature = "contract-0-1-0"))]
        {
            self.0.read_only = true;
        }
        #[cfg(feature = "contract-0-1-0")]
        let _ = &mut self;
        self
    }

    /// Sends the request. A request the host refuses, or one without a
    /// response, becomes an `upstream` error with status 0.
    pub fn send(&self) -> Result<Response, Error> {
        #[cfg(target_arch = "wasm32")]
        let sent = wit::send(&self.0);
        #[cfg(not(target_arch = "wasm32"))]
        let sent = crate::testing::send(&self.0);
        sent.map(Response).map_err(|e| {
            let message = match e {
                wit::Error::Denied(m) => format!("request denied by the host: {m}"),
                wit::Error::InvalidRequest(m) => format!("invalid request: {m}"),
                wit::Error::Timeout => "the system did not answer in time".to_string(),
                wit::Error::TooLarge(n) => format!("the response exceeded {n} bytes"),
                wit::Error::Transport(m) => format!("could not reach the system: {m}"),
            };
            Error::upstream(0, message)
        })
    }
}

/// A client's request for the system's own API, sent to the host's
/// `/v1/passthrough/{path}` (see [`crate::Adapter::passthrough`]).
#[derive(Debug, Clone)]
pub struct PassthroughRequest {
    pub method: Method,
    /// The path after `/v1/passthrough`, from `/`, with its query string.
    /// The host refused `..` segments, `//` and control characters.
    pub path: String,
    /// The client's headers the host passes on (content negotiation and
    /// conditional requests; never its credentials).
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl PassthroughRequest {
    /// The request to send: the path after `base` (the system's base URL,
    /// from the connection's config), with the client's headers and body.
    /// Add the connection's credentials, then [`Request::send`] it.
    pub fn to(&self, base: &str) -> Request {
        let url = format!("{}{}", base.trim_end_matches('/'), self.path);
        let mut request = Request::new(self.method, url);
        for (name, value) in &self.headers {
            request = request.header(name, value.clone());
        }
        match &self.body {
            Some(body) => request.body(body.clone()),
            None => request,
        }
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response(wit::Response);

impl Response {
    /// The response as the contract passes it back to the host.
    #[cfg_attr(feature = "contract-0-1-0", allow(dead_code))]
    pub(crate) fn into_wit(self) -> wit::Response {
        self.0
    }

    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.0
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every header named `name` (case-insensitive), in the order they came:
    /// for headers a response may repeat, such as `Set-Cookie`.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    pub fn body(&self) -> &[u8] {
        &self.0.body
    }

    /// Decodes the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.0.body)?)
    }

    /// Maps the common failure statuses to typed errors: 401 `unauthorized`,
    /// 403 `forbidden`, 404 `not-found`, 429 `rate-limited` (with
    /// `Retry-After`), any other 4xx or 5xx `upstream`. Adapters whose system
    /// says more in its error bodies map those themselves.
    pub fn error_for_status(self) -> Result<Self, Error> {
        let status = self.status();
        if status < 400 {
            return Ok(self);
        }
        // Enough of the system's words to say what went wrong; not its page.
        let text = String::from_utf8_lossy(self.body())
            .chars()
            .take(300)
            .collect::<String>();
        Err(match status {
            401 => Error::unauthorized(text),
            403 => Error::forbidden(text, Vec::new()),
            404 => Error::not_found(text),
            429 => {
                let retry = self
                    .header("retry-after")
                    .and_then(|v| retry_after_ms(v, crate::clock::now_ms()));
                Error::rate_limited(text, retry)
            }
            _ => Error::upstream(status, text),
        })
    }
}

/// The wait a `Retry-After` value asks for, in milliseconds, at `now_ms`:
/// either delay-seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00
/// GMT`, zero once past). `None` for anything else.
fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(at_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestHost;

    /// Both forms RFC 9110 allows, against the clock the host gives (here
    /// set by the test). Catches a parser that only reads seconds, and one
    /// that reads the date against anything but the host's clock.
    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date_against_the_host_clock() {
        // 2015-10-21T07:27:30Z
        let now = 1_445_412_450_000;
        assert_eq!(retry_after_ms("120", now), Some(120_000));
        assert_eq!(retry_after_ms(" 0 ", now), Some(0));
        assert_eq!(
            retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(30_000)
        );
        assert_eq!(
            retry_after_ms("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(0),
            "a date already past: retry now"
        );
        assert_eq!(retry_after_ms("soon", now), None);
        assert_eq!(retry_after_ms("-5", now), None);

        let host = TestHost::install();
        host.set_now_ms(now);
        let mut limited = response(429, "slow down");
        limited.0.headers.push(wit::Header {
            name: "Retry-After".into(),
            value: "Wed, 21 Oct 2015 07:28:00 GMT".into(),
        });
        match limited.error_for_status() {
            Err(Error::RateLimited(limited)) => assert_eq!(limited.retry_after_ms, Some(30_000)),
            other => panic!("{other:?}"),
        }
    }

    fn response(status: u16, body: &str) -> Response {
        Response(wit::Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        })
    }

    /// A system's error page is quoted, not passed on: pointed at an
    /// internal service, a connection must not read its pages back.
    #[test]
    fn an_error_quotes_at_most_300_characters_of_the_answer() {
        let page = "x".repeat(10_000);
        match response(401, &page).error_for_status() {
            Err(Error::Unauthorized(text)) => assert_eq!(text.len(), 300),
            other => panic!("{other:?}"),
        }
        match response(502, "short").error_for_status() {
            Err(Error::Upstream(failure)) => assert_eq!(failure.message, "short"),
            other => panic!("{other:?}"),
        }
        assert!(response(200, &page).error_for_status().is_ok());
    }
}
