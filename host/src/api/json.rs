//! A JSON body extractor whose rejections use the API's error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;
use crate::code::Code;

/// Like `axum::Json`, but a bad body is an [`ApiError`]: `unsupported_media_type`
/// (415) without `Content-Type: application/json`, `invalid_json` (400) for
/// malformed JSON, `invalid_body` (422) for JSON of the wrong shape, and
/// `payload_too_large` (413).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    Code::UnsupportedMediaType,
                    "send the body as JSON, with `Content-Type: application/json`",
                ),
                JsonRejection::JsonSyntaxError(e) => ApiError::new(
                    Code::InvalidJson,
                    format!("the body is not valid JSON: {}", e.body_text()),
                ),
                JsonRejection::JsonDataError(e) => ApiError::new(
                    Code::InvalidBody,
                    format!(
                        "the body does not have the expected shape: {}",
                        e.body_text()
                    ),
                ),
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE)
                }
                other => ApiError::for_status(other.status())
                    .with_details(json!({"reason": other.body_text()})),
            }),
        }
    }
}

/// An optional whole number as JSON Schema's `integer` allows it: `5` and
/// `5.0` alike (`#[serde(default, deserialize_with = "whole_number")]`).
///
/// # Errors
///
/// `D`'s error when the value is neither null nor a number, or is a
/// negative, fractional or too large one.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
                .map(|f| f as u64)
        })
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, not {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<u64>,
    }

    fn n(json: &str) -> Result<Option<u64>, serde_json::Error> {
        serde_json::from_str::<Body>(json).map(|b| b.n)
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        assert_eq!(n(r#"{"n": 60}"#).unwrap(), Some(60));
        assert_eq!(n(r#"{"n": 60.0}"#).unwrap(), Some(60));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n("{}").unwrap(), None);
        for bad in [r#"{"n": 1.5}"#, r#"{"n": -1}"#, r#"{"n": "60"}"#] {
            assert!(n(bad).is_err(), "{bad}");
        }
    }
}
