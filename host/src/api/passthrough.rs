//! `/v1/passthrough/{path}`: the system's own API, through the connection's
//! adapter, for what the unified model does not cover. Needs the token's
//! `passthrough` scope and an adapter that declares passthrough; the data
//! plane ([`crate::dataplane::passthrough`]) does the rest.
//!
//! Only a few request headers are forwarded (content negotiation and
//! conditional requests; never the client's `Authorization` or cookies),
//! and only a few of the system's response headers come back.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use super::request_id::Relayed;
use super::token::ConnectionAuth;
use crate::code::Code;
use crate::connections::tokens::Access;
use crate::contract::{PassthroughMethod, PassthroughRequest};

/// The route's prefix; what follows it is the system's path.
const PREFIX: &str = "/v1/passthrough";

/// Request headers passed on to the system.
const FORWARDED: [&str; 7] = [
    "accept",
    "accept-language",
    "content-type",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

/// Response headers passed back to the client.
const RETURNED: [&str; 7] = [
    "content-type",
    "content-language",
    "cache-control",
    "etag",
    "last-modified",
    "location",
    "retry-after",
];

fn method(method: &Method) -> Result<PassthroughMethod, ApiError> {
    Ok(match *method {
        Method::GET => PassthroughMethod::Get,
        Method::HEAD => PassthroughMethod::Head,
        Method::POST => PassthroughMethod::Post,
        Method::PUT => PassthroughMethod::Put,
        Method::PATCH => PassthroughMethod::Patch,
        Method::DELETE => PassthroughMethod::Delete,
        _ => return Err(ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)),
    })
}

/// Call the system's own API: the path after `/v1/passthrough`, with its
/// query, is sent by the connection's adapter with the connection's
/// credentials, to the system's origin only. The answer is the system's, as
/// it came (with `content-type`, `etag`, `location` and a few more of its
/// headers). Writes through passthrough bypass the write rules, and each
/// counts against the connection's write budget. `Prefer: dry-run` is
/// refused (400 `dry_run_unsupported`, nothing sent) for any method but
/// `GET` and `HEAD`: the host cannot rehearse a request it cannot read.
///
/// # Errors
///
/// - `insufficient_scope` when the token lacks the `passthrough` scope;
///   `method_not_allowed` for a method other than `GET`, `HEAD`, `POST`,
///   `PUT`, `PATCH` and `DELETE`;
/// - `adapter_unavailable` when the connection's adapter is not loaded,
///   `passthrough_not_supported` when it declares no passthrough;
/// - `dry_run_unsupported` as above; `invalid_passthrough_path` when the
///   path breaks a rule (the message says which);
/// - `rate_limited` when a request that may change the system finds the
///   connection's write budget spent;
/// - those of `GET /v1/{entity}` for the call, its limits and the database;
///   `adapter_invalid_output` when the adapter answers a status that is not
///   an HTTP status.
#[utoipa::path(method(get, post, put, patch, delete), path = "/v1/passthrough/{path}",
    tag = "passthrough", security(("connection_token" = [])),
    params(("path" = String, Path, description = "The system's own path, with its query")),
    request_body(content = String, content_type = "application/json",
        description = "Any body the system takes, with its `Content-Type`"),
    responses((status = "default", description = "The system's answer, as it came"),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn forward(
    auth: ConnectionAuth,
    State(state): State<AppState>,
    verb: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require(Access::Passthrough, None)?;
    let method = method(&verb)?;
    let path = uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let path = match (path, uri.query()) {
        ("", None) => "/".to_string(),
        (path, None) => path.to_string(),
        (path, Some(query)) => format!("{}?{query}", if path.is_empty() { "/" } else { path }),
    };
    let request = PassthroughRequest {
        method,
        path,
        headers: FORWARDED
            .iter()
            .filter_map(|name| {
                let value = headers.get(*name)?.to_str().ok()?;
                Some((name.to_string(), value.to_string()))
            })
            .collect(),
        body: (!body.is_empty()).then(|| body.to_vec()),
    };
    let answer = state
        .dataplane
        .passthrough(
            &auth.caller,
            &request,
            super::prefer::Prefer::of(&headers).mode(),
        )
        .await?;
    let status = StatusCode::from_u16(answer.status).map_err(|_| {
        ApiError::new(
            Code::AdapterInvalidOutput,
            format!("the adapter answered HTTP status {}", answer.status),
        )
    })?;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    response.extensions_mut().insert(Relayed);
    for (name, value) in answer.headers {
        let name = name.to_ascii_lowercase();
        if !RETURNED.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}
