//! The host's own key pair and self-signed certificate, made on first start
//! and kept in the data folder. Customers download the certificate
//! (`GET /v1/certificates/platform`), upload it to NetSuite, and connect
//! with the private-key value `"platform"`: no key ever leaves the host.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use super::generate::{Algorithm, generate};
use super::key::{KeyKind, Validity, check_validity, parse_private_key};
use crate::data_dir::write_private;

/// How long a new platform certificate is valid: NetSuite's maximum.
const VALIDITY_DAYS: u32 = 730;

/// The platform key pair and certificate.
pub struct PlatformCertificate {
    pub kind: KeyKind,
    /// The private key, PKCS#8 PEM. It signs; it is never shown.
    private_key_pem: String,
    pub certificate_pem: String,
    pub validity: Validity,
    /// SHA-256 of the certificate's DER, in hex.
    pub fingerprint: String,
}

impl std::fmt::Debug for PlatformCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformCertificate")
            .field("kind", &self.kind)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("platform-key.pem"), dir.join("platform-cert.pem"))
}

impl PlatformCertificate {
    /// Loads the platform certificate from `dir`, or makes one with
    /// `algorithm` when there is none yet (its key file is mode 0600).
    ///
    /// # Errors
    ///
    /// The key pair cannot be made, or its files written or read; the key
    /// file's key is refused, or the certificate is not for it, is valid
    /// for too long or has expired (the message says to move both files
    /// away to make new ones); the certificate file holds no PEM
    /// certificate.
    pub fn load_or_create(dir: &Path, algorithm: Algorithm) -> anyhow::Result<Self> {
        let (key_path, cert_path) = paths(dir);
        if !key_path.exists() {
            let pair = generate(algorithm, VALIDITY_DAYS, "Interlink platform")
                .context("making the platform certificate")?;
            write_private(&key_path, pair.private_key_pem.trim_end())?;
            std::fs::write(&cert_path, &pair.certificate_pem)?;
            tracing::info!(path = %cert_path.display(), ?algorithm, "created the platform certificate");
        }
        let private_key_pem = std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        let certificate_pem = std::fs::read_to_string(&cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let bundle = format!("{private_key_pem}\n{certificate_pem}");
        let key = match parse_private_key(&bundle) {
            Ok(key) => key,
            Err(super::KeyError::Expired) => anyhow::bail!(
                "the platform certificate {} has expired: move {} and {} away to make a new one, then upload it to your systems",
                cert_path.display(),
                key_path.display(),
                cert_path.display()
            ),
            Err(e) => return Err(e).context(format!("checking {}", key_path.display())),
        };
        let cert = Certificate::from_pem(certificate_pem.as_bytes())?;
        check_validity(&cert)?;
        Ok(PlatformCertificate {
            kind: key.kind,
            private_key_pem: key.pkcs8_pem,
            validity: key.certificate.expect("the bundle holds the certificate"),
            fingerprint: hex::encode(Sha256::digest(cert.to_der()?)),
            certificate_pem,
        })
    }

    /// The private key, for signing on a connection's behalf.
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// Days until the certificate expires.
    pub fn days_left(&self) -> u64 {
        self.validity
            .not_after
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .as_secs()
            / 86400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let made = PlatformCertificate::load_or_create(dir.path(), Algorithm::Es256).unwrap();
        let loaded = PlatformCertificate::load_or_create(dir.path(), Algorithm::Ps256).unwrap();
        assert_eq!(made.fingerprint, loaded.fingerprint);
        assert_eq!(loaded.kind, KeyKind::P256);
        assert!(made.days_left() >= 729);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("platform-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
