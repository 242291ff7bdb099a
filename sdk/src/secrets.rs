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
    wit::sign_jwt(&wit::JwtRequest {
        key: key.into(),
        algorithm,
        key_id: key_id.map(str::to_string),
        claims: claims.to_string(),
    })
    .map_err(|e| Error::unauthorized(format!("could not sign the client assertion: {e}")))
}
