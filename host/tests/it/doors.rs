//! Every door keeps the guard's promise: the findings of the second
//! security review, one test each, through the real binary over HTTP. The
//! doors added after the unified data path (passthrough, the connect page,
//! webhooks, sync status) went around its guard; each test here says what
//! was reproduced before the fix, and so what broken implementation it
//! catches. `docs/security.md` lists them under "What is tested".

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

/// Every client of these tests gives up on a request after this long.
const DEADLINE: Duration = Duration::from_secs(30);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

async fn upstream() -> DemoUpstream {
    DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap()
}

/// A server on loopback that answers every request with `status` and
/// `body`, counting requests: an internal service a customer could point a
/// connection at.
async fn internal_service(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::from_u16(status).unwrap(), body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

/// `POST /v1/webhooks` for `url` with `token`.
async fn subscribe_to(http: &reqwest::Client, server: &Server, token: &str, url: &str) -> Reply {
    call(
        http,
        M::POST,
        server.url("/v1/webhooks"),
        token,
        Some(json!({"url": url, "events": ["records.changed"]})),
    )
    .await
}

/// Before: one `--outbound-allow-network` governed adapters, webhooks and
/// the connect-time check, so the private network opened for one
/// customer's system was open to every tenant's webhooks: a token
/// subscribed the host's own admin API. Catches a webhook policy that
/// inherits the adapters' grants, and a grant that reaches adapters it
/// does not name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_granted_to_one_adapter_is_not_opened_to_webhooks_or_other_adapters() {
    let up = upstream().await;
    let hook = receiver(0).await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example", "hostile"],
        refuse_loopback: true,
        args: &["--adapter-allow-network", "example=127.0.0.0/8"],
        ..Default::default()
    });
    let http = http();
    let (_, token) = connect_example(&http, &server, &up.base_url()).await;
    let vendors = call(&http, M::GET, server.url("/v1/vendors"), &token, None).await;
    assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.body);

    for url in [format!("{}/v1/connections", server.base), hook.url.clone()] {
        let refused = subscribe_to(&http, &server, &token, &url).await;
        refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_subscription");
    }
    let other_adapter = call(
        &http,
        M::POST,
        server.url("/v1/connections"),
        &server.admin_key(),
        Some(json!({"adapter": "hostile",
            "config": {"base_url": up.base_url(), "client_id": "client-7"},
            "credentials": {"api_key": "demo-key"}})),
    )
    .await;
    other_adapter.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
    assert_eq!(
        other_adapter.body["error"]["details"]["errors"][0]["code"],
        "address_refused"
    );
    assert!(hook.received.lock().unwrap().is_empty());
}

/// The deprecated flag keeps working for adapters, says so in the log,
/// and no longer opens its networks to webhook receivers. Catches the old
/// flag still reaching the webhooks' policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deprecated_flag_lets_adapters_through_and_no_longer_webhooks() {
    let up = upstream().await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        refuse_loopback: true,
        args: &["--outbound-allow-network", "127.0.0.0/8"],
        ..Default::default()
    });
    let http = http();
    let (_, token) = connect_example(&http, &server, &up.base_url()).await;
    let admin_api = format!("{}/v1/connections", server.base);
    subscribe_to(&http, &server, &token, &admin_api)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_subscription");
    let log = std::fs::read_to_string(server.data_dir.join("interlink.log")).unwrap();
    assert!(
        log.contains("--outbound-allow-network is deprecated")
            && log.contains("--adapter-allow-network ADAPTER=NETWORK"),
        "{log}"
    );
}

/// Before: passthrough refused `..` and `%2e%2e` only, and `.%2e` is `..`
/// to the URL standard: `DELETE /v1/passthrough/x/.%2e/.%2e/admin/secrets`
/// answered 200 and the upstream got `DELETE /admin/secrets` with the
/// connection's key. Catches a path check that compares spellings instead
/// of decoding. Sent raw: a client library resolves dot segments itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_dot_segments_and_encoded_separators_are_refused_in_any_spelling() {
    let demo = Demo::example().await;
    let before = demo.up.requests();
    for path in [
        "/x/.%2e/.%2e/admin/secrets",
        "/x/%2e./%2E./admin/secrets",
        "/api/./suppliers",
        "/api/%2e/suppliers",
        "/api%2fsuppliers",
        "/api/suppliers%5c1",
        "/api/suppliers;%3bx",
    ] {
        let head = format!(
            "DELETE /v1/passthrough{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n",
            demo.token
        );
        raw_request(&demo.server.base, &head)
            .assert_error(StatusCode::BAD_REQUEST, "invalid_passthrough_path");
    }
    assert_eq!(demo.up.requests(), before, "nothing reached the system");
}

