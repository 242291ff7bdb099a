//! The host against hostile input, a hostile adapter (`tests/adapters/
//! hostile`) and greedy tenants, through the real binary: one test per
//! finding of the security review, each checking that the attack is refused
//! with a clear error and that another connection keeps being served.

use std::time::Duration;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

async fn upstream_on(addr: &str) -> DemoUpstream {
    DemoUpstream::start(addr.parse().unwrap(), Options::default())
        .await
        .unwrap()
}

async fn upstream() -> DemoUpstream {
    upstream_on("127.0.0.1:0").await
}

/// Connects `adapter` with `config` and `credentials`; answers the reply.
async fn connect(
    http: &reqwest::Client,
    server: &Server,
    adapter: &str,
    config: Value,
    credentials: Value,
) -> Reply {
    let body = json!({"adapter": adapter, "config": config, "credentials": credentials});
    call(
        http,
        M::POST,
        server.url("/v1/connections"),
        &server.admin_key(),
        Some(body),
    )
    .await
}

/// Connects the example adapter to `up`; answers its token.
async fn example(http: &reqwest::Client, server: &Server, up: &DemoUpstream) -> String {
    let reply = connect(
        http,
        server,
        "example",
        json!({"base_url": up.base_url()}),
        json!({"api_key": "demo-key"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_string()
}

/// Connects the hostile adapter to `up`; answers its token and id.
async fn hostile(http: &reqwest::Client, server: &Server, up: &DemoUpstream) -> (String, String) {
    let reply = connect(
        http,
        server,
        "hostile",
        json!({"base_url": up.base_url(), "client_id": "client-7"}),
        json!({"api_key": "demo-key", "note": "interlink:platform-key", "signing_key": "platform"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (
        reply.body["token"].as_str().unwrap().to_string(),
        reply.body["connection"]["id"].as_str().unwrap().to_string(),
    )
}

/// Another connection, on its own upstream, still gets its vendors.
async fn still_served(http: &reqwest::Client, server: &Server, token: &str) {
    let page = call(
        http,
        M::GET,
        server.url("/v1/vendors?page_size=1"),
        token,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

/// Before: `/v1/vendors/..%2F..%2Fadmin%2Fusers%2F1` reached
/// `/admin/users/1` upstream with the stored API key, and a DELETE of a
/// purchase order deleted a supplier. Before the second review, ids with
/// `?`, `#` or `%` (an encoded `..` once decoded by the system) reached
/// adapters too. Catches a check that lets any of them through: the
/// upstream's request count would change.
#[tokio::test]
async fn record_ids_that_are_paths_never_reach_an_adapter() {
    let (up, other) = (upstream().await, upstream().await);
    let server = Server::start(&["example", "hostile"]);
    let http = crate::common::http();
    let token = example(&http, &server, &up).await;
    let (hostile_token, _) = hostile(&http, &server, &up).await;
    let bystander = example(&http, &server, &other).await;
    let before = up.requests();

    for (method, path, token) in [
        (M::GET, "/v1/vendors/..%2F..%2Fadmin%2Fusers%2F1", &token),
        (M::PATCH, "/v1/vendors/..%2F..%2Fadmin%2Fusers%2F1", &token),
        (M::DELETE, "/v1/purchase-orders/..%2Fsuppliers%2F1", &token),
        (M::GET, "/v1/paths/..%2F..%2Fadmin", &hostile_token),
        (M::DELETE, "/v1/paths/1%2F..%2F2", &hostile_token),
        (M::GET, "/v1/paths/1%0D%0AHost:%20evil", &hostile_token),
        // Before the second review these reached the hostile adapter, which
        // joins ids into its URLs unencoded: `?` and `#` cut the path there,
        // and `%2e%2e` (sent as `%252e%252e`) is `..` to the system.
        (M::GET, "/v1/paths/7%3Fadmin=1", &hostile_token),
        (M::GET, "/v1/paths/7%23x", &hostile_token),
        (M::GET, "/v1/paths/%252e%252e", &hostile_token),
        (M::DELETE, "/v1/paths/1%252F..%252F2", &hostile_token),
        (M::GET, "/v1/vendors/..%252F..%252Fadmin", &token),
        (M::GET, "/v1/vendors/...", &token),
    ] {
        let body = (method == M::PATCH).then(|| json!({"name": "x"}));
        let reply = call(&http, method.clone(), server.url(path), token, body).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_record_id");
    }
    // `..` itself, as a client library would never send it.
    let head =
        format!("GET /v1/vendors/.. HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n");
    raw_request(&server.base, &head).assert_error(StatusCode::BAD_REQUEST, "invalid_record_id");
    assert_eq!(up.requests(), before, "no request reached the system");
    let supplier = call(&http, M::GET, server.url("/v1/vendors/1"), &token, None).await;
    assert_eq!(
        supplier.body["name"], "Acme Industrial Supply",
        "supplier 1 is still there"
    );

    still_served(&http, &server, &bystander).await;
}

/// Before: any token could subscribe a webhook to loopback, `[::1]` or the
/// cloud metadata address, and read back each attempt's status (a port
/// scanner); a connection's `base_url` could be any address.
#[tokio::test]
async fn loopback_link_local_and_private_addresses_are_refused_unless_allowed() {
    // Loopback is refused, except 127.0.0.2, where this test's upstream runs.
    let up = upstream_on("127.0.0.2:0").await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        refuse_loopback: true,
        args: &[
            "--adapter-allow-network",
            "example=127.0.0.2",
            "--webhook-allow-network",
            "127.0.0.2",
        ],
        ..Default::default()
    });
    let http = crate::common::http();
    let port = up.base_url().rsplit(':').next().unwrap().to_string();
    for base_url in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
        "http://169.254.169.254".to_string(),
        "http://10.0.0.1".to_string(),
    ] {
        let reply = connect(
            &http,
            &server,
            "example",
            json!({"base_url": base_url}),
            json!({"api_key": "demo-key"}),
        )
        .await;
        reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config");
        let refused = &reply.body["error"]["details"]["errors"][0];
        assert_eq!(
            refused["code"], "address_refused",
            "{base_url}: {}",
            reply.body
        );
        // The second review: a refusal named the address the host resolved
        // (`localhost: ::1 is a loopback address`).
        let message = refused["message"].as_str().unwrap();
        for resolved in ["127.0.0.1", "::1"] {
            assert!(
                base_url.contains(resolved) || !message.contains(resolved),
                "{base_url}: {message}"
            );
        }
    }

    let token = example(&http, &server, &up).await;
    still_served(&http, &server, &token).await;
    for target in [
        format!("{}/v1/connections", server.base),
        "http://[::1]:22/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://192.168.0.1/".to_string(),
    ] {
        let reply = call(
            &http,
            M::POST,
            server.url("/v1/webhooks"),
            &token,
            Some(json!({"url": target, "events": ["records.changed"]})),
        )
        .await;
        reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_subscription");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not one Interlink may connect to"),
            "{target}: {}",
            reply.body
        );
    }
    let allowed = call(
        &http,
        M::POST,
        server.url("/v1/webhooks"),
        &token,
        Some(json!({"url": format!("{}/hook", up.base_url()), "events": ["records.changed"]})),
    )
    .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.body);
}

/// Before: unlimited subscriptions per connection, and one slow batch (128
/// subscriptions at a tarpit) delayed another customer's delivery by 38 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_capped_and_a_slow_receiver_holds_up_no_one_else() {
    let (up_a, up_b) = (upstream().await, upstream().await);
    let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tarpit_url = format!("http://{}/hook", tarpit.local_addr().unwrap());
    let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Accepts, reads nothing, answers nothing: every attempt hangs.
        while let Ok((socket, _)) = tarpit.accept().await {
            let _ = held_tx.send(socket);
        }
    });
    let hook_b = receiver(0).await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        args: &[
            "--max-webhooks-per-connection",
            "4",
            "--webhook-timeout-ms",
            "60000",
        ],
        ..Default::default()
    });
    let http = crate::common::http();
    let (token_a, token_b) = (
        example(&http, &server, &up_a).await,
        example(&http, &server, &up_b).await,
    );
    let subscribe = |token: String, url: String| {
        let (http, endpoint) = (http.clone(), server.url("/v1/webhooks"));
        async move {
            let body = json!({"url": url, "events": ["records.changed"]});
            call(&http, M::POST, endpoint, &token, Some(body)).await
        }
    };
    for _ in 0..4 {
        assert_eq!(
            subscribe(token_a.clone(), tarpit_url.clone()).await.status,
            StatusCode::CREATED
        );
    }
    subscribe(token_a.clone(), tarpit_url.clone())
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_subscriptions");
    assert_eq!(
        subscribe(token_b.clone(), hook_b.url.clone()).await.status,
        StatusCode::CREATED
    );

    sync_once(&http, &server.base, &token_a, "vendors").await;
    let mut held = Vec::new();
    while held.len() < 4 {
        held.push(held_rx.recv().await.unwrap());
    }
    // A's four attempts now hang at the tarpit; B's event goes out anyway.
    sync_once(&http, &server.base, &token_b, "vendors").await;
    eventually(Duration::from_secs(30), "B's delivery", || async {
        (!hook_b.received.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    let subscriptions = call(&http, M::GET, server.url("/v1/webhooks"), &token_a, None).await;
    for s in subscriptions.body["subscriptions"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let deliveries = call(
            &http,
            M::GET,
            server.url(&format!("/v1/webhooks/{id}/deliveries")),
            &token_a,
            None,
        )
        .await;
        assert_eq!(
            deliveries.body["deliveries"][0]["attempts"],
            json!([]),
            "A's attempts were still hanging when B's event was delivered"
        );
    }
}

/// Before: `sign-jwt` signed any claims with the platform key, which every
/// connection shares, and a text secret whose value was the platform
/// marker unlocked that key.
#[tokio::test]
async fn the_host_signs_only_this_connections_assertions() {
    let (up, other) = (upstream().await, upstream().await);
    let server = Server::start(&["example", "hostile"]);
    let http = crate::common::http();
    let (token, _) = hostile(&http, &server, &up).await;
    let bystander = example(&http, &server, &other).await;
    let outcome = call(&http, M::GET, server.url("/v1/sign"), &token, None).await;
    assert_eq!(outcome.status, StatusCode::OK, "{}", outcome.body);
    let record = &outcome.body["data"][0];
    for (attempt, why) in [
        (
            "text_secret",
            "not one of the adapter's private-key config fields",
        ),
        ("other_issuer", "`iss`"),
        ("other_audience", "`aud`"),
    ] {
        let said = record[attempt].as_str().unwrap();
        assert!(
            said.starts_with("refused") && said.contains(why),
            "{attempt}: {said}"
        );
    }
    assert_eq!(record["own"], "signed", "{record}");
    still_served(&http, &server, &bystander).await;
}

/// Before: a 40 MiB error became a 41.9 MB response, log line and database
/// row; a million log calls wrote 3.3 GB of log; 200,000 records came back
/// for `page_size=1`.
#[tokio::test]
async fn what_an_adapter_answers_is_bounded() {
    let (up, other) = (upstream().await, upstream().await);
    let server = Server::start(&["example", "hostile"]);
    let http = crate::common::http();
    let (token, id) = hostile(&http, &server, &up).await;
    let bystander = example(&http, &server, &other).await;

    let failed = call(&http, M::GET, server.url("/v1/huge-error"), &token, None).await;
    failed.assert_error(StatusCode::BAD_GATEWAY, "upstream_error");
    assert!(
        failed.body.to_string().len() < 2048,
        "{} bytes",
        failed.body.to_string().len()
    );
    let connection = call(
        &http,
        M::GET,
        server.url(&format!("/v1/connections/{id}")),
        &server.admin_key(),
        None,
    )
    .await;
    let recorded = connection.body["last_error"]["message"].as_str().unwrap();
    assert!(recorded.len() < 1100, "{} bytes recorded", recorded.len());

    call(
        &http,
        M::GET,
        server.url("/v1/too-many?page_size=1"),
        &token,
        None,
    )
    .await
    .assert_error(StatusCode::BAD_GATEWAY, "adapter_invalid_output");

    let flooded = call(&http, M::GET, server.url("/v1/log-flood"), &token, None).await;
    assert_eq!(flooded.status, StatusCode::OK, "{}", flooded.body);
    let logs = eventually(
        Duration::from_secs(10),
        "the dropped-lines warning",
        || async {
            let logs = server.logs();
            logs.contains("the rest were dropped").then_some(logs)
        },
    )
    .await;
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("adapter: flood"))
        .collect();
    assert_eq!(lines.len(), 200, "at most 200 lines a call");
    assert!(
        lines.iter().all(|l| l.contains("flood\\n2026")),
        "line breaks are escaped"
    );
    assert!(
        !logs
            .lines()
            .any(|l| l.starts_with("2026-11-29T00:00:00.000000Z")),
        "no forged line"
    );
    assert!(logs.contains("dropped=999800"));
    still_served(&http, &server, &bystander).await;
}

/// Before: a crafted manifest took 92 s of validation outside any deadline,
/// an endless `describe` held the load lock for 30 s, and a restart with
/// such files did not listen for 153 s.
#[tokio::test]
async fn loading_is_bounded_and_the_host_answers_while_it_loads() {
    let up = upstream().await;
    let server = Server::start_with(ServerOptions {
        adapters: &[
            "example",
            "hostile",
            "hostile-describe-loops",
            "hostile-huge-manifest",
        ],
        no_wait: true,
        ..Default::default()
    });
    let http = crate::common::http();
    let starting = call(&http, M::GET, server.url("/healthz"), "", None).await;
    starting.assert_error(StatusCode::SERVICE_UNAVAILABLE, "starting");
    wait_ready(&server.base);

    let admin = server.admin_key();
    let adapters = call(&http, M::GET, server.url("/v1/adapters"), &admin, None).await;
    let errors = adapters.body["load_errors"].as_array().unwrap();
    let error_of = |file: &str| {
        errors
            .iter()
            .find(|e| e["file"] == file)
            .and_then(|e| e["error"].as_str())
            .unwrap_or_else(|| panic!("{file} has no load error: {}", adapters.body))
            .to_string()
    };
    assert!(error_of("hostile-describe-loops.wasm").contains("did not finish within 5s"));
    assert!(error_of("hostile-huge-manifest.wasm").contains("more entities than the host takes"));
    let detail = call(
        &http,
        M::GET,
        server.url("/v1/adapters/hostile"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        detail.body["manifest"]["description"], "kv: refused, http: refused",
        "imports do nothing while an adapter describes itself"
    );
    let token = example(&http, &server, &up).await;
    still_served(&http, &server, &token).await;
}

/// Before: the data folder and database were world-readable, an adapter
/// could set `Host`, secret headers went to any allowed origin, and an
/// upstream that reflects headers handed the secret back to the adapter.
#[tokio::test]
async fn files_are_private_and_secrets_go_only_where_they_belong() {
    let (up, other) = (upstream().await, upstream().await);
    let server = Server::start(&["example", "hostile"]);
    let http = crate::common::http();
    let (token, _) = hostile(&http, &server, &up).await;
    let bystander = example(&http, &server, &other).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(server.data_dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(""), 0o700);
        for file in [
            "interlink.db",
            "interlink.db-wal",
            "admin.key",
            "secret.key",
            "platform-key.pem",
        ] {
            assert_eq!(mode(file), 0o600, "{file}");
        }
    }

    let host = call(&http, M::GET, server.url("/v1/host-header"), &token, None).await;
    assert_eq!(host.body["data"][0]["sent"], false);
    assert!(
        host.body["data"][0]["error"]
            .as_str()
            .unwrap()
            .contains("sets `Host` itself")
    );

    let reflected = call(&http, M::GET, server.url("/v1/reflect"), &token, None).await;
    assert_eq!(reflected.status, StatusCode::OK, "{}", reflected.body);
    let echoed = reflected.body["data"][0]["echoed"]["headers"]["authorization"]
        .as_str()
        .unwrap();
    assert_eq!(
        echoed, "Bearer [redacted]",
        "the adapter never reads the key"
    );

    let fixed = call(&http, M::GET, server.url("/v1/fixed-origin"), &token, None).await;
    assert_eq!(fixed.body["data"][0]["sent"], false);
    assert!(
        fixed.body["data"][0]["error"]
            .as_str()
            .unwrap()
            .contains("origins its config names")
    );
    still_served(&http, &server, &bystander).await;
}

/// Before: a request the host refused to send (a host outside the adapter's
/// outbound hosts) reached the client as 502 `upstream_error`, as if the
/// system had failed.
#[tokio::test]
async fn an_outbound_request_the_host_refuses_is_its_own_error() {
    let (up, other) = (upstream().await, upstream().await);
    let server = Server::start(&["example", "chaos"]);
    let http = crate::common::http();
    let bystander = example(&http, &server, &up).await;
    let reply = connect(
        &http,
        &server,
        "chaos",
        json!({"base_url": up.base_url(), "account_id": "a1",
            "other_url": format!("{}/api/me", other.base_url())}),
        json!({}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let token = reply.body["token"].as_str().unwrap();

    let refused = call(&http, M::GET, server.url("/v1/escape"), token, None).await;
    refused.assert_error(StatusCode::BAD_GATEWAY, "outbound_denied");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&other.base_url()) && message.contains("outbound hosts"),
        "{message}"
    );
    assert_eq!(other.requests(), 0, "nothing reached the other host");
    let served = call(&http, M::GET, server.url("/v1/echo"), token, None).await;
    assert_eq!(
        served.status,
        StatusCode::OK,
        "the next call is not tainted"
    );
    still_served(&http, &server, &bystander).await;
}

/// See [`kv_flood::a_kv_flood_is_bounded`]; on PostgreSQL in `postgres.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_flood_leaves_at_most_the_quota_and_a_disconnect_leaves_nothing() {
    kv_flood::a_kv_flood_is_bounded(None).await;
}
