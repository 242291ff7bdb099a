//! The `Prefer` header of reads and writes (RFC 7240): each preference the
//! host knows, among others, with or without parameters; the others are
//! ignored, as the RFC says.
//!
//! - `dry-run` (writes, and passthrough reads): every check and the
//!   adapter run, and the first request that would change the system is
//!   answered instead of sent ([`crate::dataplane::Mode::DryRun`]);
//! - `include-upstream` (reads and writes): the answer carries the
//!   request's exchanges with the system (`"upstream"`,
//!   [`crate::audit::upstream`]), on success and on failure alike. It needs
//!   the token's `upstream` scope, checked before anything is called
//!   (403 `insufficient_scope`).
//!
//! An answer names what it applied in `Preference-Applied`.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::{ApiError, INCLUDE_UPSTREAM};
use super::token::ConnectionAuth;
use crate::audit::upstream::{Capture, Upstream};
use crate::connections::tokens::Access;
use crate::dataplane::Mode;

/// What a request's `Prefer` headers ask for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Prefer {
    pub dry_run: bool,
    pub include_upstream: bool,
}

impl Prefer {
    /// The preferences of `headers` the host knows.
    pub fn of(headers: &HeaderMap) -> Self {
        let mut prefer = Prefer::default();
        let preferences = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for preference in preferences {
            let token = preference.split([';', '=']).next().unwrap_or_default();
            let token = token.trim();
            if token.eq_ignore_ascii_case("dry-run") {
                prefer.dry_run = true;
            } else if token.eq_ignore_ascii_case("include-upstream") {
                prefer.include_upstream = true;
            }
        }
        prefer
    }

    /// Whether a write is sent or rehearsed.
    pub fn mode(self) -> Mode {
        if self.dry_run {
            Mode::DryRun
        } else {
            Mode::Send
        }
    }

    /// The preferences of a read or write by `auth`'s token: with
    /// `include-upstream`, the token's scope checked and the request's
    /// capture of its exchanges turned on.
    ///
    /// # Errors
    ///
    /// `insufficient_scope` when `include-upstream` is asked without the
    /// `upstream` scope.
    pub fn checked(headers: &HeaderMap, auth: &ConnectionAuth) -> Result<Self, ApiError> {
        let prefer = Prefer::of(headers);
        if prefer.include_upstream {
            auth.require(Access::Upstream, None)?;
            let secrets = auth.caller.open.ctx.secrets.values();
            // The trail is the request's own: set here, once.
            let _ = auth.caller.trail.upstream.set(Capture::new(secrets));
        }
        Ok(prefer)
    }

    /// The request's exchanges, when asked for.
    pub fn upstream(self, auth: &ConnectionAuth) -> Option<Upstream> {
        let capture = auth.caller.trail.upstream.get()?;
        Some(capture.finish(auth.caller.request_id()))
    }

    /// `error`, with the request's exchanges when asked for.
    pub fn failed(self, auth: &ConnectionAuth, error: impl Into<ApiError>) -> ApiError {
        let mut error = error.into();
        error.upstream = self.upstream(auth).map(Into::into);
        error
    }

    /// `Preference-Applied` on `answer`, naming what was applied: the dry
    /// run when `rehearsed`, the exchanges when asked for.
    pub fn applied(self, mut answer: Response, rehearsed: bool) -> Response {
        let applied = match (rehearsed, self.include_upstream) {
            (false, false) => return answer,
            (true, false) => HeaderValue::from_static("dry-run"),
            (false, true) => INCLUDE_UPSTREAM,
            (true, true) => HeaderValue::from_static("dry-run, include-upstream"),
        };
        answer.headers_mut().insert("preference-applied", applied);
        answer
    }
}

/// `record`, with the member `upstream` when there are exchanges to show.
///
/// # Errors
///
/// `internal` when the record is not a JSON object (adapters' records are
/// checked to be).
pub fn with_upstream(
    record: Box<RawValue>,
    upstream: Option<Upstream>,
) -> Result<Box<RawValue>, ApiError> {
    let Some(upstream) = upstream else {
        return Ok(record);
    };
    let mut object: serde_json::Map<String, Value> =
        serde_json::from_str(record.get()).map_err(ApiError::internal)?;
    object.insert(
        "upstream".into(),
        serde_json::to_value(upstream).map_err(ApiError::internal)?,
    );
    serde_json::value::to_raw_value(&object).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefer(values: &[&str]) -> Prefer {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("prefer", HeaderValue::from_str(v).unwrap());
        }
        Prefer::of(&headers)
    }

    #[test]
    fn each_preference_is_one_among_others() {
        let both = Prefer {
            dry_run: true,
            include_upstream: true,
        };
        let dry_run = Prefer {
            dry_run: true,
            ..Prefer::default()
        };
        let upstream = Prefer {
            include_upstream: true,
            ..Prefer::default()
        };
        assert_eq!(prefer(&[]), Prefer::default());
        assert_eq!(prefer(&["dry-run"]), dry_run);
        assert_eq!(prefer(&["return=minimal, Dry-Run"]), dry_run);
        assert_eq!(prefer(&["respond-async", "dry-run; x=1"]), dry_run);
        assert_eq!(prefer(&["return=dry-run"]), Prefer::default());
        assert_eq!(prefer(&["dry-running"]), Prefer::default());
        assert_eq!(prefer(&["Include-Upstream"]), upstream);
        assert_eq!(prefer(&["dry-run, include-upstream"]), both);
        assert_eq!(prefer(&["include-upstream", "dry-run"]), both);
        assert_eq!(prefer(&["include-upstreams"]), Prefer::default());
        assert_eq!(prefer(&["dry-run"]).mode(), Mode::DryRun);
        assert_eq!(prefer(&["include-upstream"]).mode(), Mode::Send);
    }
}
