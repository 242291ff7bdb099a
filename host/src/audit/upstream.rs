//! `Prefer: include-upstream`: the exchanges one request's adapter calls
//! had with the system, kept for the request's own answer.
//!
//! A request that asks (and whose token holds the `upstream` scope) turns
//! its [`Trail`](super::Trail)'s capture on; every other request leaves it
//! unset, and the runtime's one check per outbound request is a load of
//! that cell. With the capture on, the runtime hands over each request it
//! sent (or tried to: an error in place of the status) and the call's
//! credentials ([`Capture::credential`]); the API layer takes the whole with
//! [`Capture::finish`].
//!
//! What is kept of an exchange: the method, the URL as sent (query
//! included), the status, both bodies and the duration; never a header.
//! Every form of every secret value of the connection ([`Redactor`]) is
//! masked in the URL, the bodies and the error, and so is every credential
//! the call's requests carried or the host signed for them (an
//! `Authorization` value, a `Cookie`, a signed assertion): those the
//! request knew when the exchange was kept, and once more, with all of the
//! call's, when the answer is made (an access token a token endpoint
//! answered is masked once a later request carried it). Bodies are masked
//! whole, then cut to [`MAX_BODY`] bytes, and the URL to [`MAX_URL`]
//! (`truncated`); past [`MAX_EXCHANGES`] exchanges, only their number is
//! kept (`omitted`): a request keeps at most about 13 MiB.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::redact::{self, MIN_SECRET_LEN, Redactor};

/// The most of one body an exchange shows.
pub const MAX_BODY: usize = 64 * 1024;
/// The most of a URL an exchange shows.
pub const MAX_URL: usize = 8 * 1024;
/// The most exchanges one answer shows.
pub const MAX_EXCHANGES: usize = 100;

/// One request's exchanges, as they are being made.
#[derive(Debug)]
pub struct Capture {
    /// The connection's secrets, in every form.
    secrets: Redactor,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    exchanges: Vec<Raw>,
    omitted: u32,
    /// Credentials the call's requests carried, besides the secrets.
    credentials: Vec<String>,
}

/// An exchange as kept: masked, cut, not yet shown.
#[derive(Debug)]
struct Raw {
    method: String,
    url: Vec<u8>,
    status: Option<u16>,
    error: Option<Vec<u8>>,
    request_body: Vec<u8>,
    response_body: Vec<u8>,
    duration: Duration,
    truncated: bool,
}

/// A request the runtime sent for the call, and what came of it.
pub struct Sent<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub body: Option<&'a [u8]>,
    /// The status and body of the answer, or why there was none.
    pub answer: Result<(u16, &'a [u8]), String>,
    pub took: Duration,
}

