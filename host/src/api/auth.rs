//! The admin key, as an extractor: handlers that take [`Admin`] are
//! reachable with `Authorization: Bearer <admin key>` only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use super::request_id::RequestId;
use crate::audit::Actor;
use crate::code::Code;

/// Proof that the request carries the admin key, with the request's id
/// (for the audit trail's entries of the operator's actions).
pub struct Admin {
    request_id: String,
}

impl Admin {
    /// The operator, as the audit trail names them.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            name: "admin",
            request_id: &self.request_id,
        }
    }
}

/// The SHA-256 of a key. Keys are compared by hash, so the comparison takes
/// the same time whatever the bytes.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer(parts) else {
            return Err(ApiError::new(
                Code::AdminKeyMissing,
                "this route needs the admin key as `Authorization: Bearer <key>` (see admin.key in the data folder)",
            ));
        };
        if key_hash(token) != state.admin_key_hash {
            return Err(ApiError::new(
                Code::AdminKeyInvalid,
                "the admin key is not valid",
            ));
        }
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        Ok(Admin { request_id })
    }
}
