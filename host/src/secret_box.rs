//! Encryption at rest for connection credentials, webhook secrets and
//! connect-session tokens.
//!
//! XChaCha20-Poly1305 with a random 192-bit nonce per value, and the
//! connection id as associated data, so a ciphertext copied onto another row
//! does not decrypt. The 256-bit key comes from `INTERLINK_SECRET_KEY` (64 hex
//! digits) or from `secret.key` in the data folder, created on first start
//! with mode 0600. Losing the key loses the credentials: back it up with the
//! database. A start with another key than the data was written with is
//! refused before anything is read or written ([`SecretBox::key_check`]).

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use thiserror::Error;

const NONCE: usize = 24;

#[derive(Debug, Error)]
pub enum SecretBoxError {
    #[error("INTERLINK_SECRET_KEY must be 64 hex digits (32 bytes)")]
    BadKey,
    #[error("reading or creating the secret key: {0}")]
    Io(#[from] std::io::Error),
    #[error("a stored credential does not decrypt with this key (was the secret key replaced?)")]
    Decrypt,
    #[error(
        "the secret key is not the one this data folder's secrets were encrypted with; \
         restore secret.key from the backup of this data folder, or set INTERLINK_SECRET_KEY \
         to the original key (nothing was changed)"
    )]
    WrongKey,
}

/// What [`SecretBox::key_check`] seals, and the context it is bound to.
const CHECK: &[u8] = b"interlink secret key check";
const CHECK_CONTEXT: &str = "secret-key-check";

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(key: [u8; 32]) -> Self {
        SecretBox {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The key from `env_key` (the value of `INTERLINK_SECRET_KEY`) if set,
    /// else from `<data_dir>/secret.key`, created if missing.
    ///
    /// # Errors
    ///
    /// [`SecretBoxError::BadKey`] when the key, from `env_key` or the file,
    /// is not 64 hex digits; [`SecretBoxError::Io`] when the file cannot be
    /// read, or, when missing, written.
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> Result<Self, SecretBoxError> {
        let parse = |text: &str| -> Result<[u8; 32], SecretBoxError> {
            hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(SecretBoxError::BadKey)
        };
        if let Some(key) = env_key {
            return Ok(Self::new(parse(key)?));
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self::new(parse(&text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                crate::data_dir::write_private(&path, &hex::encode(key))?;
                Ok(Self::new(key))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Encrypts `plain`, bound to `context` (the connection id).
    pub fn seal(&self, plain: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .expect("encryption of in-memory data does not fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// A value sealed under this key, stored beside the data on first
    /// start, so that a later start with another key is refused before it
    /// touches anything ([`verify`](Self::verify)).
    pub fn key_check(&self) -> Vec<u8> {
        self.seal(CHECK, CHECK_CONTEXT)
    }

    /// Whether `check` (from [`key_check`](Self::key_check)) was sealed
    /// under this key.
    ///
    /// # Errors
    ///
    /// [`SecretBoxError::WrongKey`] when `check` does not open under this
    /// key, or does not hold the check value.
    pub fn verify(&self, check: &[u8]) -> Result<(), SecretBoxError> {
        match self.open(check, CHECK_CONTEXT) {
            Ok(plain) if plain == CHECK => Ok(()),
            _ => Err(SecretBoxError::WrongKey),
        }
    }

    /// Decrypts `sealed`, which [`seal`](Self::seal) made under this key
    /// for `context`.
    ///
    /// # Errors
    ///
    /// [`SecretBoxError::Decrypt`] when `sealed` is shorter than a nonce,
    /// was sealed under another key or for another context, or was altered.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.len() < NONCE {
            return Err(SecretBoxError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().expect("split at the nonce's length");
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretBoxError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let a = SecretBox::new([1; 32]);
        let sealed = a.seal(b"api-key-123", "conn-1");
        assert!(!sealed.windows(11).any(|w| w == b"api-key-123"));
        assert_eq!(a.open(&sealed, "conn-1").unwrap(), b"api-key-123");
        assert!(
            a.open(&sealed, "conn-2").is_err(),
            "bound to its connection"
        );
        assert!(SecretBox::new([2; 32]).open(&sealed, "conn-1").is_err());
    }

    #[test]
    fn a_key_check_verifies_only_under_its_key() {
        let check = SecretBox::new([1; 32]).key_check();
        assert!(SecretBox::new([1; 32]).verify(&check).is_ok());
        assert!(matches!(
            SecretBox::new([2; 32]).verify(&check),
            Err(SecretBoxError::WrongKey)
        ));
        assert!(SecretBox::new([1; 32]).verify(b"garbage").is_err());
    }

    #[test]
    fn the_key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretBox::load(None, dir.path()).unwrap();
        let sealed = first.seal(b"x", "c");
        let again = SecretBox::load(None, dir.path()).unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), b"x");
        assert!(matches!(
            SecretBox::load(Some("nothex"), dir.path()),
            Err(SecretBoxError::BadKey)
        ));
    }
}
