//! The one data path through the real binary: what is stored and by whom,
//! fairness between connections, and the connection cache's promise that a
//! disconnect is seen by the very next request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};

async fn upstream() -> DemoUpstream {
    DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap()
}

/// Connects the example adapter to `up`; answers (id, token).
async fn connect(http: &reqwest::Client, server: &Server, up: &DemoUpstream) -> (String, String) {
    connect_example(http, server, &up.base_url()).await
}

/// Before: a live read upserted what it returned into the stored records,
/// so the next sync run found the changed record already stored and
/// counted it unchanged, and no `records.changed` event reported it. Live
/// reads now pass through; syncs are the only writer of stored records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_read_live_after_it_changed_is_reported_changed_by_the_next_sync() {
    let up = upstream().await;
    let hook = receiver(0).await;
    let server = Server::start(&["example"]);
    let http = crate::common::http();
    let (_, token) = connect(&http, &server, &up).await;
    subscribe(&http, &server.base, &token, &hook.url, &["records.changed"]).await;

    let first = sync_once(&http, &server.base, &token, "vendors").await;
    assert_eq!(first["added"], 3, "{first}");

    up.modify(
        "suppliers",
        2,
        json!({"displayName": "Nordic Fasteners, renamed"}),
    );
    let live = call(&http, M::GET, server.url("/v1/vendors/2"), &token, None).await;
    assert_eq!(live.body["name"], "Nordic Fasteners, renamed");

    let run = call(
        &http,
        M::POST,
        server.url("/v1/syncs/vendors/run"),
        &token,
        None,
    )
    .await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    let run_id = run.body["id"].as_str().unwrap().to_string();
    let second = eventually(Duration::from_secs(30), "the second run", || async {
        let status = call(&http, M::GET, server.url("/v1/sync-status"), &token, None).await;
        status.body["runs"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == run_id.as_str() && r["status"] == "succeeded")
            .cloned()
    })
    .await;
    assert_eq!(
        (second["added"].as_u64(), second["updated"].as_u64()),
        (Some(0), Some(1)),
        "{second}"
    );
    let events: Vec<Value> = eventually(Duration::from_secs(30), "two events", || async {
        let received = hook.received.lock().unwrap();
        (received.len() >= 2).then(|| {
            received
                .iter()
                .map(|(_, body)| serde_json::from_str(body).unwrap())
                .collect()
        })
    })
    .await;
    let change = events
        .iter()
        .find(|e| e["run_id"] == run_id.as_str())
        .expect("the run's event");
    assert_eq!(change["updated"], json!(["2"]), "{change}");
}

/// Before: 260 slow requests of one connection held all 256 instance slots,
/// and another connection's request got 503 `busy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_flooding_slow_calls_cannot_make_another_connections_call_fail() {
    let (slow, fast) = (upstream().await, upstream().await);
    slow.set_delay(1500);
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        args: &[
            "--max-instances",
            "8",
            "--max-instances-per-connection",
            "6",
        ],
        ..Default::default()
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(100)
        .timeout(REQUEST_DEADLINE)
        .build()
        .unwrap();
    let (_, slow_token) = connect(&http, &server, &slow).await;
    let (_, fast_token) = connect(&http, &server, &fast).await;

    let flood: Vec<_> = (0..40)
        .map(|_| {
            let (http, url, token) = (
                http.clone(),
                server.url("/v1/vendors?page_size=1"),
                slow_token.clone(),
            );
            tokio::spawn(async move {
                let response = http.get(url).bearer_auth(token).send().await.unwrap();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                (status, retry_after, body)
            })
        })
        .collect();
    eventually(
        Duration::from_secs(10),
        "the slow connection's gate to fill",
        || async { (slow.max_in_flight() >= 4).then_some(()) },
    )
    .await;
    for _ in 0..10 {
        let page = call(
            &http,
            M::GET,
            server.url("/v1/vendors?page_size=1"),
            &fast_token,
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    let mut served = 0;
    for call in flood {
        let (status, retry_after, body) = call.await.unwrap();
        match status {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
                assert_eq!(retry_after.as_deref(), Some("1"));
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(
        served, 6,
        "the connection's share ran, the rest was refused"
    );
    assert_eq!(
        slow.max_in_flight(),
        4,
        "the adapter's max-concurrent-requests held"
    );
}

/// Connections are served from memory on the request path; a disconnect
/// invalidates that before it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_refuses_every_request_sent_after_it_answered_despite_the_cache() {
    let up = upstream().await;
    let server = Server::start(&["example"]);
    let http = crate::common::http();
    let (id, token) = connect(&http, &server, &up).await;
    let url = server.url("/v1/vendors/meta");

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammering: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, token, stop) = (http.clone(), url.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = Instant::now();
                    let status = http
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap()
                        .status();
                    seen.push((sent, status));
                }
                seen
            })
        })
        .collect();
    eventually(Duration::from_secs(5), "the cache to be warm", || async {
        let reply = call(&http, M::GET, url.clone(), &token, None).await;
        (reply.status == StatusCode::OK).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let disconnected = call(
        &http,
        M::POST,
        server.url(&format!("/v1/connections/{id}/disconnect")),
        &server.admin_key(),
        None,
    )
    .await;
    assert_eq!(disconnected.status, StatusCode::OK);
    let answered = Instant::now();
    call(&http, M::GET, url.clone(), &token, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut before = 0;
    for task in hammering {
        for (sent, status) in task.await.unwrap() {
            if sent > answered {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "a request sent after the disconnect"
                );
            } else if status == StatusCode::OK {
                before += 1;
            }
        }
    }
    assert!(before > 10, "the token worked from memory before: {before}");
}
