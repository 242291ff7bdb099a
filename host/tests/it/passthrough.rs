//! Passthrough to the system's own API (`/v1/passthrough/{path}`) through
//! the real binary: the example adapter forwards to the demo upstream with
//! the connection's key; the host checks the token's scope, the path, the
//! adapter's declaration and the write budget, and the outbound policy
//! keeps a careless adapter (the hostile one) on its declared origins.

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use reqwest::{Method as M, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_get_and_a_post_reach_the_system_as_they_are() {
    let demo = Demo::example().await;

    let page = demo
        .call(M::GET, "/v1/passthrough/api/suppliers?limit=2", None)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // The system's own shape, not the unified model's.
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["hasMore"], true);
    let served = demo.up.pages_served("suppliers");
    assert_eq!(
        served.last().unwrap().query,
        "limit=2",
        "the query went along"
    );

    let writes = demo.up.writes();
    let created = demo
        .call(
            M::POST,
            "/v1/passthrough/api/suppliers",
            Some(json!({"displayName": "Through the wall", "email": "wall@example.com"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(demo.up.writes(), writes + 1);
    let id = created.body["id"]
        .as_u64()
        .expect("the system's own record");
    // The same supplier, as a unified vendor.
    let vendor = demo.call(M::GET, &format!("/v1/vendors/{id}"), None).await;
    assert_eq!(vendor.status, StatusCode::OK, "{}", vendor.body);
    assert_eq!(vendor.body["name"], "Through the wall");

    // The system's own errors come back as they are, not in the host's
    // error shape.
    let missing = demo
        .call(M::GET, "/v1/passthrough/api/suppliers/999999", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body["error"].get("request_id").is_none(),
        "{}",
        missing.body
    );
    assert!(
        missing.body.to_string().contains("999999"),
        "{}",
        missing.body
    );
}

#[tokio::test]
async fn secrets_and_the_clients_token_never_show() {
    let demo = Demo::example().await;
    let echoed = demo.call(M::GET, "/v1/passthrough/api/echo", None).await;
    assert_eq!(echoed.status, StatusCode::OK, "{}", echoed.body);
    let text = echoed.body.to_string();
    // The upstream saw the connection's key (it answered), and echoed it:
    // the host masked it on the way back.
    assert!(!text.contains("demo-key"), "{text}");
    assert_eq!(echoed.body["headers"]["authorization"], "Bearer [redacted]");
    // The client's own token was never forwarded.
    assert!(!text.contains("ilk_conn_"), "{text}");
}

#[tokio::test]
async fn the_scope_the_path_and_the_adapters_declaration_are_checked_first() {
    let demo = Demo::example().await;
    let requests = demo.up.requests();

    // A token without the `passthrough` scope.
    let connection = demo.connection_id().await;
    let issued = demo
        .issue_token(&connection, json!({"name": "reader", "scopes": ["read"]}))
        .await;
    let reader = issued.body["token"].as_str().unwrap();
    let refused = call(
        &demo.http,
        M::GET,
        demo.server.url("/v1/passthrough/api/suppliers"),
        reader,
        None,
    )
    .await;
    refused.assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(
        refused.body["error"]["details"]["required_scope"],
        "passthrough"
    );

    // Paths that could leave the system's base: `//host` (which an adapter
    // joining it to its base URL could read as another host) and `..`.
    // Sent raw: a client library resolves `..` itself before sending.
    for path in ["/api/../admin", "/api/%2e%2e/admin"] {
        let head = format!(
            "GET /v1/passthrough{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n",
            demo.token
        );
        raw_request(&demo.server.base, &head)
            .assert_error(StatusCode::BAD_REQUEST, "invalid_passthrough_path");
    }
    demo.call(M::GET, "/v1/passthrough//127.0.0.1:9/x", None)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_passthrough_path");
    assert_eq!(demo.up.requests(), requests, "nothing reached the system");

    // An adapter that does not declare passthrough (the example built for
    // contract 0.1.0).
    let old = Demo::start(
        Options::default(),
        ServerOptions {
            adapters: &["example-v0_1_0"],
            ..Default::default()
        },
    )
    .await;
    let before = old.up.requests();
    old.call(M::GET, "/v1/passthrough/api/suppliers", None)
        .await
        .assert_error(StatusCode::NOT_IMPLEMENTED, "passthrough_not_supported");
    assert_eq!(old.up.requests(), before);
}

#[tokio::test]
async fn passthrough_writes_are_taken_from_the_write_budget() {
    let demo = Demo::start(
        Options::default(),
        ServerOptions {
            adapters: &["example"],
            max_writes_per_minute: Some(1),
            ..Default::default()
        },
    )
    .await;
    let body = || Some(json!({"displayName": "Budgeted"}));
    let first = demo
        .call(M::POST, "/v1/passthrough/api/suppliers", body())
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let writes = demo.up.writes();
    let second = demo
        .call(M::POST, "/v1/passthrough/api/suppliers", body())
        .await;
    second.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(second.headers.contains_key("retry-after"));
    assert_eq!(demo.up.writes(), writes, "the refused write never left");
    // The same budget as the unified API's writes.
    demo.call(
        M::POST,
        "/v1/vendors",
        Some(json!({"name": "Also budgeted"})),
    )
    .await
    .assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Reads are not writes.
    let read = demo
        .call(M::GET, "/v1/passthrough/api/suppliers", None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
}

/// The hostile adapter's passthrough sends the connection's key to the URL
/// the path names. The outbound policy refuses every origin the adapter did
/// not declare: nothing reaches the other server.
#[tokio::test]
async fn a_passthrough_to_an_undeclared_origin_is_refused_before_it_leaves() {
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    let elsewhere = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    let server = Server::start(&["hostile"]);
    let http = crate::common::http();
    let connected = call(
        &http,
        M::POST,
        server.url("/v1/connections"),
        &server.admin_key(),
        Some(json!({"adapter": "hostile",
            "config": {"base_url": up.base_url(), "client_id": "client-7"},
            "credentials": {"api_key": "demo-key"}})),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let token = connected.body["token"].as_str().unwrap();

    // Its declared origin is served...
    let own = call(
        &http,
        M::GET,
        server.url(&format!("/v1/passthrough/{}/api/echo", up.base_url())),
        token,
        None,
    )
    .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    // ...another is not, and nothing is sent there.
    let refused = call(
        &http,
        M::GET,
        server.url(&format!(
            "/v1/passthrough/{}/api/echo",
            elsewhere.base_url()
        )),
        token,
        None,
    )
    .await;
    refused.assert_error(StatusCode::BAD_GATEWAY, "outbound_denied");
    assert_eq!(elsewhere.requests(), 0);
}

/// A request the recording system received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    /// The path with its query.
    target: String,
    headers: axum::http::HeaderMap,
    body: String,
}

/// A system that records every request and answers as a REST API does:
/// `GET /api/me` the account, a `PUT` 201 with `location` and `etag`, a
/// `PATCH` 200 with a newer `etag`, a `DELETE` 204; each answer also
/// carries a cookie and a header of its own, which stay with the host.
async fn recording_system() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use axum::http::{HeaderMap, Method, Uri};
    use axum::response::IntoResponse;
    let received: std::sync::Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
    let seen = received.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                if uri.path() == "/api/me" {
                    let me = json!({"accountId": "rec-1", "company": "Recorder",
                        "permissions": ["suppliers:read", "suppliers:write"]});
                    return axum::Json(me).into_response();
                }
                seen.lock().unwrap().push(Received {
                    method: method.to_string(),
                    target: uri.to_string(),
                    headers,
                    body,
                });
                let (status, etag, reply) = match method {
                    Method::PUT => (
                        StatusCode::CREATED,
                        "\"v1\"",
                        json!({"id": 77, "put": true}),
                    ),
                    Method::PATCH => (StatusCode::OK, "\"v2\"", json!({"id": 77, "patched": true})),
                    _ => (StatusCode::NO_CONTENT, "\"v3\"", json!(null)),
                };
                let headers = [
                    ("etag", etag),
                    ("location", "/api/suppliers/77"),
                    ("set-cookie", "session=upstream-secret"),
                    ("x-upstream-internal", "node-4"),
                ];
                if status == StatusCode::NO_CONTENT {
                    (status, headers).into_response()
                } else {
                    (status, headers, axum::Json(reply)).into_response()
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// `PUT`, `PATCH` and `DELETE` through passthrough reach the system with
/// their method, path, query, body, `content-type` and `if-match`, and the
/// connection's key; the system's status, body, `etag` and `location` come
/// back, its cookie and its own headers do not. Catches a host or adapter
/// that turns the method into another (a `POST`), drops the body, the query
/// or a conditional header, or that answers without the system's `etag` and
/// `location` (or with every header it sent).
#[tokio::test]
async fn a_put_a_patch_and_a_delete_reach_the_system_and_its_etag_and_location_come_back() {
    let (system, received) = recording_system().await;
    let server = Server::start(&["example"]);
    let http = crate::common::http();
    let (_, token) = connect_example(&http, &server, &system).await;
    let cases = [
        (
            M::PUT,
            "/api/suppliers/77?mode=replace",
            Some(json!({"displayName": "Put"})),
            201,
            "\"v1\"",
        ),
        (
            M::PATCH,
            "/api/suppliers/77",
            Some(json!({"displayName": "Patched"})),
            200,
            "\"v2\"",
        ),
        (M::DELETE, "/api/suppliers/77?hard=1", None, 204, "\"v3\""),
    ];
    for (n, (method, path, body, status, etag)) in cases.into_iter().enumerate() {
        let reply = call_with(
            &http,
            method.clone(),
            server.url(&format!("/v1/passthrough{path}")),
            &token,
            body.clone(),
            &[("if-match", "\"v0\""), ("x-client-only", "mine")],
        )
        .await;
        assert_eq!(reply.status.as_u16(), status, "{method} {}", reply.body);
        assert_eq!(reply.headers["etag"], etag, "{method}");
        assert_eq!(reply.headers["location"], "/api/suppliers/77", "{method}");
        assert!(
            !reply.headers.contains_key("set-cookie")
                && !reply.headers.contains_key("x-upstream-internal"),
            "{method}: {:?}",
            reply.headers
        );
        match method {
            M::PUT => assert_eq!(reply.body, json!({"id": 77, "put": true})),
            M::PATCH => assert_eq!(reply.body, json!({"id": 77, "patched": true})),
            _ => assert!(reply.body.is_null(), "{}", reply.body),
        }

        let got = received.lock().unwrap()[n].clone();
        assert_eq!(
            (got.method.as_str(), got.target.as_str()),
            (method.as_str(), path)
        );
        let sent: Option<serde_json::Value> =
            (!got.body.is_empty()).then(|| serde_json::from_str(&got.body).unwrap());
        assert_eq!(sent, body, "{method}: the body as the client sent it");
        assert_eq!(got.headers["if-match"], "\"v0\"", "{method}");
        assert_eq!(got.headers["authorization"], "Bearer demo-key", "{method}");
        assert!(!got.headers.contains_key("x-client-only"), "{method}");
        if body.is_some() {
            assert!(
                got.headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"),
                "{method}"
            );
        }
    }
    assert_eq!(received.lock().unwrap().len(), 3);
}
