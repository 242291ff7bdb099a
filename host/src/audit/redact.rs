//! Secrets out of text: what the runtime hands an adapter (a response that
//! echoes a credential), what the audit trail keeps (an exchange's bodies)
//! and what a client sees of the exchanges (`Prefer: include-upstream`,
//! [`super::upstream`]) pass through [`mask`].
//!
//! The trail masks more than the raw value ([`Redactor`]): a secret also
//! travels URL-encoded (a form body, a path segment or query value),
//! JSON-escaped, or in base64 (inside a
//! longer encoded string too, so at each of the three byte alignments: what
//! is masked is the part of the encoding that only the secret's bytes
//! determine).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// What replaces a secret.
pub const MASK: &[u8] = b"[redacted]";

/// Every character but RFC 3986's unreserved ones (letters, digits,
/// `-._~`): how a URL component is most often percent-encoded (the SDK's
/// `encode` and `segment`).
const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Secrets shorter than this are not masked: a short value would be found
/// in unrelated text and garble it.
pub const MIN_SECRET_LEN: usize = 8;

/// `bytes` with every occurrence of each of `needles` replaced by [`MASK`].
pub fn mask<'a>(bytes: Vec<u8>, needles: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = bytes;
    for needle in needles {
        if needle.is_empty() || memchr::memmem::find(&out, needle).is_none() {
            continue;
        }
        let mut masked = Vec::with_capacity(out.len());
        let mut rest = out.as_slice();
        while let Some(at) = memchr::memmem::find(rest, needle) {
            masked.extend_from_slice(&rest[..at]);
            masked.extend_from_slice(MASK);
            rest = &rest[at + needle.len()..];
        }
        masked.extend_from_slice(rest);
        out = masked;
    }
    out
}

/// The forms of a connection's secrets that the trail masks.
#[derive(Debug, Default)]
pub struct Redactor {
    needles: Vec<Vec<u8>>,
}

impl Redactor {
    /// A redactor for `secrets` (those shorter than [`MIN_SECRET_LEN`] are
    /// left alone).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            needles.push(secret.as_bytes().to_vec());
            let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            needles.push(url.into_bytes());
            for set in [percent_encoding::NON_ALPHANUMERIC, UNRESERVED_KEPT] {
                let percent = percent_encoding::utf8_percent_encode(secret, set).to_string();
                needles.push(percent.into_bytes());
            }
            let json = serde_json::to_string(secret).expect("a string serializes");
            needles.push(json.as_bytes()[1..json.len() - 1].to_vec());
            for engine in [STANDARD, URL_SAFE] {
                for offset in 0..3 {
                    needles.push(base64_core(&engine, secret.as_bytes(), offset));
                }
            }
        }
        // Longest first, so that no shorter form cuts a longer one apart;
        // each form once.
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    /// `bytes` as text (lossy for bytes that are not UTF-8), every form of
    /// every secret masked.
    pub fn text(&self, bytes: &[u8]) -> String {
        String::from_utf8_lossy(&self.bytes(bytes.to_vec())).into_owned()
    }

    /// `bytes` with every form of every secret masked.
    pub fn bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        mask(bytes, self.needles.iter().map(Vec::as_slice))
    }
}

/// The characters of `secret`'s base64 encoding, placed `offset` bytes into
/// a 3-byte group, that only its own bytes determine.
fn base64_core(engine: &impl Engine, secret: &[u8], offset: usize) -> Vec<u8> {
    let mut padded = vec![0; offset];
    padded.extend_from_slice(secret);
    let encoded = engine.encode(&padded).into_bytes();
    let first = (offset * 8).div_ceil(6);
    let end = (padded.len() * 8) / 6;
    encoded[first..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t/va+lue=&more-_~";

    fn forms(secret: &str) -> Vec<String> {
        vec![
            secret.to_string(),
            STANDARD.encode(secret),
            URL_SAFE.encode(secret),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            percent_encoding::utf8_percent_encode(secret, UNRESERVED_KEPT).to_string(),
        ]
    }

    #[test]
    fn every_form_of_a_secret_is_masked_wherever_it_sits() {
        let redactor = Redactor::new([SECRET, "short"]);
        for form in forms(SECRET) {
            let text = redactor.text(format!("before {form} after").as_bytes());
            assert!(!text.contains(&form), "{form} in {text}");
            assert!(text.contains("[redacted]"), "{text}");
            assert!(
                text.starts_with("before ") && text.ends_with(" after"),
                "{text}"
            );
        }
        // Inside a longer base64 string (HTTP Basic's `user:secret`), at
        // each alignment.
        for user in ["u", "us", "use"] {
            let basic = STANDARD.encode(format!("{user}:{SECRET}"));
            let text = redactor.text(basic.as_bytes());
            assert!(text.contains("[redacted]"), "{user}: {text}");
        }
        // A short secret is left alone.
        assert_eq!(redactor.text(b"a short one"), "a short one");
    }
}
