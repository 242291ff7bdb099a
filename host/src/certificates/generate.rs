//! Making a key pair and a self-signed certificate that NetSuite accepts:
//! what `interlink cert generate` and the platform certificate use.

use std::str::FromStr;
use std::time::Duration;

use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::rand_core::OsRng;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::EncodePem;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use super::{KeyError, MAX_VALIDITY};

/// The algorithm a generated key pair signs client assertions with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// RSA 4096 with RSA-PSS and SHA-256.
    Ps256,
    /// EC P-256 with ECDSA and SHA-256.
    Es256,
}

/// A private key (PKCS#8 PEM) and its self-signed certificate (PEM).
pub struct KeyPair {
    pub private_key_pem: String,
    pub certificate_pem: String,
}

/// Makes a key pair and a certificate for `common_name`, valid for `days`
/// (at most 730, NetSuite's limit). RSA 4096 takes a few seconds.
///
/// # Errors
///
/// [`KeyError::ValidityTooLong`] when `days` is 0 or over 730;
/// [`KeyError::Generate`] when `common_name` does not make a certificate
/// name, or making the key or the certificate fails.
pub fn generate(algorithm: Algorithm, days: u32, common_name: &str) -> Result<KeyPair, KeyError> {
    let validity_length = Duration::from_secs(u64::from(days) * 86400);
    if days == 0 || validity_length > MAX_VALIDITY {
        return Err(KeyError::ValidityTooLong(u64::from(days)));
    }
    let fail = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    let mut serial = rand::random::<[u8; 16]>();
    serial[0] &= 0x7f;
    let serial = SerialNumber::new(&serial).map_err(|e| fail(&e))?;
    let validity = Validity::from_now(validity_length).map_err(|e| fail(&e))?;
    let subject = Name::from_str(&format!("CN={common_name}")).map_err(|e| fail(&e))?;
    let (private_key_pem, certificate) = match algorithm {
        Algorithm::Ps256 => {
            let key = rsa::RsaPrivateKey::new(&mut OsRng, 4096).map_err(|e| fail(&e))?;
            let public =
                SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(|e| fail(&e))?;
            let signer = rsa::pss::SigningKey::<sha2::Sha256>::new(key.clone());
            let cert =
                CertificateBuilder::new(Profile::Root, serial, validity, subject, public, &signer)
                    .map_err(|e| fail(&e))?
                    .build_with_rng::<rsa::pss::Signature>(&mut OsRng)
                    .map_err(|e| fail(&e))?;
            (
                key.to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| fail(&e))?
                    .to_string(),
                cert,
            )
        }
        Algorithm::Es256 => {
            let key = p256::SecretKey::random(&mut OsRng);
            let public =
                SubjectPublicKeyInfoOwned::from_key(key.public_key()).map_err(|e| fail(&e))?;
            let signer = p256::ecdsa::SigningKey::from(&key);
            let cert =
                CertificateBuilder::new(Profile::Root, serial, validity, subject, public, &signer)
                    .map_err(|e| fail(&e))?
                    .build::<p256::ecdsa::DerSignature>()
                    .map_err(|e| fail(&e))?;
            (
                key.to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| fail(&e))?
                    .to_string(),
                cert,
            )
        }
    };
    Ok(KeyPair {
        private_key_pem,
        certificate_pem: certificate.to_pem(LineEnding::LF).map_err(|e| fail(&e))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::key::{KeyKind, parse_private_key};

    #[test]
    fn generated_es256_pairs_pass_the_checks_netsuite_makes() {
        let pair = generate(Algorithm::Es256, 365, "test").unwrap();
        let bundle = format!("{}{}", pair.private_key_pem, pair.certificate_pem);
        let key = parse_private_key(&bundle).unwrap();
        assert_eq!(key.kind, KeyKind::P256);
        assert_eq!(key.kind.algorithm(), "ES256");
        assert!(key.certificate.is_some());
    }

    #[test]
    fn validity_over_two_years_is_refused() {
        assert_eq!(
            generate(Algorithm::Es256, 731, "test").err(),
            Some(KeyError::ValidityTooLong(731))
        );
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let a = generate(Algorithm::Es256, 30, "a").unwrap();
        let b = generate(Algorithm::Es256, 30, "b").unwrap();
        let bundle = format!("{}{}", a.private_key_pem, b.certificate_pem);
        assert_eq!(parse_private_key(&bundle).err(), Some(KeyError::Mismatch));
    }

    #[test]
    fn text_without_a_key_is_refused() {
        assert_eq!(
            parse_private_key("hello").err(),
            Some(KeyError::NoPrivateKey)
        );
        let pair = generate(Algorithm::Es256, 30, "a").unwrap();
        assert_eq!(
            parse_private_key(&pair.certificate_pem).err(),
            Some(KeyError::NoPrivateKey)
        );
    }
}
