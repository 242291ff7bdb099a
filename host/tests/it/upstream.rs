//! `Prefer: include-upstream` through the binary: a read's and a write's
//! answer carries the exchanges the upstream's own log has (method, path
//! and query, status, bodies), no form of the connection's secret and no
//! credential the call carried (the NetSuite simulator's token exchange),
//! a failed call's too; a dry run's reads are exchanges and its held
//! request is not; a token without the `upstream` scope gets 403 and the
//! upstream receives nothing; without the preference, answers are
//! unchanged.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use netsuite_sim::{Simulator, full_role};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// The connection's API key: long, and with characters that URL-encoding
/// changes; a valid record id too, so that it can reach a URL.
const SECRET: &str = "sk_live-4f9Zq+up=stream&value~x";

/// How the SDK encodes a path segment: all but RFC 3986's unreserved.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Every form of `SECRET` that must not be shown.
fn forms() -> Vec<String> {
    vec![
        SECRET.to_string(),
        STANDARD.encode(SECRET),
        URL_SAFE.encode(SECRET),
        url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
        utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(SECRET, SEGMENT).to_string(),
    ]
}

/// The forms of `SECRET` in `text`.
fn leaks(text: &str) -> Vec<String> {
    forms().into_iter().filter(|f| text.contains(f)).collect()
}

/// `bytes` as the answer should show them: the secret, raw or as a path
/// segment, `[redacted]`.
fn masked(bytes: &[u8]) -> String {
    let segment = utf8_percent_encode(SECRET, SEGMENT).to_string();
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace(SECRET, "[redacted]")
        .replace(&segment, "[redacted]")
}

/// A body as the answer should show it: none, the JSON, or the text.
fn body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let text = masked(bytes);
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// A host with the example adapter on a demo upstream whose key is
/// `SECRET`.
async fn start() -> Demo {
    Demo::with_key(SECRET, &[]).await.0
}

const INCLUDE: &[(&str, &str)] = &[("prefer", "include-upstream")];

/// `method path` with the connection's token and `headers`.
async fn send_with(
    demo: &Demo,
    method: M,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let url = demo.server.url(path);
    call_with(&demo.http, method, url, &demo.token, body, headers).await
}