/// A passthrough request the adapter sends must stay under the path of the
/// connection's base URL, as the URL standard resolves it, whatever the
/// adapter made of the client's path. The hostile adapter sends to the URL
/// the path names. Catches a host that checks only the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_request_stays_under_the_base_url_path() {
    let up = upstream().await;
    let server = Server::start(&["hostile"]);
    let http = http();
    let base = format!("{}/api", up.base_url());
    let connected = call(
        &http,
        M::POST,
        server.url("/v1/connections"),
        &server.admin_key(),
        Some(json!({"adapter": "hostile",
            "config": {"base_url": base, "client_id": "client-7"},
            "credentials": {"api_key": "demo-key"}})),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let token = connected.body["token"].as_str().unwrap();
    let inside = format!("/v1/passthrough/{}/api/suppliers", up.base_url());
    let served = call(&http, M::GET, server.url(&inside), token, None).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);
    let before = up.requests();
    let outside = format!("/v1/passthrough/{}/admin/secrets", up.base_url());
    call(&http, M::DELETE, server.url(&outside), token, None)
        .await
        .assert_error(StatusCode::BAD_GATEWAY, "outbound_denied");
    assert_eq!(up.requests(), before, "nothing left the host");
}

/// Before: passthrough ignored `Prefer: dry-run`, and a rehearsed DELETE
/// went out. Catches a passthrough that sends what a dry run asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_passthrough_write_is_refused_and_nothing_is_sent() {
    let demo = Demo::example().await;
    let (requests, writes) = (demo.up.requests(), demo.up.writes());
    let prefer = [("prefer", "dry-run")];
    for method in [M::DELETE, M::POST, M::PATCH, M::PUT] {
        let url = demo.server.url("/v1/passthrough/api/suppliers/1");
        let body = (method != M::DELETE).then(|| json!({"displayName": "x"}));
        call_with(&demo.http, method, url, &demo.token, body, &prefer)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "dry_run_unsupported");
    }
    assert_eq!(
        (demo.up.requests(), demo.up.writes()),
        (requests, writes),
        "nothing was sent"
    );
    let url = demo.server.url("/v1/passthrough/api/suppliers/1");
    let read = call_with(&demo.http, M::GET, url, &demo.token, None, &prefer).await;
    assert_eq!(read.status, StatusCode::OK, "reads are sent: {}", read.body);
}

