//! Request ids and request logs: every response carries `x-request-id`,
//! every error body carries it, and every log line of the request carries it
//! (with the connection and adapter ids, once known) in the `request` span.
//! Every error response is also kept in the failed-request log
//! ([`super::failed_requests`]), and every answer to a connection token's
//! request carries `Server-Timing`: where its time went
//! ([`crate::timing`]).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::AppState;
use super::edge::BodyDeadline;
use super::error::ApiError;
use crate::code::Code;
use crate::storage::requests::FailedRequest;
use crate::timing::Timing;

/// The target of the access log's lines, one per request served; the
/// log leaves it out unless the operator asks for it (`--access-log`).
pub const ACCESS_LOG: &str = "interlink::access";

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The id of the request being served, for handlers that log or store it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The connection whose token the request carries, once the token extractor
/// knows it: for the failed-request log.
#[derive(Debug, Clone, Default)]
pub struct RequestConnection(Arc<OnceLock<String>>);

impl RequestConnection {
    pub fn set(&self, id: &str) {
        let _ = self.0.set(id.to_string());
    }
}

/// Headers that extractors add to the answer, whatever it is (a token's
/// rate limit is announced on errors too).
#[derive(Debug, Clone, Default)]
pub struct ResponseHeaders(Arc<Mutex<HeaderMap>>);

impl ResponseHeaders {
    pub fn insert(&self, name: HeaderName, value: HeaderValue) {
        self.0.lock().unwrap().insert(name, value);
    }
}

/// Marks a response that is the system's own answer (a passthrough): its
/// status is the system's, and its body is left as it came.
#[derive(Debug, Clone, Copy)]
pub struct Relayed;

/// A client's own id is kept when it is short, visible ASCII.
fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    (!text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| text.to_string())
}

/// The answer to a request whose body did not arrive by its deadline; the
/// connection closes after it (the rest of the body would be read as the
/// next request).
fn body_timed_out(deadline: &BodyDeadline) -> Response {
    let message = format!(
        "the request's body did not arrive within {} s (--body-read-timeout)",
        deadline.timeout.as_secs_f64()
    );
    let mut response = ApiError::new(Code::RequestTimeout, message).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Assigns the id, runs the request in a span that carries it, writes error
/// bodies (see [`super::error`]) and records failed requests.
pub async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let connection = RequestConnection::default();
    request.extensions_mut().insert(connection.clone());
    let timing = Arc::new(Timing::default());
    request.extensions_mut().insert(timing.clone());
    let extra_headers = ResponseHeaders::default();
    request.extensions_mut().insert(extra_headers.clone());
    let body_deadline = request.extensions().get::<BodyDeadline>().cloned();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        %method,
        %path,
        connection = tracing::field::Empty,
        adapter = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let _enter = span.enter();
    if let Some(deadline) = body_deadline.filter(BodyDeadline::passed) {
        // Whatever the handler made of the body it could not read.
        response = body_timed_out(&deadline);
    }

    let status = response.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let relayed = response.extensions().get::<Relayed>().is_some();
    if (status.is_client_error() || status.is_server_error()) && !relayed {
        let error = response
            .extensions_mut()
            .remove::<ApiError>()
            .unwrap_or_else(|| ApiError::for_status(status));
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), code = error.code.as_str(), message = %error.message, latency_ms, "request failed");
        } else {
            tracing::info!(
                status = status.as_u16(),
                code = error.code.as_str(),
                latency_ms,
                "request refused"
            );
        }
        state.failed_requests.record(FailedRequest {
            request_id: id.clone(),
            at: SystemTime::now(),
            method: method.to_string(),
            path,
            status: status.as_u16(),
            code: error.code.to_string(),
            message: error.message.clone(),
            connection_id: connection.0.get().cloned(),
            duration_ms: latency_ms as u64,
        });
        let mut body = json!({"error": {
            "code": error.code,
            "message": error.message,
            "request_id": id,
        }});
        if let Some(details) = error.details {
            body["error"]["details"] = details;
        }
        if let Some(upstream) = error.upstream {
            body["upstream"] = json!(*upstream);
        }
        let mut rewritten = (status, axum::Json(body)).into_response();
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                rewritten.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response = rewritten;
    } else {
        tracing::info!(
            target: ACCESS_LOG,
            status = status.as_u16(),
            latency_ms,
            relayed,
            "request served"
        );
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    if connection.0.get().is_some() {
        let value = timing.header(started.elapsed());
        let value = HeaderValue::from_str(&value).expect("the header is ASCII");
        response.headers_mut().insert(SERVER_TIMING.clone(), value);
    }
    response
        .headers_mut()
        .extend(std::mem::take(&mut *extra_headers.0.lock().unwrap()));
    response
}
