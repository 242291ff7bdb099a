//! Signing deliveries, as receivers verify them.
//!
//! [Standard Webhooks](https://www.standardwebhooks.com/), which receivers'
//! libraries verify: `webhook-id` (the delivery's id, the same on every
//! retry), `webhook-timestamp` (unix seconds) and `webhook-signature:
//! v1,<base64>`, the HMAC-SHA256 of `"<id>.<timestamp>.<body>"` under the
//! key the secret's `whsec_<base64>` form encodes ([`standard`]).
//!
//! Deprecated, sent for one more release: `Interlink-Signature:
//! t=<unix seconds>,v1=<hex>`, the HMAC-SHA256 of `"<t>.<body>"` under the
//! secret's text ([`legacy`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret in the Standard Webhooks form.
pub const PREFIX: &str = "whsec_";

/// The HMAC key of `secret`: the bytes its `whsec_<base64>` form encodes;
/// for a secret given in another form (before Standard Webhooks), its own
/// bytes.
pub fn key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(PREFIX)
        .and_then(|b| STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` value for delivery `id` of `body` sent at
/// `timestamp`.
pub fn standard(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The deprecated `Interlink-Signature` value for `body` sent at `timestamp`.
pub fn legacy(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn the_specifications_example_signs_as_it_says() {
        assert_eq!(
            standard(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#,
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_in_another_form_is_its_own_key() {
        assert_eq!(key("my-own-secret-1234"), b"my-own-secret-1234");
        assert_eq!(key("whsec_AAEC"), [0, 1, 2]);
    }

    #[test]
    fn the_legacy_header_is_hmac_sha256_of_timestamp_dot_body() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1.body");
        assert_eq!(
            legacy("key", 1, b"body"),
            format!("t=1,v1={}", hex::encode(mac.finalize().into_bytes()))
        );
    }
}
