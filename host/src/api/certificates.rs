//! `GET /v1/certificates/platform`: the host's public certificate, for
//! upload into a system's OAuth 2.0 setup (NetSuite: Setup > Integration >
//! OAuth 2.0 Client Credentials (M2M) Setup).

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use crate::certificates::key::KeyKind;
use crate::code::Code;

/// The platform certificate.
#[derive(Serialize, ToSchema)]
pub struct PlatformCertificateView {
    /// The JWS algorithm it signs client assertions with (`ES256`, `PS256`).
    pub algorithm: &'static str,
    /// `EC P-256` or `RSA 4096`.
    pub key: String,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub not_before: SystemTime,
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub not_after: SystemTime,
    pub days_left: u64,
    /// SHA-256 of the certificate (DER), hex.
    pub sha256_fingerprint: String,
    /// The X.509 certificate, PEM: the file to upload.
    pub certificate: String,
}

#[derive(Deserialize, IntoParams)]
pub struct Format {
    /// `json` (the default) for the certificate and what it is, `pem` for
    /// the certificate file alone.
    #[param(inline)]
    format: Option<CertificateFormat>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertificateFormat {
    Json,
    Pem,
}

/// The host's public certificate. Upload it to the system, then connect with
/// the private key `"platform"`: the host signs, and no key leaves it.
///
/// # Errors
///
/// `no_platform_certificate` when the host has none.
#[utoipa::path(get, path = "/v1/certificates/platform", tag = "certificates", security(("admin_key" = [])),
    params(Format),
    responses((status = 200, content((PlatformCertificateView = "application/json"), (String = "application/x-pem-file"))),
        (status = "4XX", body = super::error::ErrorBody)))]
pub async fn platform(
    _: Admin,
    State(state): State<AppState>,
    Query(format): Query<Format>,
) -> Result<Response, ApiError> {
    let Some(cert) = &state.platform_certificate else {
        return Err(ApiError::new(
            Code::NoPlatformCertificate,
            "this host has no platform certificate",
        ));
    };
    match format.format.unwrap_or(CertificateFormat::Json) {
        CertificateFormat::Pem => Ok((
            [
                (header::CONTENT_TYPE, "application/x-pem-file"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"interlink-platform.pem\"",
                ),
            ],
            cert.certificate_pem.clone(),
        )
            .into_response()),
        CertificateFormat::Json => Ok(Json(PlatformCertificateView {
            algorithm: cert.kind.algorithm(),
            key: match cert.kind {
                KeyKind::Rsa { bits } => format!("RSA {bits}"),
                KeyKind::P256 => "EC P-256".into(),
                KeyKind::P384 => "EC P-384".into(),
            },
            not_before: cert.validity.not_before,
            not_after: cert.validity.not_after,
            days_left: cert.days_left(),
            sha256_fingerprint: cert.fingerprint.clone(),
            certificate: cert.certificate_pem.clone(),
        })
        .into_response()),
    }
}
