//! `POST /services/rest/auth/oauth2/v1/token`: OAuth 2.0 client credentials
//! with a JWT client assertion (NetSuite "M2M"), and the bearer check of the
//! REST API.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{Shared, TOKEN_PATH};

/// Algorithms NetSuite accepts for client assertions (RS256 was dropped).
const ALGORITHMS: [&str; 6] = ["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];
/// The scopes a client may ask for.
const SCOPES: [&str; 3] = ["restlets", "rest_webservices", "suite_analytics"];

/// A token-endpoint failure, in OAuth 2.0's `{"error": ...}` form.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"NetSuite\"".parse().expect("static header"),
        );
    }
    response
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

pub async fn token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    shared.count_token_request();
    match form.get("grant_type").map(String::as_str) {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported here",
            );
        }
    }
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        );
    }
    let Some(assertion) = form.get("client_assertion") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_assertion is missing",
        );
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let audience = format!("http://{host}{TOKEN_PATH}");
    match verify(&shared, assertion, &audience) {
        Ok((certificate_id, role_id)) => {
            let (token, lifetime) = shared.issue_token(&certificate_id, role_id);
            axum::Json(json!({
                "access_token": token,
                "expires_in": lifetime.as_secs(),
                "token_type": "Bearer",
            }))
            .into_response()
        }
        Err((status, error, description)) => oauth_error(status, error, &description),
    }
}

type Refusal = (StatusCode, &'static str, String);

fn client(description: impl Into<String>) -> Refusal {
    (
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        description.into(),
    )
}

fn grant(description: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, "invalid_grant", description.into())
}

fn decode(part: &str) -> Result<Vec<u8>, Refusal> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| client("the client assertion is not a JWT"))
}

/// Checks a client assertion; answers the certificate id it was signed for
/// and the role it maps to.
fn verify(shared: &Shared, assertion: &str, audience: &str) -> Result<(String, u32), Refusal> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [head, body, signature] = parts[..] else {
        return Err(client("the client assertion is not a JWT"));
    };
    let header: Value =
        serde_json::from_slice(&decode(head)?).map_err(|_| client("the JWT header is not JSON"))?;
    let claims: Value = serde_json::from_slice(&decode(body)?)
        .map_err(|_| client("the JWT claims are not JSON"))?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if !ALGORITHMS.contains(&alg) {
        return Err(client(format!(
            "algorithm `{alg}` is not supported; use PS256, PS384, PS512, ES256, ES384 or ES512"
        )));
    }
    let kid = header["kid"]
        .as_str()
        .ok_or_else(|| client("the JWT header has no kid (the certificate id)"))?;
    let mapping = shared
        .mapping(kid)
        .ok_or_else(|| client(format!("no active certificate `{kid}`")))?;
    mapping
        .key
        .verify(
            alg,
            format!("{head}.{body}").as_bytes(),
            &decode(signature)?,
        )
        .map_err(client)?;
    if claims["iss"].as_str() != Some(mapping.client_id.as_str()) {
        return Err(client(
            "iss is not the client id of the certificate's integration",
        ));
    }
    let scopes: Vec<&str> = match &claims["scope"] {
        Value::String(s) => s.split(',').map(str::trim).collect(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if scopes.is_empty() || scopes.iter().any(|s| !SCOPES.contains(s)) {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "scope must name restlets, rest_webservices or suite_analytics".into(),
        ));
    }
    let audience_ok = match &claims["aud"] {
        Value::String(s) => s == audience,
        Value::Array(a) => a.iter().any(|v| v.as_str() == Some(audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(grant(format!("aud must be the token endpoint, {audience}")));
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(grant("iat and exp are required"));
    };
    let now = now_secs();
    if iat > now + 60 {
        return Err(grant("iat is in the future"));
    }
    if exp <= now {
        return Err(grant("the client assertion has expired"));
    }
    if exp > iat + 3600 {
        return Err(grant("exp must be at most 60 minutes after iat"));
    }
    Ok((kid.to_string(), mapping.role_id))
}

/// NetSuite's answer to a missing, unknown or expired access token.
pub fn invalid_token(shared: &Shared) -> crate::records::Failure {
    crate::records::error(
        StatusCode::UNAUTHORIZED,
        "INVALID_LOGIN",
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
        None,
    )
    .with_challenge(format!(
        "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"Invalid login attempt.\"",
        shared.account()
    ))
}

/// The lifetime of access tokens unless a test shortens it.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A new access token. NetSuite's are JWTs whose `sub` is
/// `<role id>;<entity id>`; clients read the role from it.
pub fn access_token(role_id: u32, lifetime_secs: u64) -> String {
    let now = now_secs();
    let header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "PS256", "typ": "JWT", "kid": "simulator"}).to_string());
    let signature = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let claims = URL_SAFE_NO_PAD.encode(
        json!({
            "sub": format!("{role_id};-5"),
            "iss": "https://system.netsuite.com",
            "scope": ["rest_webservices"],
            "iat": now,
            "exp": now + lifetime_secs,
            "jti": format!("{:032x}", rand::random::<u128>()),
        })
        .to_string(),
    );
    format!("{header}.{claims}.{signature}")
}
