//! Uses of the connection's secrets that never reveal them.

use crate::bindings::interlink::adapter::secrets as wit;
use crate::{Error, Value};
pub use wit::JwtAlgorithm;

/// Signs a JWT whose claims are `claims` with the connection's private key in
/// config field `key`, and returns its compact form. `key_id` becomes the
/// `kid` header (NetSuite: the certificate id).
pub fn sign_jwt(
    key: &str,
    algorithm: JwtAlgorithm,
    key_id: Option<&str>,
    claims: &Value,
) -> Result<String, Error> {
    let request = wit::JwtRequest {
        key: key.into(),
        algorithm,
        key_id: key_id.map(str::to_string),
        claims: claims.to_string(),
    };
    #[cfg(target_arch = "wasm32")]
    let signed = wit::sign_jwt(&request);
    #[cfg(not(target_arch = "wasm32"))]
    let signed: Result<String, String> =
        Ok(crate::testing::sign_jwt(&request.key, &request.claims));
    signed.map_err(|e| Error::unauthorized(format!("could not sign the client assertion: {e}")))
}