/// A connect link made through the API; answers its URL and session id.
async fn connect_link(http: &reqwest::Client, server: &Server, body: Value) -> (String, String) {
    let created = call(
        http,
        M::POST,
        server.url("/v1/connect-sessions"),
        &server.admin_key(),
        Some(body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (
        created.body["url"].as_str().unwrap().to_string(),
        created.body["session"]["id"].as_str().unwrap().to_string(),
    )
}

/// Submits the example adapter's connect form at `link`; answers the status
/// and the page.
async fn submit(http: &reqwest::Client, link: &str, base_url: &str) -> (StatusCode, String) {
    let form = reqwest::multipart::Form::new()
        .text("base_url", base_url.to_string())
        .text("api_key", "demo-key");
    let reply = http.post(link).multipart(form).send().await.unwrap();
    (reply.status(), reply.text().await.unwrap())
}

/// Before: the connect page relayed what answered at the address the link
/// holder typed: `base_url=http://127.0.0.1:1/` said "Connection refused"
/// (a port scanner), another port showed the internal service's body, and
/// a link took attempts without end. Catches a page that shows a system's
/// or the network's words, and a link with no attempt limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_page_relays_nothing_it_reached_and_locks_after_ten_failures() {
    let (page_200, _) = internal_service(200, "INTERNAL-STATUS-PAGE {not json").await;
    let (page_401, hits_401) = internal_service(401, "INTERNAL-401-BODY realm=corp").await;
    let server = Server::start(&["example"]);
    let http = http();
    let (link, session) = connect_link(&http, &server, json!({"adapter": "example"})).await;

    let unreachable = submit(&http, &link, "http://127.0.0.1:1").await;
    assert_eq!(unreachable.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unreachable.1.contains("could not be reached"),
        "{}",
        unreachable.1
    );
    let internal = submit(&http, &link, &page_200).await;
    let refused = submit(&http, &link, &page_401).await;
    assert!(
        refused.1.contains("did not accept these credentials"),
        "{}",
        refused.1
    );
    for (status, page) in [&unreachable, &internal, &refused] {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
        for relayed in [
            "INTERNAL-",
            "realm",
            "os error",
            "Connection refused",
            "tcp",
        ] {
            assert!(!page.contains(relayed), "{relayed}: {page}");
        }
    }
    let log = std::fs::read_to_string(server.data_dir.join("interlink.log")).unwrap();
    assert!(log.contains(&session), "the log keeps the detail: {log}");

    for _ in 3..10 {
        let (status, _) = submit(&http, &link, &page_401).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let attempts = hits_401.load(Ordering::SeqCst);
    let (status, page) = submit(&http, &link, &page_401).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("This link is locked"), "{page}");
    assert_eq!(
        hits_401.load(Ordering::SeqCst),
        attempts,
        "a locked link reaches nothing"
    );
    let view = call(
        &http,
        M::GET,
        server.url(&format!("/v1/connect-sessions/{session}")),
        &server.admin_key(),
        None,
    )
    .await;
    assert_eq!(view.body["failed_attempts"], 10, "{}", view.body);
}

/// Before: the connect page showed a database error, as the database said
/// it, to an unauthenticated link holder. The test takes a table away
/// under the running host. Catches a page that prints an error it does not
/// know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_page_shows_no_database_error() {
    use sqlx::ConnectOptions;
    let up = upstream().await;
    let server = Server::start(&["example"]);
    let http = http();
    let (link, _) = connect_link(&http, &server, json!({"adapter": "example"})).await;
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(server.data_dir.join("interlink.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query("ALTER TABLE connections RENAME TO connections_gone")
        .execute(&mut db)
        .await
        .unwrap();
    let (status, page) = submit(&http, &link, &up.base_url()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("Something went wrong on our side"), "{page}");
    for leaked in ["no such table", "connections", "sqlite", "database"] {
        assert!(!page.to_lowercase().contains(leaked), "{leaked}: {page}");
    }
}

/// Before: a token limited to `vendors:read` saw the ids and counts of
/// every entity through `records.changed` deliveries and `/v1/sync-status`.
/// Catches deliveries queued for a subscriber that may not read the entity,
/// and sync routes that show entities the token may not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_sync_status_carry_only_entities_the_token_may_read() {
    let demo = Demo::example().await;
    let connection = demo.connection_id().await;
    let issued = demo
        .issue_token(
            &connection,
            json!({"name": "vendors", "scopes": ["vendors:read", "webhooks", "syncs"]}),
        )
        .await;
    let limited = issued.body["token"].as_str().unwrap().to_string();
    let (narrow, wide) = (receiver(0).await, receiver(0).await);
    let base = &demo.server.base;
    let narrow_id = subscribe(
        &demo.http,
        base,
        &limited,
        &narrow.url,
        &["records.changed"],
    )
    .await;
    let wide_id = subscribe(
        &demo.http,
        base,
        &demo.token,
        &wide.url,
        &["records.changed"],
    )
    .await;

    for entity in ["vendors", "items"] {
        let run = sync_once(&demo.http, base, &demo.token, entity).await;
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    let events = |received: &Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>| {
        received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap()["entity"].clone())
            .collect::<Vec<_>>()
    };
    eventually(DEADLINE, "both events at the wide receiver", || async {
        (events(&wide.received).len() == 2).then_some(())
    })
    .await;
    eventually(
        DEADLINE,
        "the vendors event at the narrow receiver",
        || async { (!events(&narrow.received).is_empty()).then_some(()) },
    )
    .await;
    // Deliveries are queued for every subscription at once: what was not
    // queued for the narrow one will never come.
    let queued = call(
        &demo.http,
        M::GET,
        demo.server
            .url(&format!("/v1/webhooks/{narrow_id}/deliveries")),
        &demo.token,
        None,
    )
    .await;
    let entities: Vec<&Value> = queued.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["payload"]["entity"])
        .collect();
    assert_eq!(entities, [&json!("vendors")], "{}", queued.body);
    assert_eq!(events(&narrow.received), [json!("vendors")]);

    // The wide subscription's deliveries, as the limited token lists them.
    let listed = call(
        &demo.http,
        M::GET,
        demo.server
            .url(&format!("/v1/webhooks/{wide_id}/deliveries")),
        &limited,
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let shown: Vec<&Value> = listed.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["payload"]["entity"])
        .collect();
    assert_eq!(shown, [&json!("vendors")], "{}", listed.body);

    let status = call(
        &demo.http,
        M::GET,
        demo.server.url("/v1/sync-status"),
        &limited,
        None,
    )
    .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    for list in ["schedules", "runs"] {
        let entities: Vec<&Value> = status.body[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["entity"])
            .collect();
        assert_eq!(entities, [&json!("vendors")], "{list}: {}", status.body);
    }
    call(
        &demo.http,
        M::POST,
        demo.server.url("/v1/syncs/items/run"),
        &limited,
        None,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
}
