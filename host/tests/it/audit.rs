//! The audit trail through the binary: what a write leaves (its decision,
//! the upstream request, the credential it used, linked by request id),
//! what a refused write leaves (the rule, and no upstream request), that no
//! form of a secret is kept, who may read which entries, the export, the
//! retention, and `Server-Timing`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// The connection's API key: long, and with characters that URL-encoding
/// and base64 change.
const SECRET: &str = "sk_live/4f9Zq+audit=secret&value";

/// Every form of `secret` that must not be kept.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        STANDARD.encode(secret),
        URL_SAFE.encode(secret),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ]
}

/// A host with the example adapter on a demo upstream whose key is
/// `SECRET`, with `args`; answers the demo, the connection's id and token.
async fn start(args: &'static [&'static str]) -> (Demo, String) {
    Demo::with_key(SECRET, args).await
}

/// Connects the example adapter to the upstream at `base_url` with the key
/// `SECRET`; answers the connection's id and token.
async fn connect(http: &reqwest::Client, server: &Server, base_url: &str) -> (String, String) {
    connect_demo_with_key(http, server, "example", base_url, SECRET).await
}

/// `GET /v1/audit?<query>` with `bearer`.
async fn audit(demo: &Demo, bearer: &str, query: &str) -> Reply {
    let url = demo.server.url(&format!("/v1/audit?{query}"));
    call(&demo.http, M::GET, url, bearer, None).await
}