impl Capture {
    /// A capture that masks `secrets` (the connection's secret values).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Capture {
            secrets: Redactor::new(secrets),
            kept: Mutex::default(),
        }
    }

    /// Notes a credential the call sends or was handed (a credential
    /// header's value, a signed assertion): it is masked like a secret,
    /// and so is each of its words (the token of `Bearer <token>`, the
    /// values of a `Cookie`).
    pub fn credential(&self, value: &str) {
        let mut kept = self.kept.lock().expect("the capture's lock");
        let words = value.split([' ', ';', ',', '=']).map(str::trim);
        for word in std::iter::once(value).chain(words) {
            if word.len() >= MIN_SECRET_LEN && !kept.credentials.iter().any(|c| c == word) {
                kept.credentials.push(word.to_string());
            }
        }
    }

    /// Keeps `sent`, masked and cut; past [`MAX_EXCHANGES`], counts it.
    pub fn record(&self, sent: Sent<'_>) {
        let mut kept = self.kept.lock().expect("the capture's lock");
        if kept.exchanges.len() >= MAX_EXCHANGES {
            kept.omitted += 1;
            return;
        }
        let credentials = Redactor::new(kept.credentials.iter().map(String::as_str));
        let masked = |bytes: &[u8]| {
            // By name first: re-serializing JSON may spell a secret in
            // another escape than the system did.
            credentials.bytes(self.secrets.bytes(redact::credentials(bytes.to_vec())))
        };
        let mut truncated = false;
        let mut body = |bytes: &[u8]| {
            let mut bytes = masked(bytes);
            if bytes.len() > MAX_BODY {
                bytes.truncate(MAX_BODY);
                truncated = true;
            }
            bytes
        };
        let request_body = body(sent.body.unwrap_or_default());
        let (status, response_body, error) = match sent.answer {
            Ok((status, bytes)) => (Some(status), body(bytes), None),
            Err(error) => (None, Vec::new(), Some(masked(error.as_bytes()))),
        };
        let mut url = masked(sent.url.as_bytes());
        if url.len() > MAX_URL {
            url.truncate(MAX_URL);
            truncated = true;
        }
        let exchange = Raw {
            method: sent.method.to_string(),
            url,
            status,
            error,
            request_body,
            response_body,
            duration: sent.took,
            truncated,
        };
        kept.exchanges.push(exchange);
    }

    /// The exchanges kept for request `request_id`, each masked once more
    /// with every credential of the call.
    pub fn finish(&self, request_id: &str) -> Upstream {
        let kept = std::mem::take(&mut *self.kept.lock().expect("the capture's lock"));
        let credentials = Redactor::new(kept.credentials.iter().map(String::as_str));
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&credentials.bytes(bytes)).into_owned();
        let exchanges = kept
            .exchanges
            .into_iter()
            .map(|raw| {
                let (request_body, request_body_base64) =
                    shown(credentials.bytes(raw.request_body), raw.truncated);
                let (response_body, response_body_base64) =
                    shown(credentials.bytes(raw.response_body), raw.truncated);
                Exchange {
                    method: raw.method,
                    url: text(raw.url),
                    status: raw.status,
                    error: raw.error.map(text),
                    request_body,
                    request_body_base64,
                    response_body,
                    response_body_base64,
                    duration_ms: raw.duration.as_secs_f64() * 1000.0,
                    truncated: raw.truncated,
                }
            })
            .collect();
        Upstream {
            request_id: request_id.to_string(),
            exchanges,
            omitted: kept.omitted,
        }
    }
}

/// A body as an exchange shows it: `(JSON or text, base64)`. JSON when it
/// is JSON (and whole), text when it is UTF-8 (a cut through a character
/// drops that character), base64 otherwise; nothing when it is empty.
fn shown(bytes: Vec<u8>, truncated: bool) -> (Option<Value>, Option<String>) {
    if bytes.is_empty() {
        return (None, None);
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let cut_character = truncated && e.utf8_error().error_len().is_none();
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            if !cut_character {
                return (None, Some(STANDARD.encode(bytes)));
            }
            bytes.truncate(valid);
            String::from_utf8(bytes).expect("valid up to here")
        }
    };
    if !truncated && let Ok(json) = serde_json::from_str::<Value>(&text) {
        return (Some(json), None);
    }
    (Some(Value::String(text)), None)
}

/// The exchanges of one request with the system, as its answer carries
/// them (`Prefer: include-upstream`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Upstream {
    /// The request they belong to (its `x-request-id`).
    pub request_id: String,
    /// In the order they were sent: retries, the token endpoint and the
    /// reads of a dry run included; a request a dry run held is not one.
    pub exchanges: Vec<Exchange>,
    /// Exchanges past the first 100, not shown.
    pub omitted: u32,
}

