//! `interlink:adapter/secrets`: JWTs signed with the connection's private
//! key, which never enters the adapter.

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::contract::v0_1_0::interlink::adapter::secrets::{self, JwtAlgorithm, JwtRequest};
use crate::runtime::PLATFORM_KEY;
use crate::runtime::state::HostState;

/// Signs `claims` (a JSON object) with the PEM private key `pem`.
pub fn sign_jwt(
    pem: &str,
    algorithm: Algorithm,
    key_id: Option<String>,
    claims: &str,
) -> Result<String, String> {
    let claims: serde_json::Value =
        serde_json::from_str(claims).map_err(|e| format!("claims are not JSON: {e}"))?;
    if !claims.is_object() {
        return Err("claims must be a JSON object".into());
    }
    let key = match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|e| format!("the private key cannot sign {algorithm:?}: {e}"))?;
    let mut header = Header::new(algorithm);
    header.kid = key_id;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("signing failed: {e}"))
}

impl secrets::Host for HostState {
    async fn sign_jwt(&mut self, request: JwtRequest) -> Result<String, String> {
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
        let algorithm = match request.algorithm {
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Ps256 => Algorithm::PS256,
            JwtAlgorithm::Ps384 => Algorithm::PS384,
            JwtAlgorithm::Ps512 => Algorithm::PS512,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Es384 => Algorithm::ES384,
        };
        // RSA signing takes milliseconds: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            sign_jwt(&pem, algorithm, request.key_id, &request.claims)
        })
        .await
        .map_err(|e| format!("signing failed: {e}"))?
    }
}