/// The entries of request `id` once every kind in `kinds` is among them.
async fn entries_of(demo: &Demo, id: &str, kinds: &[&str]) -> Vec<Value> {
    let admin = demo.server.admin_key();
    eventually(
        Duration::from_secs(10),
        "the request's audit entries",
        || {
            let admin = admin.clone();
            async move {
                let reply = audit(demo, &admin, &format!("request_id={id}")).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                let entries = reply.body["entries"].as_array().unwrap().clone();
                kinds
                    .iter()
                    .all(|k| entries.iter().any(|e| e["kind"] == *k))
                    .then_some(entries)
            }
        },
    )
    .await
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

/// The `Server-Timing` metrics of a reply, by name, in milliseconds.
fn server_timing(reply: &Reply) -> Vec<(String, f64)> {
    let header = reply
        .headers
        .get("server-timing")
        .expect("a data-plane answer carries Server-Timing")
        .to_str()
        .unwrap();
    header
        .split(',')
        .map(|metric| {
            let (name, duration) = metric.trim().split_once(";dur=").expect("name;dur=ms");
            (name.to_string(), duration.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_write_leaves_its_decision_its_upstream_request_and_the_credential_it_used() {
    let (demo, connection) = start(&[]).await;
    let admin = demo.server.admin_key();
    let kept = call(
        &demo.http,
        M::PUT,
        demo.server
            .url(&format!("/v1/connections/{connection}/audit")),
        &admin,
        Some(json!({"bodies": true})),
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["audit_bodies"], true);

    // The secret in every form, in the record: it reaches the upstream in
    // the request's body and comes back in its answer.
    let name = forms(SECRET).join(" ");
    let written = demo
        .call(M::POST, "/v1/vendors", Some(json!({"name": name})))
        .await;
    assert_eq!(written.status, StatusCode::CREATED, "{}", written.body);
    let timing = server_timing(&written);
    let names: Vec<&str> = timing.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "host",
            "guest",
            "upstream",
            "instantiate",
            "db",
            "auth",
            "admission",
            "encode",
            "total"
        ]
    );
    let (upstream, total) = (timing[2].1, timing[8].1);
    assert!(upstream > 0.0 && upstream < total, "{timing:?}");

    let entries = entries_of(
        &demo,
        &written.request_id,
        &["write", "call", "upstream", "credential"],
    )
    .await;
    for entry in &entries {
        assert_eq!(entry["connection_id"], connection.as_str(), "{entry}");
        assert!(
            entry["actor"].as_str().unwrap().starts_with("token:tok_"),
            "{entry}"
        );
        assert_eq!(entry["token_id"], entry["actor"].as_str().unwrap()[6..]);
    }
    let decision = of_kind(&entries, "write");
    assert_eq!(decision.len(), 1, "{entries:?}");
    assert_eq!(decision[0]["action"], "create vendors");
    assert_eq!(decision[0]["outcome"], "ok");
    assert_eq!(decision[0]["detail"]["decision"], "accepted");
    let sent = of_kind(&entries, "upstream");
    assert_eq!(sent.len(), 1, "{entries:?}");
    assert_eq!(sent[0]["detail"]["method"], "POST");
    assert_eq!(sent[0]["detail"]["origin"], demo.up.base_url());
    assert_eq!(sent[0]["detail"]["status"], 201, "{}", sent[0]);
    assert!(
        sent[0]["detail"]["request_body"]
            .as_str()
            .unwrap()
            .contains("[redacted]")
    );
    assert!(
        sent[0]["detail"]["response_body"]
            .as_str()
            .unwrap()
            .contains("[redacted]")
    );
    let used = of_kind(&entries, "credential");
    assert_eq!(used[0]["action"], "secret api_key");
    assert_eq!(used[0]["detail"]["header"], "Authorization");

    // A write the rules refuse: its decision names the rule; nothing was
    // sent, so no call, upstream request or credential use.
    let refused = demo
        .call(
            M::POST,
            "/v1/vendors",
            Some(json!({"id": "9", "name": "x"})),
        )
        .await;
    refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "field_read_only");
    let entries = entries_of(&demo, &refused.request_id, &["write"]).await;
    assert_eq!(entries.len(), 1, "only the decision: {entries:?}");
    assert_eq!(entries[0]["outcome"], "refused");
    assert_eq!(entries[0]["detail"]["rule"], "field_read_only");

    // The operator's actions are there too.
    let made = audit(&demo, &admin, "kind=admin").await;
    let actions: Vec<&str> = made.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["connection.audit_settings", "connection.created"]);

    // No form of the secret anywhere in the trail: the export holds every
    // column of every entry.
    let export = demo
        .http
        .get(demo.server.url("/v1/audit/export"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(export.headers()["content-type"], "application/jsonl");
    let text = export.text().await.unwrap();
    for form in forms(SECRET) {
        assert!(!text.contains(&form), "`{form}` is in the trail:\n{text}");
    }

    // The export round-trips: its lines are the list's entries, oldest
    // first.
    let exported: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut listed = audit(&demo, &admin, "limit=1000").await.body["entries"]
        .as_array()
        .unwrap()
        .clone();
    listed.reverse();
    assert_eq!(exported, listed);
    assert_eq!(
        exported.len(),
        7,
        "two admin actions, five entries of the write, the refusal"
    );
}

#[tokio::test]
async fn a_token_reads_only_its_own_connections_trail_and_only_with_the_audit_scope() {
    let (demo, connection) = start(&[]).await;
    let (other, other_token) = connect(&demo.http, &demo.server, &demo.up.base_url()).await;
    let mine = demo.call(M::GET, "/v1/vendors", None).await;
    assert_eq!(mine.status, StatusCode::OK);
    let theirs = call(
        &demo.http,
        M::GET,
        demo.server.url("/v1/vendors"),
        &other_token,
        None,
    )
    .await;
    assert_eq!(theirs.status, StatusCode::OK);
    entries_of(&demo, &theirs.request_id, &["call"]).await;

    // The token made at connect holds `audit`: its own entries only, even
    // when it asks for another connection's.
    for query in ["limit=1000".to_string(), format!("connection_id={other}")] {
        let seen = audit(&demo, &demo.token, &query).await;
        assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
        let entries = seen.body["entries"].as_array().unwrap();
        assert!(!entries.is_empty());
        assert!(
            entries
                .iter()
                .all(|e| e["connection_id"] == connection.as_str()),
            "{entries:?}"
        );
        assert!(
            !entries
                .iter()
                .any(|e| e["request_id"] == theirs.request_id.as_str())
        );
    }

    // A write through the passthrough door leaves its decision too; the
    // trail keeps its path, not its query.
    let through = demo
        .call(
            M::POST,
            "/v1/passthrough/api/suppliers?note=kept-out",
            Some(json!({"displayName": "Through the wall", "email": "wall@example.com"})),
        )
        .await;
    assert_eq!(through.status, StatusCode::CREATED, "{}", through.body);
    let entries = entries_of(&demo, &through.request_id, &["write", "call", "upstream"]).await;
    let decision = of_kind(&entries, "write");
    assert_eq!(
        decision[0]["action"], "passthrough POST /api/suppliers",
        "{entries:?}"
    );
    assert_eq!(decision[0]["outcome"], "ok");
    assert!(!format!("{entries:?}").contains("kept-out"), "{entries:?}");

    // A token without `audit` is refused.
    let issued = demo
        .issue_token(&connection, json!({"name": "reader", "scopes": ["read"]}))
        .await;
    let reader = issued.body["token"].as_str().unwrap();
    audit(&demo, reader, "")
        .await
        .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    let url = demo.server.url("/v1/audit/export");
    call(&demo.http, M::GET, url, reader, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");

    // Pages: newest first, each cursor to the older ones.
    let admin = demo.server.admin_key();
    let first = audit(&demo, &admin, "limit=2").await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = audit(&demo, &admin, &format!("limit=2&cursor={cursor}")).await;
    let seq = |reply: &Reply, i: usize| reply.body["entries"][i]["seq"].as_u64().unwrap();
    assert!(seq(&first, 0) > seq(&first, 1) && seq(&first, 1) > seq(&second, 0));
    audit(&demo, &admin, "cursor=nope")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    audit(&demo, &admin, "from=yesterday")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test]
async fn entries_past_the_retention_are_purged_and_an_operator_can_turn_the_trail_off() {
    let (demo, _) = start(&["--audit-retention", "2s"]).await;
    let read = demo.call(M::GET, "/v1/vendors", None).await;
    entries_of(&demo, &read.request_id, &["call", "upstream"]).await;
    let admin = demo.server.admin_key();
    let query = format!("request_id={}", read.request_id);
    eventually(Duration::from_secs(15), "the purge of the entries", || {
        let (admin, query, demo) = (admin.clone(), query.clone(), &demo);
        async move {
            let left = audit(demo, &admin, &query).await;
            left.body["entries"]
                .as_array()
                .unwrap()
                .is_empty()
                .then_some(())
        }
    })
    .await;

    let (off, _) = start(&["--audit-log", "off"]).await;
    let read = off.call(M::GET, "/v1/vendors", None).await;
    assert_eq!(read.status, StatusCode::OK);
    // Server-Timing does not depend on the trail.
    assert!(read.headers.contains_key("server-timing"));
    let admin = off.server.admin_key();
    let seen = audit(&off, &admin, "").await;
    assert_eq!(seen.body["entries"], json!([]), "{}", seen.body);
}
