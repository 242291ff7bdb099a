//! The certificates an administrator uploads on NetSuite's "OAuth 2.0 Client
//! Credentials (M2M) Setup" page, and the JWT signatures checked against them.

use std::time::{Duration, SystemTime};

use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

/// The longest validity NetSuite accepts.
pub const MAX_VALIDITY: Duration = Duration::from_secs(730 * 24 * 3600);

/// The public key of an uploaded certificate.
#[derive(Clone)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Reads an X.509 certificate in PEM, refusing what NetSuite refuses:
    /// RSA under 3072 bits, curves other than P-256/384/521, a validity over
    /// two years.
    pub fn from_certificate_pem(pem: &str) -> Result<Self, String> {
        let cert = Certificate::from_pem(pem.trim().as_bytes())
            .map_err(|e| format!("not an X.509 certificate in PEM: {e}"))?;
        let validity = &cert.tbs_certificate.validity;
        let (from, to) = (
            validity.not_before.to_system_time(),
            validity.not_after.to_system_time(),
        );
        if to.duration_since(from).unwrap_or_default() > MAX_VALIDITY + Duration::from_secs(86400) {
            return Err("the certificate is valid for more than two years".into());
        }
        if to < SystemTime::now() {
            return Err("the certificate has expired".into());
        }
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())?;
        if let Ok(key) = rsa::RsaPublicKey::from_public_key_der(&spki) {
            let bits = key.n().bits();
            if bits < 3072 {
                return Err(format!(
                    "RSA keys must have 3072 or 4096 bits; this one has {bits}"
                ));
            }
            return Ok(PublicKey::Rsa(key));
        }
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(&spki) {
            return Ok(PublicKey::P256(key));
        }
        if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(&spki) {
            return Ok(PublicKey::P384(key));
        }
        if let Ok(key) = p521::PublicKey::from_public_key_der(&spki) {
            let key = p521::ecdsa::VerifyingKey::from_affine(*key.as_affine())
                .map_err(|e| e.to_string())?;
            return Ok(PublicKey::P521(key));
        }
        Err("the key is neither RSA nor EC on P-256, P-384 or P-521".into())
    }

    /// Checks a JWS signature of `message` made with `alg`.
    pub fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> Result<(), String> {
        use rsa::signature::Verifier;
        let bad = |e: rsa::signature::Error| format!("the signature does not verify: {e}");
        match (self, alg) {
            (PublicKey::Rsa(key), "PS256") => pss::<sha2::Sha256>(key, message, signature),
            (PublicKey::Rsa(key), "PS384") => pss::<sha2::Sha384>(key, message, signature),
            (PublicKey::Rsa(key), "PS512") => pss::<sha2::Sha512>(key, message, signature),
            (PublicKey::P256(key), "ES256") => {
                let signature = p256::ecdsa::Signature::from_slice(signature).map_err(bad)?;
                key.verify(message, &signature).map_err(bad)
            }
            (PublicKey::P384(key), "ES384") => {
                let signature = p384::ecdsa::Signature::from_slice(signature).map_err(bad)?;
                key.verify(message, &signature).map_err(bad)
            }
            (PublicKey::P521(key), "ES512") => {
                let signature = p521::ecdsa::Signature::from_slice(signature).map_err(bad)?;
                key.verify(message, &signature).map_err(bad)
            }
            (_, alg) => Err(format!(
                "the certificate's key cannot verify algorithm {alg}"
            )),
        }
    }
}

fn pss<D>(key: &rsa::RsaPublicKey, message: &[u8], signature: &[u8]) -> Result<(), String>
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    use rsa::signature::Verifier;
    let bad = |e: rsa::signature::Error| format!("the signature does not verify: {e}");
    let signature = rsa::pss::Signature::try_from(signature).map_err(bad)?;
    rsa::pss::VerifyingKey::<D>::new(key.clone())
        .verify(message, &signature)
        .map_err(bad)
}
