//! `interlink:adapter/secrets`: JWTs signed with the connection's private
//! key, which never enters the adapter.
//!
//! What an adapter may have signed is bounded, because the platform key is
//! shared by every connection that uses the platform certificate: a JWT
//! signed for one connection must not be good for another's account.
//!
//! - the key must be a config field the manifest declares as a private key
//!   (a text secret whose value happens to be the platform marker unlocks
//!   nothing);
//! - `iss` must be one of the connection's own config values (its client
//!   id), `aud` an URL on an origin the connection's config names (its
//!   token endpoint), and `exp` at most an hour away: an assertion the
//!   adapter makes is for this connection's account and expires soon.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::contract::latest::interlink::adapter::secrets::{self, JwtAlgorithm, JwtRequest};
use crate::runtime::PLATFORM_KEY;
use crate::runtime::state::HostState;
use crate::storage::audit::{AuditKind, AuditOutcome};

/// The longest an assertion may live.
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Signs `claims` (a JSON object) with the PEM private key `pem`.
///
/// # Errors
///
/// A message saying why: `pem` is not a key of `algorithm`'s kind (EC for
/// `ES256` and `ES384`, RSA otherwise), or signing failed.
pub fn sign_jwt(
    pem: &str,
    algorithm: Algorithm,
    key_id: Option<String>,
    claims: &Value,
) -> Result<String, String> {
    let key = match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|e| format!("the private key cannot sign {algorithm:?}: {e}"))?;
    let mut header = Header::new(algorithm);
    header.kid = key_id;
    jsonwebtoken::encode(&header, claims, &key).map_err(|e| format!("signing failed: {e}"))
}

impl HostState {
    /// Checks `claims` against what this connection may have signed.
    fn check_claims(&self, claims: &str) -> Result<Value, String> {
        let claims: Value =
            serde_json::from_str(claims).map_err(|e| format!("claims are not JSON: {e}"))?;
        let object = claims.as_object().ok_or("claims must be a JSON object")?;
        match object.get("iss").and_then(Value::as_str) {
            Some(iss) if self.ctx.config.values().any(|v| v == iss) => {}
            _ => return Err("`iss` must be one of the connection's config values".into()),
        }
        let audiences: Vec<&str> = match object.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(auds)) if !auds.is_empty() => auds
                .iter()
                .map(|a| a.as_str().ok_or("`aud` must be URLs"))
                .collect::<Result<_, _>>()?,
            _ => return Err("`aud` must be the URL the assertion is for".into()),
        };
        for aud in audiences {
            let trusted = url::Url::parse(aud).is_ok_and(|u| self.allow.trusts_with_secrets(&u));
            if !trusted {
                return Err(format!(
                    "`aud` {aud} is not on an origin this connection's config names"
                ));
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        match object.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp > now && exp <= now + MAX_LIFETIME.as_secs() => {}
            _ => {
                return Err(format!(
                    "`exp` must be within {} seconds from now",
                    MAX_LIFETIME.as_secs()
                ));
            }
        }
        Ok(claims)
    }
}

impl secrets::Host for HostState {
    async fn sign_jwt(&mut self, request: JwtRequest) -> Result<String, String> {
        if self.describing {
            return Err("adapters sign nothing while describing themselves".into());
        }
        if !self.private_keys.contains(&request.key) {
            return Err(format!(
                "`{}` is not one of the adapter's private-key config fields",
                request.key
            ));
        }
        let pem = match self.ctx.secrets.get(&request.key) {
            Some(PLATFORM_KEY) => match &self.services.platform_key {
                Some(pem) => pem.to_string(),
                None => return Err("this host has no platform certificate".into()),
            },
            Some(pem) => pem.to_string(),
            None => {
                return Err(format!(
                    "the connection has no private key `{}`",
                    request.key
                ));
            }
        };
        let claims = self.check_claims(&request.claims)?;
        let algorithm = match request.algorithm {
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Ps256 => Algorithm::PS256,
            JwtAlgorithm::Ps384 => Algorithm::PS384,
            JwtAlgorithm::Ps512 => Algorithm::PS512,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Es384 => Algorithm::ES384,
        };
        if let Some(trail) = self.trail.as_ref().filter(|_| self.services.audit.on()) {
            self.services.audit.record(trail.entry(
                AuditKind::Credential,
                AuditOutcome::Ok,
                format!("secret {}", request.key),
                json!({"use": "sign-jwt", "algorithm": format!("{algorithm:?}"), "audience": claims.get("aud")}),
            ));
        }
        // RSA signing takes milliseconds: keep it off the async workers.
        let jwt =
            tokio::task::spawn_blocking(move || sign_jwt(&pem, algorithm, request.key_id, &claims))
                .await
                .map_err(|e| format!("signing failed: {e}"))??;
        // An assertion gets tokens until it expires: a client that sees the
        // request's exchanges does not see it.
        if let Some(capture) = self.trail.as_ref().and_then(|t| t.upstream.get()) {
            capture.credential(&jwt);
        }
        Ok(jwt)
    }
}