/// Asserts that `upstream` (an answer's member) is the exchanges of
/// `reply`'s request, and that they are what the upstream logged since
/// `before`, in order: method, URL, status and bodies, the secret masked.
fn assert_logged(demo: &Demo, reply: &Reply, upstream: &Value, before: usize) {
    assert_eq!(upstream["request_id"], reply.request_id.as_str());
    assert_eq!(upstream["omitted"], 0);
    let logged = &demo.up.received()[before..];
    let exchanges = upstream["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), logged.len(), "{upstream:#}\n{logged:?}");
    for (exchange, received) in exchanges.iter().zip(logged) {
        let url = format!(
            "{}{}",
            demo.up.base_url(),
            masked(received.path_and_query.as_bytes())
        );
        assert_eq!(exchange["method"], received.method, "{exchange}");
        assert_eq!(exchange["url"], url, "{exchange}");
        assert_eq!(exchange["status"], received.status, "{exchange}");
        assert_eq!(exchange["request_body"], body(&received.body), "{exchange}");
        let response = body(&received.response_body);
        assert_eq!(exchange["response_body"], response, "{exchange}");
        assert_eq!(exchange["truncated"], false);
        assert!(exchange["duration_ms"].as_f64().unwrap() > 0.0);
        assert!(exchange.get("headers").is_none(), "no header: {exchange}");
    }
    let text = upstream.to_string();
    assert_eq!(leaks(&text), Vec::<String>::new(), "{text}");
}

#[tokio::test]
async fn reads_answer_the_exchanges_the_upstream_logged_without_the_secret() {
    let demo = start().await;
    let id = demo.up.insert(
        "suppliers",
        json!({"displayName": format!("Leaky {SECRET}"), "currencyCode": "EUR", "isActive": true}),
    );
    let path = format!("/v1/vendors/{id}");
    let plain = demo.call(M::GET, &path, None).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert!(plain.headers.get("preference-applied").is_none());
    assert!(plain.body.get("upstream").is_none(), "{}", plain.body);

    let before = demo.up.received().len();
    let asked = send_with(&demo, M::GET, &path, None, INCLUDE).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.headers["preference-applied"], "include-upstream");
    let mut record = asked.body.clone();
    let upstream = record.as_object_mut().unwrap().remove("upstream").unwrap();
    assert_eq!(
        record, plain.body,
        "the record is the same, and one member more"
    );
    assert_logged(&demo, &asked, &upstream, before);
    assert_eq!(upstream["exchanges"].as_array().unwrap().len(), 1);
    let shown = &upstream["exchanges"][0]["response_body"]["displayName"];
    assert_eq!(shown, "Leaky [redacted]");

    // A page: the query as sent.
    let before = demo.up.received().len();
    let page = send_with(&demo, M::GET, "/v1/vendors?page_size=2", None, INCLUDE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    assert_logged(&demo, &page, &page.body["upstream"], before);
    let url = page.body["upstream"]["exchanges"][0]["url"]
        .as_str()
        .unwrap();
    assert!(url.ends_with("/api/suppliers?offset=0&limit=2"), "{url}");

    // Every form of the secret, in a record: none shows in the exchanges.
    // (The record is the adapter's: it got the answer with the secret's raw
    // value masked, as always.)
    let every = demo.up.insert(
        "suppliers",
        json!({"displayName": forms().join(" "), "currencyCode": "EUR", "isActive": true}),
    );
    let read = send_with(
        &demo,
        M::GET,
        &format!("/v1/vendors/{every}"),
        None,
        INCLUDE,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let text = read.body["upstream"].to_string();
    assert_eq!(leaks(&text), Vec::<String>::new(), "{text}");
    assert!(text.contains("[redacted]"), "{text}");

    // A failed read carries its exchanges beside the error: the secret as
    // the record id reaches the URL, the upstream's 404 echoes it.
    let before = demo.up.received().len();
    let missing = send_with(
        &demo,
        M::GET,
        &format!("/v1/vendors/{SECRET}"),
        None,
        INCLUDE,
    )
    .await;
    missing.assert_error(StatusCode::NOT_FOUND, "record_not_found");
    assert_eq!(missing.headers["preference-applied"], "include-upstream");
    assert_logged(&demo, &missing, &missing.body["upstream"], before);
    let exchange = &missing.body["upstream"]["exchanges"][0];
    assert!(
        exchange["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/suppliers/[redacted]")
    );
    assert_eq!(exchange["status"], 404);
    let plain_missing = demo
        .call(M::GET, &format!("/v1/vendors/{SECRET}"), None)
        .await;
    assert!(plain_missing.body.get("upstream").is_none());
}

#[tokio::test]
async fn writes_answer_their_exchanges_and_a_dry_run_only_its_reads() {
    let demo = start().await;
    let before = demo.up.received().len();
    let name = format!("Acme {SECRET}");
    let created = send_with(
        &demo,
        M::POST,
        "/v1/vendors",
        Some(json!({"name": name, "email": "a@acme.example"})),
        INCLUDE,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers["preference-applied"], "include-upstream");
    assert_logged(&demo, &created, &created.body["upstream"], before);
    let exchange = &created.body["upstream"]["exchanges"][0];
    assert_eq!(exchange["method"], "POST");
    assert_eq!(exchange["request_body"]["displayName"], "Acme [redacted]");
    let id = created.body["id"].as_str().unwrap().to_string();

    let before = demo.up.received().len();
    let path = format!("/v1/vendors/{id}");
    let patch = Some(json!({"phone": "+46 8 123"}));
    let updated = send_with(&demo, M::PATCH, &path, patch, INCLUDE).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["phone"], "+46 8 123");
    assert_logged(&demo, &updated, &updated.body["upstream"], before);

    // A delete answers 200 with its exchanges; without the preference, 204.
    let before = demo.up.received().len();
    let deleted = send_with(&demo, M::DELETE, &path, None, INCLUDE).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        deleted.body.as_object().unwrap().len(),
        1,
        "{}",
        deleted.body
    );
    assert_logged(&demo, &deleted, &deleted.body["upstream"], before);
    assert_eq!(deleted.body["upstream"]["exchanges"][0]["status"], 204);
    let other = demo.up.insert("suppliers", json!({"displayName": "Gone"}));
    let plain = demo
        .call(M::DELETE, &format!("/v1/vendors/{other}"), None)
        .await;
    assert_eq!(plain.status, StatusCode::NO_CONTENT);
    assert!(plain.headers.get("preference-applied").is_none());

    // A dry run of an update that a state lock may refuse: the order is
    // read (an exchange), the PATCH is held (not one), nothing is written.
    let order = demo.up.insert(
        "orders",
        json!({"supplierId": 1, "state": "draft", "notes": "n", "lines": [{"qty": 1}]}),
    );
    let (before, writes) = (demo.up.received().len(), demo.up.writes());
    let both = [("prefer", "dry-run, include-upstream")];
    let rehearsed = send_with(
        &demo,
        M::PATCH,
        &format!("/v1/purchase-orders/{order}"),
        Some(json!({"memo": "m"})),
        &both,
    )
    .await;
    assert_eq!(rehearsed.status, StatusCode::OK, "{}", rehearsed.body);
    assert_eq!(
        rehearsed.headers["preference-applied"],
        "dry-run, include-upstream"
    );
    assert_eq!(rehearsed.body["dry_run"], true);
    assert_eq!(rehearsed.body["requests"][0]["method"], "PATCH");
    assert_eq!(demo.up.writes(), writes, "nothing was written");
    assert_logged(&demo, &rehearsed, &rehearsed.body["upstream"], before);
    let methods: Vec<&Value> = rehearsed.body["upstream"]["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["method"])
        .collect();
    assert_eq!(methods, [&json!("GET")], "{}", rehearsed.body);
}

#[tokio::test]
async fn a_token_without_the_upstream_scope_gets_403_and_nothing_is_sent() {
    let demo = start().await;
    let connection = demo.connection_id().await;
    let issued = demo
        .issue_token(
            &connection,
            json!({"name": "app", "scopes": ["read", "write"]}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let token = issued.body["token"].as_str().unwrap();
    let requests = demo.up.requests();
    for (method, path, body) in [
        (M::GET, "/v1/vendors", None),
        (M::GET, "/v1/vendors/1", None),
        (M::POST, "/v1/vendors", Some(json!({"name": "No"}))),
        (M::PATCH, "/v1/vendors/1", Some(json!({"name": "No"}))),
        (M::DELETE, "/v1/vendors/1", None),
    ] {
        let url = demo.server.url(path);
        let refused = call_with(&demo.http, method, url, token, body, INCLUDE).await;
        refused.assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
        assert_eq!(
            refused.body["error"]["details"]["required_scope"],
            "upstream"
        );
        assert!(refused.body.get("upstream").is_none(), "{}", refused.body);
    }
    assert_eq!(
        demo.up.requests(),
        requests,
        "the upstream received nothing"
    );
    let url = demo.server.url("/v1/vendors/1");
    let read = call(&demo.http, M::GET, url, token, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
}

/// NetSuite: the access token expired, so the read renews it. The token
/// endpoint's exchange is shown with its signed assertion and the access
/// token it answered redacted (neither is a config secret); the REST
/// exchanges are those the simulator logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netsuite_shows_the_token_exchange_without_the_assertion_or_the_token() {
    let sim = Simulator::start("1234567").await.unwrap();
    let vendor = sim.insert("vendor", json!({"companyName": "Acme Supplies"}));
    let server = Server::start(&["netsuite"]);
    let http = http();
    let admin = server.admin_key();
    let cert = call(
        &http,
        M::GET,
        server.url("/v1/certificates/platform"),
        &admin,
        None,
    )
    .await;
    let certificate = cert.body["certificate"].as_str().unwrap();
    sim.register_certificate("platform-cert", "client-abc", certificate, full_role())
        .unwrap();
    let config = json!({"account_id": "1234567", "client_id": "client-abc",
        "certificate_id": "platform-cert", "base_url": sim.url()});
    let body = json!({"adapter": "netsuite", "config": config,
        "credentials": {"private_key": "platform"}});
    let created = call(
        &http,
        M::POST,
        server.url("/v1/connections"),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.body["token"].as_str().unwrap();

    sim.expire_tokens();
    let (rest, minted) = (sim.requests().len(), sim.token_requests());
    let url = server.url(&format!("/v1/vendors/{vendor}"));
    let read = call_with(&http, M::GET, url, token, None, INCLUDE).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(sim.token_requests(), minted + 1, "the token was renewed");
    let exchanges = read.body["upstream"]["exchanges"].as_array().unwrap();
    let (renewals, calls): (Vec<&Value>, Vec<&Value>) = exchanges
        .iter()
        .partition(|e| e["url"].as_str().unwrap().contains("/oauth2/"));
    let shown: Vec<String> = calls
        .iter()
        .map(|e| {
            let url = e["url"].as_str().unwrap().strip_prefix(&sim.url()).unwrap();
            format!("{} {url}", e["method"].as_str().unwrap())
        })
        .collect();
    assert_eq!(shown, sim.requests()[rest..], "{:#}", read.body);
    assert_eq!(calls[0]["status"], 401, "the expired token");
    assert_eq!(calls[1]["status"], 200);
    let [renewal] = renewals.as_slice() else {
        panic!("one renewal: {:#}", read.body)
    };
    assert_eq!(renewal["method"], "POST");
    assert_eq!(renewal["status"], 200);
    let form = renewal["request_body"].as_str().unwrap();
    assert!(form.contains("client_assertion=[redacted]"), "{form}");
    assert!(!form.contains("eyJ"), "no JWT: {form}");
    assert_eq!(renewal["response_body"]["access_token"], "[redacted]");
    let text = read.body.to_string();
    assert!(!text.contains("eyJ"), "no JWT anywhere: {text}");

    // The audit trail keeps bodies when the operator asks: not the
    // assertion, nor the access token the renewal answered (which the
    // connection's own `audit` tokens could otherwise read).
    let id = created.body["connection"]["id"].as_str().unwrap();
    let url = server.url(&format!("/v1/connections/{id}/audit"));
    let on = call(&http, M::PUT, url, &admin, Some(json!({"bodies": true}))).await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    sim.expire_tokens();
    let minted = sim.token_requests();
    let url = server.url(&format!("/v1/vendors/{vendor}"));
    let read = call(&http, M::GET, url, token, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(sim.token_requests(), minted + 1, "the token was renewed");
    let export = eventually(Duration::from_secs(10), "the renewal's bodies", || async {
        let url = server.url(&format!("/v1/audit/export?connection_id={id}"));
        let response = http.get(url).bearer_auth(&admin).send().await.unwrap();
        let text = response.text().await.unwrap();
        text.contains("client_assertion=").then_some(text)
    })
    .await;
    assert!(export.contains("client_assertion=[redacted]"), "{export}");
    assert!(
        export.contains(r#"\"access_token\":\"[redacted]\""#),
        "{export}"
    );
    assert!(!export.contains("eyJ"), "no JWT in the trail: {export}");
}
