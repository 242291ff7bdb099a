//! The one error shape of the API:
//! `{"error": {"code", "message", "request_id", "details"?}}`, and a read's
//! or a write's exchanges with the system beside it when the client asked
//! (`"upstream"`, [`super::prefer`]).
//!
//! Handlers return [`ApiError`]; the request-id middleware
//! ([`super::request_id`]) writes the body, since only it knows the id. Error
//! responses that axum itself produces (unknown routes, wrong methods, bodies
//! too large) are rewritten into the same shape there.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::audit::upstream::Upstream;
use crate::code::Code;
use crate::dataplane::DataError;
use crate::runtime::CallError;

/// `Preference-Applied` of an answer that carries its exchanges with the
/// system, an error's too ([`super::prefer`]).
pub const INCLUDE_UPSTREAM: HeaderValue = HeaderValue::from_static("include-upstream");

/// Every error the API answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// With `Prefer: include-upstream`, on reads and writes: the request's
    /// exchanges with the system until it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `token_invalid`, `invalid_config`, ...
    pub code: Code,
    /// For people.
    pub message: String,
    /// Also in the `x-request-id` header and in the logs.
    pub request_id: String,
    /// Case-specific: field errors, missing permissions, ...
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// Every code, as the OpenAPI document's enum of `error.code`.
impl utoipa::PartialSchema for Code {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Code::ALL.iter().map(|code| code.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for Code {}

/// An error a client sees: a [`Code`], and the status it answers with.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Sent as `Retry-After` (whole seconds, rounded up).
    #[serde(skip)]
    pub retry_after: Option<std::time::Duration>,
    /// The request's exchanges with the system (`Prefer:
    /// include-upstream`), beside `error` in the body.
    #[serde(skip)]
    pub upstream: Option<Arc<Upstream>>,
}

impl ApiError {
    /// An error with `code`, answered with the code's status.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            upstream: None,
        }
    }

    /// Answers with `status` rather than the code's own: for a code that
    /// means something else at another door (`connection_disconnected` is
    /// the token's 401, and 409 where an operator acts on the connection).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// A failure of ours: logged in full, answered without internals.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            Code::Internal,
            "internal error; the logs have details under this request id",
        )
    }

    /// The error for a status that a layer answered without a body of ours.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (Code::NotFound, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => (
                Code::MethodNotAllowed,
                "this route does not take that method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                (Code::PayloadTooLarge, "the request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                Code::UnsupportedMediaType,
                "the request body has the wrong content type",
            ),
            s if s.is_client_error() => (Code::BadRequest, "the request is malformed"),
            _ => (Code::Internal, "internal error"),
        };
        Self::new(code, message).with_status(status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.max(1).into());
        }
        if self.upstream.is_some() {
            response
                .headers_mut()
                .insert("preference-applied", INCLUDE_UPSTREAM);
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<DataError> for ApiError {
    fn from(error: DataError) -> Self {
        if let DataError::Internal(message) = &error {
            return ApiError::internal(message);
        }
        let mut api = ApiError::new(error.code(), error.to_string());
        api.details = error.details();
        api.retry_after = error.retry_after();
        api
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        DataError::Call(error).into()
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        ApiError::internal(error)
    }
}
