//! Checking a customer's private key (and, when given with it, their
//! certificate) before it is stored, and normalizing it to PKCS#8.

use std::time::{Duration, SystemTime};

use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use super::MAX_VALIDITY;

/// Why a key or certificate is refused; each says what to do instead.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("no PEM private key found (expected -----BEGIN PRIVATE KEY-----)")]
    NoPrivateKey,
    #[error("the private key is encrypted: export it without a passphrase (openssl ... -nodes)")]
    Encrypted,
    #[error("the private key is neither RSA nor EC on P-256 or P-384: {0}")]
    Unsupported(String),
    #[error("RSA keys must have 3072 or 4096 bits (NetSuite refuses others); this one has {0}")]
    RsaSize(usize),
    #[error("the certificate cannot be read: {0}")]
    Certificate(String),
    #[error("the certificate is valid for {0} days; NetSuite accepts at most two years (730 days)")]
    ValidityTooLong(u64),
    #[error("the certificate has expired")]
    Expired,
    #[error("the certificate is not for this private key")]
    Mismatch,
    #[error("{0}")]
    Generate(String),
}

/// The kind of a private key, and the JWT algorithm it signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa { bits: usize },
    P256,
    P384,
}

impl KeyKind {
    /// The JWS algorithm (JOSE name) the key signs client assertions with:
    /// RSA keys sign PS256 (RS256 is refused by NetSuite), EC keys ES256/384.
    pub fn algorithm(self) -> &'static str {
        match self {
            KeyKind::Rsa { .. } => "PS256",
            KeyKind::P256 => "ES256",
            KeyKind::P384 => "ES384",
        }
    }
}

/// A checked private key, in PKCS#8 PEM.
#[derive(Clone)]
pub struct PrivateKey {
    pub kind: KeyKind,
    pub pkcs8_pem: String,
    /// The certificate that came with it, if any, and its validity.
    pub certificate: Option<Validity>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

/// The PEM blocks of `text`, as (label, DER).
fn blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    text.split("-----BEGIN ")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find("-----END ")?;
            let block = format!("-----BEGIN {}", &rest[..end]);
            let tail = &rest[end..];
            let close = tail.find("-----\n").map(|i| i + 5).unwrap_or(tail.len());
            let pem = format!("{block}{}", tail[..close].trim_end());
            let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).ok()?;
            Some((label.to_string(), der))
        })
        .collect()
}

/// Reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC), optionally
/// followed or preceded by its X.509 certificate, and refuses what NetSuite
/// would refuse: RSA keys other than 3072 or 4096 bits, curves other than
/// P-256 and P-384, certificates valid for over two years, expired or for
/// another key.
///
/// # Errors
///
/// - [`KeyError::NoPrivateKey`] when `text` holds no private key,
///   [`KeyError::Encrypted`] when it is encrypted;
/// - [`KeyError::Unsupported`] when it is neither RSA nor EC on P-256 or
///   P-384, or does not decode; [`KeyError::RsaSize`] for an RSA key of
///   other than 3072 or 4096 bits;
/// - [`KeyError::Certificate`] when the certificate cannot be read,
///   [`KeyError::Mismatch`] when it is for another key, and those of
///   [`check_validity`].
pub fn parse_private_key(text: &str) -> Result<PrivateKey, KeyError> {
    let blocks = blocks(text);
    let mut key = None;
    let mut certificate = None;
    for (label, der) in &blocks {
        match label.as_str() {
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            "PRIVATE KEY" => key = Some(from_pkcs8(der)?),
            "RSA PRIVATE KEY" => {
                let rsa = rsa::RsaPrivateKey::from_pkcs1_der(der)
                    .map_err(|e| KeyError::Unsupported(e.to_string()))?;
                key = Some(Parsed::Rsa(Box::new(rsa)));
            }
            "EC PRIVATE KEY" => {
                key = Some(if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
                    Parsed::P256(k)
                } else {
                    Parsed::P384(
                        p384::SecretKey::from_sec1_der(der)
                            .map_err(|e| KeyError::Unsupported(e.to_string()))?,
                    )
                })
            }
            "CERTIFICATE" => {
                certificate = Some(
                    Certificate::from_der(der).map_err(|e| KeyError::Certificate(e.to_string()))?,
                )
            }
            _ => {}
        }
    }
    let key = key.ok_or(KeyError::NoPrivateKey)?;
    let (kind, pkcs8_pem, public_der) = key.describe()?;
    if let KeyKind::Rsa { bits } = kind
        && bits != 3072
        && bits != 4096
    {
        return Err(KeyError::RsaSize(bits));
    }
    let certificate = match certificate {
        None => None,
        Some(cert) => {
            let spki = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| KeyError::Certificate(e.to_string()))?;
            if spki != public_der {
                return Err(KeyError::Mismatch);
            }
            Some(check_validity(&cert)?)
        }
    };
    Ok(PrivateKey {
        kind,
        pkcs8_pem,
        certificate,
    })
}

/// A certificate's validity, refused when longer than NetSuite accepts or
/// already over.
///
/// # Errors
///
/// [`KeyError::ValidityTooLong`] when it is valid for over two years (and a
/// day of slack); [`KeyError::Expired`] when it no longer is.
pub fn check_validity(cert: &Certificate) -> Result<Validity, KeyError> {
    let validity = &cert.tbs_certificate.validity;
    let validity = Validity {
        not_before: validity.not_before.to_system_time(),
        not_after: validity.not_after.to_system_time(),
    };
    let length = validity
        .not_after
        .duration_since(validity.not_before)
        .unwrap_or_default();
    // A day of slack for time zones and leap days in the tools' arithmetic.
    if length > MAX_VALIDITY + Duration::from_secs(86400) {
        return Err(KeyError::ValidityTooLong(length.as_secs() / 86400));
    }
    if validity.not_after < SystemTime::now() {
        return Err(KeyError::Expired);
    }
    Ok(validity)
}

enum Parsed {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

fn from_pkcs8(der: &[u8]) -> Result<Parsed, KeyError> {
    if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(der) {
        return Ok(Parsed::Rsa(Box::new(k)));
    }
    if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
        return Ok(Parsed::P256(k));
    }
    p384::SecretKey::from_pkcs8_der(der)
        .map(Parsed::P384)
        .map_err(|_| KeyError::Unsupported("an unknown algorithm or curve".into()))
}

impl Parsed {
    /// The kind, the key as PKCS#8 PEM, and the public key as SPKI DER.
    fn describe(&self) -> Result<(KeyKind, String, Vec<u8>), KeyError> {
        let (kind, (pem, public)) = match self {
            Parsed::Rsa(k) => (
                KeyKind::Rsa { bits: k.n().bits() },
                encode(k.as_ref(), &k.to_public_key())?,
            ),
            Parsed::P256(k) => (KeyKind::P256, encode(k, &k.public_key())?),
            Parsed::P384(k) => (KeyKind::P384, encode(k, &k.public_key())?),
        };
        Ok((kind, pem, public))
    }
}

/// A private key as PKCS#8 PEM, and its public key as SPKI DER.
fn encode(
    private: &impl EncodePrivateKey,
    public: &impl EncodePublicKey,
) -> Result<(String, Vec<u8>), KeyError> {
    let fail = |e: &dyn std::fmt::Display| KeyError::Unsupported(e.to_string());
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| fail(&e))?
        .to_string();
    let der = public.to_public_key_der().map_err(|e| fail(&e))?.into_vec();
    Ok((pem, der))
}
