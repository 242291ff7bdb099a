//! The simulator's token endpoint refuses what NetSuite documents it
//! refuses: RS256, unknown or revoked certificates, a wrong issuer,
//! audience or scope, and assertions that live over an hour.

use std::process::{Command, Stdio};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use netsuite_sim::{Simulator, TOKEN_PATH, full_role};
use serde_json::{Value, json};

/// A key pair made by `openssl` with `newkey` (`ec` or `rsa:3072`).
fn key_pair(newkey: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["req", "-new", "-x509", "-newkey", newkey];
    if newkey == "ec" {
        args.extend(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    }
    args.extend([
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=test",
        "-out",
        "public.pem",
        "-keyout",
        "private.pem",
    ]);
    let status = Command::new("openssl")
        .args(&args)
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    (read("private.pem"), read("public.pem"))
}

struct Client {
    sim: Simulator,
    http: reqwest::Client,
}

impl Client {
    fn audience(&self) -> String {
        format!("{}{TOKEN_PATH}", self.sim.url())
    }

    fn claims(&self) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({"iss": "client", "scope": "rest_webservices", "aud": self.audience(), "iat": now, "exp": now + 300})
    }

    /// Posts an assertion; answers the status and the `error` value.
    async fn token(&self, assertion: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.audience())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
            ))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body)
    }
}

fn sign(alg: Algorithm, kid: &str, pem: &str, claims: &Value) -> String {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn assertions_are_checked_as_netsuite_documents() {
    let client = Client {
        sim: Simulator::start("1234567").await.unwrap(),
        http: reqwest::Client::new(),
    };
    let (ec_key, ec_cert) = key_pair("ec");
    let (rsa_key, rsa_cert) = key_pair("rsa:3072");
    client
        .sim
        .register_certificate("ec", "client", &ec_cert, full_role())
        .unwrap();
    client
        .sim
        .register_certificate("rsa", "client", &rsa_cert, full_role())
        .unwrap();

    let claims = client.claims();
    let (status, body) = client
        .token(&sign(Algorithm::ES256, "ec", &ec_key, &claims))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let (status, _) = client
        .token(&sign(Algorithm::PS256, "rsa", &rsa_key, &claims))
        .await;
    assert_eq!(status, 200);

    // The scope may also be a JSON array, as in Oracle's samples.
    let mut array_scope = claims.clone();
    array_scope["scope"] = json!(["rest_webservices", "restlets"]);
    let (status, _) = client
        .token(&sign(Algorithm::ES256, "ec", &ec_key, &array_scope))
        .await;
    assert_eq!(status, 200);

    let with = |name: &str, value: Value| {
        let mut changed = claims.clone();
        changed[name] = value;
        changed
    };
    let iat = claims["iat"].as_u64().unwrap();
    let es256 = |kid: &str, claims: &Value| sign(Algorithm::ES256, kid, &ec_key, claims);
    let refusals = [
        (
            "RS256",
            sign(Algorithm::RS256, "rsa", &rsa_key, &claims),
            401,
            "invalid_client",
        ),
        (
            "unknown kid",
            es256("unknown", &claims),
            401,
            "invalid_client",
        ),
        ("another key", es256("rsa", &claims), 401, "invalid_client"),
        (
            "wrong issuer",
            es256("ec", &with("iss", json!("other"))),
            401,
            "invalid_client",
        ),
        (
            "wrong audience",
            es256("ec", &with("aud", json!("https://elsewhere/token"))),
            400,
            "invalid_grant",
        ),
        (
            "unknown scope",
            es256("ec", &with("scope", json!("everything"))),
            400,
            "invalid_scope",
        ),
        (
            "over an hour",
            es256("ec", &with("exp", json!(iat + 3601))),
            400,
            "invalid_grant",
        ),
        (
            "expired",
            es256("ec", &with("exp", json!(iat - 10))),
            400,
            "invalid_grant",
        ),
        ("not a JWT", "abc".to_string(), 401, "invalid_client"),
    ];
    for (case, assertion, status, error) in refusals {
        let (got, body) = client.token(&assertion).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (status, error),
            "{case}: {body}"
        );
    }

    client.sim.revoke_certificate("ec");
    let (status, body) = client.token(&es256("ec", &claims)).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (401, "invalid_client")
    );
}

#[tokio::test]
async fn rest_calls_need_a_live_token() {
    let sim = Simulator::start("1234567").await.unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/services/rest/record/v1/vendor", sim.url()))
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["o:errorDetails"][0]["o:errorCode"], "INVALID_LOGIN");
}
