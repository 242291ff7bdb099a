//! OAuth 2.0 client credentials with a JWT client assertion (NetSuite's
//! "M2M" flow). The host signs the assertion with the connection's private
//! key; the adapter only ever holds the short-lived access token, cached per
//! connection until shortly before it expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use interlink_sdk::http::Request;
use interlink_sdk::secrets::{JwtAlgorithm, sign_jwt};
use interlink_sdk::{Context, Error, Result, Value, clock, json, kv};

/// The token endpoint, under the account's REST host.
pub const TOKEN_PATH: &str = "/services/rest/auth/oauth2/v1/token";
const ACCESS_TOKEN: &str = "access_token";
/// How long a client assertion is valid (NetSuite allows up to an hour).
const ASSERTION_LIFETIME_SECS: u64 = 300;

/// The account's REST host: `https://<account>.suitetalk.api.netsuite.com`,
/// or the `base_url` override (sandboxes with custom domains, tests).
pub fn base(ctx: &Context) -> Result<String> {
    Ok(match ctx.config_opt("base_url") {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!(
            "https://{}.suitetalk.api.netsuite.com",
            ctx.config("account_id")?.to_lowercase()
        ),
    })
}

/// The algorithm the connection's key signs with, as the host reports it.
fn algorithm(ctx: &Context) -> JwtAlgorithm {
    match ctx.config_opt("private_key.algorithm") {
        Some("ES256") => JwtAlgorithm::Es256,
        Some("ES384") => JwtAlgorithm::Es384,
        _ => JwtAlgorithm::Ps256,
    }
}

/// The cached access token, if there is one.
fn cached() -> Option<String> {
    kv::get(ACCESS_TOKEN).and_then(|t| String::from_utf8(t).ok())
}

/// An access token: the cached one, unless it is the token NetSuite just
/// `rejected`; else a new one. The host lets one call at a time fill a
/// missing key (the others wait for its value), so the connection's calls,
/// on every node, fetch one new token between them.
pub fn access_token(ctx: &Context, rejected: Option<&str>) -> Result<String> {
    let mut token = cached();
    if token.is_some() && token.as_deref() == rejected {
        kv::delete(ACCESS_TOKEN);
        token = cached();
    }
    if let Some(token) = token {
        return Ok(token);
    }
    let audience = format!("{}{TOKEN_PATH}", base(ctx)?);
    let now = clock::now_seconds();
    let claims = json!({
        "iss": ctx.config("client_id")?,
        "scope": "rest_webservices",
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    let assertion = sign_jwt(
        "private_key",
        algorithm(ctx),
        Some(ctx.config("certificate_id")?),
        &claims,
    )?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_assertion", &assertion)
        .finish();
    // A token request changes nothing: a dry-run write sends it.
    let response = Request::post(&audience)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.into_bytes())
        .read_only()
        .send()?;
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    if response.status() != 200 {
        let error = body["error"].as_str().unwrap_or("unknown_error");
        let description = body["error_description"].as_str().unwrap_or_default();
        let message = format!("NetSuite refused the client credentials ({error}): {description}");
        return Err(match (response.status(), error) {
            (_, "invalid_client" | "invalid_grant" | "unauthorized_client" | "invalid_scope") => {
                Error::unauthorized(message)
            }
            (429, _) => Error::rate_limited(message, None),
            (status, _) => Error::upstream(status, message),
        });
    }
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| Error::upstream(200, "NetSuite answered without an access token"))?;
    let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
    // Renew a minute early (or at 90% of a short lifetime), so that a token
    // never expires between the check and the request.
    let ttl = lifetime.saturating_sub(60.min(lifetime / 10)).max(1);
    kv::set(ACCESS_TOKEN, token.as_bytes(), Some(ttl as u32)).map_err(Error::unsupported)?;
    Ok(token.to_string())
}

/// The role an access token acts as: NetSuite's access tokens are JWTs whose
/// `sub` is `<role id>;<entity id>`.
pub fn role(token: &str) -> Option<String> {
    let claims = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    Some(claims["sub"].as_str()?.split(';').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_comes_from_the_token_subject() {
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"1001;-5"}"#);
        assert_eq!(role(&format!("h.{claims}.s")).as_deref(), Some("1001"));
        assert_eq!(role("opaque"), None);
    }
}