/// One request sent to the system and its answer. No header is shown;
/// every secret of the connection, and every credential the call sent,
/// is `[redacted]`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Exchange {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL as sent, query included (cut at 8 KiB).
    pub url: String,
    /// The answer's status; absent when none came (see `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why no answer came: a timeout, a refused or broken connection, an
    /// answer over the size limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The request's body: the JSON when it is JSON, else the text; `null`
    /// when there was none, or when it is not UTF-8 (then in
    /// `request_body_base64`).
    #[schema(value_type = Option<Object>)]
    pub request_body: Option<Value>,
    /// A body that is not UTF-8, in base64 (standard, padded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body_base64: Option<String>,
    /// The answer's body, as `request_body`.
    #[schema(value_type = Option<Object>)]
    pub response_body: Option<Value>,
    /// An answer's body that is not UTF-8, in base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body_base64: Option<String>,
    /// From sending the request to the answer's last byte.
    pub duration_ms: f64,
    /// A body was longer than 64 KiB and is cut there (then shown as text,
    /// or base64, never as JSON), or the URL longer than 8 KiB.
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk-live-0123456789";

    fn sent<'a>(url: &'a str, body: &'a [u8], answer: &'a [u8]) -> Sent<'a> {
        Sent {
            method: "POST",
            url,
            body: Some(body),
            answer: Ok((200, answer)),
            took: Duration::from_millis(3),
        }
    }

    #[test]
    fn secrets_and_credentials_are_masked_in_urls_bodies_and_errors() {
        let capture = Capture::new([SECRET, "short"]);
        capture.credential("Bearer early-token-abcdef");
        capture.record(sent(
            &format!("https://erp.example/x?key={SECRET}&t=early-token-abcdef"),
            format!(r#"{{"note":"{SECRET}"}}"#).as_bytes(),
            br#"{"access_token":"late-token-123456","short":"short"}"#,
        ));
        capture.record(Sent {
            answer: Err(format!("timed out calling {SECRET}")),
            ..sent("https://erp.example/y", b"", b"")
        });
        // Carried by a later request: masked in the answer all the same.
        capture.credential("Bearer late-token-123456");
        let upstream = capture.finish("req-1");
        let shown = serde_json::to_string(&upstream).unwrap();
        for leak in [SECRET, "early-token", "late-token"] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
        let first = &upstream.exchanges[0];
        assert_eq!(
            first.url,
            "https://erp.example/x?key=[redacted]&t=[redacted]"
        );
        assert_eq!(
            first.request_body,
            Some(serde_json::json!({"note": "[redacted]"}))
        );
        assert_eq!(first.response_body.as_ref().unwrap()["short"], "short");
        let second = &upstream.exchanges[1];
        assert_eq!(second.status, None);
        assert_eq!(
            second.error.as_deref(),
            Some("timed out calling [redacted]")
        );
        assert_eq!(second.request_body, None, "an empty body is none");
    }

    #[test]
    fn bodies_are_cut_after_masking_and_exchanges_counted_past_the_limit() {
        let capture = Capture::new([SECRET]);
        // The secret straddles the cut: masked before it, so no part of it
        // shows.
        let mut long = "é".repeat(MAX_BODY / 2 - 4).into_bytes();
        long.extend_from_slice(SECRET.as_bytes());
        // A cut through a character drops the character.
        let mut cut = b"a".to_vec();
        cut.extend_from_slice("é".repeat(MAX_BODY / 2 + 1).as_bytes());
        capture.record(sent("https://erp.example/", &long, &cut));
        capture.record(sent("https://erp.example/", b"", &[0xff, 0xfe, 0x00]));
        let long_url = format!("https://erp.example/{}", "x".repeat(MAX_URL));
        capture.record(sent(&long_url, b"", b""));
        for _ in 0..MAX_EXCHANGES + 5 {
            capture.record(sent("https://erp.example/", b"", b""));
        }
        let upstream = capture.finish("req-2");
        assert_eq!(upstream.exchanges.len(), MAX_EXCHANGES);
        assert_eq!(upstream.omitted, 8);
        let first = &upstream.exchanges[0];
        assert!(first.truncated);
        let Some(Value::String(request)) = &first.request_body else {
            panic!("text: {:?}", first.request_body)
        };
        assert_eq!(request.len(), MAX_BODY);
        assert!(
            request.ends_with("é[redacte"),
            "{}",
            &request[MAX_BODY - 20..]
        );
        let Some(Value::String(response)) = &first.response_body else {
            panic!("text: {:?}", first.response_body)
        };
        assert_eq!(response.len(), MAX_BODY - 1);
        let second = &upstream.exchanges[1];
        assert!(!second.truncated);
        assert_eq!(second.response_body, None);
        assert_eq!(second.response_body_base64.as_deref(), Some("//4A"));
        let third = &upstream.exchanges[2];
        assert!(third.truncated && third.url.len() == MAX_URL);
    }
}
