//! The connection's credentials on every request: HTTP basic
//! authentication, or an OAuth 2.0 bearer token from SAP's token endpoint
//! (client credentials) when the connection names a `token_url`.
//!
//! Either way the secret is the connection's `credentials` config value,
//! `USER:PASSWORD` or `CLIENT_ID:CLIENT_SECRET` in base64, which the host
//! puts after `Basic ` in an `Authorization` header: the adapter never
//! reads it. An access token is cached in the connection's kv store until
//! shortly before it expires, and renewed once when SAP rejects it.

use interlink_sdk::http::{Request, Response};
use interlink_sdk::{Context, Error, Result, Value, kv};

const ACCESS_TOKEN: &str = "oauth_access_token";

/// `request` with HTTP basic authentication.
fn basic(request: Request) -> Request {
    request.secret_header("Authorization", "credentials", "Basic ")
}

fn cached_token() -> Option<String> {
    kv::get(ACCESS_TOKEN).and_then(|t| String::from_utf8(t).ok())
}

/// An access token: the cached one, unless it is the one SAP just
/// `rejected`; else a new one from `token_url`. A missing key makes this
/// call the one that fills it (the connection's other calls wait for its
/// value), so a connection fetches one token at a time.
fn access_token(token_url: &str, rejected: Option<&str>) -> Result<String> {
    let mut token = cached_token();
    if token.is_some() && token.as_deref() == rejected {
        kv::delete(ACCESS_TOKEN);
        token = cached_token();
    }
    if let Some(token) = token {
        return Ok(token);
    }
    // Asking for a token changes nothing in SAP: a dry run sends it.
    let response = basic(Request::post(token_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .body(b"grant_type=client_credentials".to_vec())
        .read_only()
        .send()?;
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    let Some(token) = body["access_token"]
        .as_str()
        .filter(|_| response.status() == 200)
    else {
        let error = body["error"].as_str().unwrap_or("no access token");
        let message = format!(
            "SAP's token endpoint refused the client credentials ({error}): {}",
            body["error_description"].as_str().unwrap_or_default()
        );
        return Err(match response.status() {
            400 | 401 => Error::unauthorized(message),
            status => Error::upstream(status, message),
        });
    };
    let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
    // Renewed a minute early (or at 90% of a short lifetime), so that it
    // does not expire between the check and the request.
    let ttl = lifetime.saturating_sub(60.min(lifetime / 10)).max(1);
    kv::set(ACCESS_TOKEN, token.as_bytes(), Some(ttl as u32)).map_err(Error::unsupported)?;
    Ok(token.to_string())
}

/// Sends the request `build` makes with the connection's credentials.
/// With OAuth, a 401 renews the token once and sends the request again; a
/// second 401 is the system's answer to the credentials themselves.
pub fn send(ctx: &Context, build: impl Fn() -> Result<Request>) -> Result<Response> {
    let Some(token_url) = ctx.config_opt("token_url") else {
        return basic(build()?).send();
    };
    let bearer = |token: &str| -> Result<Request> {
        Ok(build()?.header("Authorization", format!("Bearer {token}")))
    };
    let token = access_token(token_url, None)?;
    let response = bearer(&token)?.send()?;
    if response.status() != 401 {
        return Ok(response);
    }
    bearer(&access_token(token_url, Some(&token))?)?.send()
}

#[cfg(test)]
mod tests {
    use super::*;
    use interlink_sdk::http::Method;
    use interlink_sdk::testing::TestHost;

    const TOKEN_URL: &str = "https://s4.example/sap/bc/sec/oauth2/token";
    const API: &str = "https://s4.example/api";

    fn oauth() -> Context {
        Context::new("c1", &[("token_url", TOKEN_URL)])
    }

    #[test]
    fn a_rejected_token_is_renewed_once() {
        let host = TestHost::install();
        host.respond(
            Method::Post,
            TOKEN_URL,
            200,
            r#"{"access_token": "t1", "expires_in": 3600}"#,
        )
        .respond(
            Method::Post,
            TOKEN_URL,
            200,
            r#"{"access_token": "t2", "expires_in": 3600}"#,
        )
        .respond(Method::Get, API, 401, "expired")
        .respond(Method::Get, API, 200, "{}");
        let response = send(&oauth(), || Ok(Request::get(API))).unwrap();
        assert_eq!(response.status(), 200);
        let sent = host.sent();
        let bearers: Vec<_> = sent
            .iter()
            .filter(|r| r.url == API)
            .map(|r| r.headers[0].1.clone())
            .collect();
        assert_eq!(bearers, ["Bearer t1", "Bearer t2"]);
        assert_eq!(
            sent[0].secret_headers,
            [("Authorization".into(), "credentials".into())]
        );
        assert_eq!(host.kv(ACCESS_TOKEN).as_deref(), Some(&b"t2"[..]));
    }

    #[test]
    fn refused_client_credentials_are_unauthorized() {
        let host = TestHost::install();
        host.respond(
            Method::Post,
            TOKEN_URL,
            401,
            r#"{"error": "invalid_client"}"#,
        );
        match send(&oauth(), || Ok(Request::get(API))) {
            Err(Error::Unauthorized(message)) => assert!(message.contains("invalid_client")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_a_token_url_the_credentials_go_as_basic_authentication() {
        let host = TestHost::install();
        host.respond(Method::Get, API, 200, "{}");
        send(&Context::new("c1", &[]), || Ok(Request::get(API))).unwrap();
        let sent = host.sent();
        assert_eq!(
            sent[0].secret_headers,
            [("Authorization".into(), "credentials".into())]
        );
    }
}
