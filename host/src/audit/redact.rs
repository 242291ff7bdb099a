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

/// Names of members, form fields and headers whose value is a credential,
/// whoever issued it (OAuth 2.0's tokens and client assertion, session
/// tokens, passwords, keys), compared without case, `_` or `-`
/// (`accessToken`, `x-api-key`): masked whatever their value, so that a
/// token a system answers is masked before any request has carried it.
const CREDENTIAL_NAMES: [&str; 20] = [
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "clientassertion",
    "clientsecret",
    "assertion",
    "password",
    "passwd",
    "apikey",
    "xapikey",
    "privatekey",
    "secret",
    "token",
    "sessiontoken",
    "sessionid",
    "authtoken",
    "xauthtoken",
    "oauthtoken",
    "oauthtokensecret",
    "authorization",
];

/// Whether `name` names a credential ([`CREDENTIAL_NAMES`]).
pub fn is_credential_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    CREDENTIAL_NAMES.contains(&folded.as_str())
}

/// `body` with the credentials it carries by name masked: the value of
/// every member named as [`CREDENTIAL_NAMES`] at any depth of a JSON body,
/// or of every such field of a form body; then every JSON Web Token
/// in it, wherever it is ([`mask_jwts`]). Bodies of other kinds are only
/// searched for JWTs.
pub fn credentials(body: Vec<u8>) -> Vec<u8> {
    fn walk(value: &mut serde_json::Value) -> bool {
        let mut changed = false;
        match value {
            serde_json::Value::Object(members) => {
                for (name, member) in members.iter_mut() {
                    if !member.is_null() && is_credential_name(name) {
                        *member = serde_json::Value::String("[redacted]".into());
                        changed = true;
                    } else {
                        changed |= walk(member);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    changed |= walk(item);
                }
            }
            _ => {}
        }
        changed
    }
    let body = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(mut json) => {
            if walk(&mut json) {
                json.to_string().into_bytes()
            } else {
                body
            }
        }
        Err(_) if is_form(&body) => {
            // Field by field, each kept as it was sent but a credential's
            // value.
            let mut changed = false;
            let fields: Vec<Vec<u8>> = body
                .split(|b| *b == b'&')
                .map(|field| {
                    let name = url::form_urlencoded::parse(field).next().map(|(k, _)| k);
                    match field.iter().position(|b| *b == b'=') {
                        Some(at) if name.is_some_and(|k| is_credential_name(&k)) => {
                            changed = true;
                            [&field[..=at], MASK].concat()
                        }
                        _ => field.to_vec(),
                    }
                })
                .collect();
            if changed { fields.join(&b'&') } else { body }
        }
        Err(_) => body,
    };
    mask_jwts(body)
}

/// Whether `body` reads as `application/x-www-form-urlencoded`: printable
/// ASCII without spaces, with a `=`.
fn is_form(body: &[u8]) -> bool {
    !body.is_empty() && body.contains(&b'=') && body.iter().all(|b| b.is_ascii_graphic())
}

/// `bytes` with every JSON Web Token masked: `eyJ` (the base64url of a
/// JSON header's `{"`), then three base64url segments, wherever it starts.
pub fn mask_jwts(bytes: Vec<u8>) -> Vec<u8> {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if memchr::memmem::find(&bytes, b"eyJ").is_none() {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(found) = memchr::memmem::find(&bytes[at..], b"eyJ") {
        let start = at + found;
        // The token: segments of base64url joined by two dots.
        let (mut end, mut dots) = (start, 0);
        while end < bytes.len() && (base64url(bytes[end]) || (bytes[end] == b'.' && dots < 2)) {
            if bytes[end] == b'.' {
                dots += 1;
            }
            end += 1;
        }
        // Glued to what precedes it or not (`\\neyJ`, `%20eyJ`): masking
        // too much is the safe side.
        if dots == 2 && bytes[end - 1] != b'.' {
            out.extend_from_slice(&bytes[at..start]);
            out.extend_from_slice(MASK);
        } else {
            out.extend_from_slice(&bytes[at..end.max(start + 3)]);
        }
        at = end.max(start + 3);
    }
    out.extend_from_slice(&bytes[at..]);
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

    #[test]
    fn credentials_by_name_and_every_jwt_are_masked() {
        let jwt = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        let answer = format!(
            r#"{{"access_token":"opaque-token-1","expires_in":3600,"nested":[{{"refresh_token":"r-2"}}],"note":"{jwt}"}}"#
        );
        let masked: serde_json::Value =
            serde_json::from_slice(&credentials(answer.into_bytes())).unwrap();
        assert_eq!(masked["access_token"], "[redacted]");
        assert_eq!(masked["expires_in"], 3600);
        assert_eq!(masked["nested"][0]["refresh_token"], "[redacted]");
        assert_eq!(masked["note"], "[redacted]");

        let form = format!("grant_type=client_credentials&client_assertion={jwt}&scope=rest");
        let masked = String::from_utf8(credentials(form.into_bytes())).unwrap();
        assert_eq!(
            masked,
            "grant_type=client_credentials&client_assertion=[redacted]&scope=rest"
        );

        let text = format!("Bearer {jwt}, and eyJ alone, and x{jwt}");
        let masked = String::from_utf8(credentials(text.into_bytes())).unwrap();
        assert!(
            masked.starts_with("Bearer [redacted], and eyJ alone"),
            "{masked}"
        );
        let plain = br#"{"name":"Acme","email":"a@b.example"}"#.to_vec();
        assert_eq!(credentials(plain.clone()), plain, "untouched");
    }

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
