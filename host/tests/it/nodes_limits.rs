//! The limits that must hold across nodes when several race for them
//! (issue 37): each test starts the three real nodes of [`Cluster`] on one
//! PostgreSQL database and has them race at once for the last of something.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Method as M, StatusCode};
use serde_json::json;

use crate::common::sync_client::{Client, demo};
use crate::common::*;
use crate::nodes::Cluster;

/// A connection's kv quota (`runtime::imports::kv::MAX_KEYS`).
const MAX_KEYS: i64 = 256;

/// Runs `test` under `within`, failing with `what` past it.
async fn deadline<F: Future<Output = ()>>(within: Duration, what: &str, test: F) {
    tokio::time::timeout(within, test)
        .await
        .unwrap_or_else(|_| panic!("{what}: no end after {within:?}"));
}

/// Keys the database holds before each round of the kv race: the race is
/// for the rest of the quota.
const PREFILLED: i64 = MAX_KEYS - 16;

/// Before: a write of a new kv key counted the connection's keys and then
/// inserted, with nothing to stop another call from doing the same in
/// between; calls racing on two nodes passed the quota. With the store
/// nearly full, sixteen calls (eight on each of two nodes) write 8 new keys
/// each at once: the connection holds the quota exactly, and the calls were
/// told of as many writes as it holds; five times (the store emptied in
/// between, as a deletion of the connection's data does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_quota_holds_with_two_nodes_writing_new_keys_at_once() {
    deadline(Duration::from_secs(180), "the kv race", async {
        let cluster = Cluster::start(&["hostile"], &[]).await;
        let up = demo(0).await;
        let body = json!({"adapter": "hostile",
            "config": {"base_url": up.base_url(), "client_id": "client-7"},
            "credentials": {"api_key": "demo-key"}});
        let connected = cluster
            .client(0)
            .admin(M::POST, "/v1/connections", Some(body))
            .await;
        assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
        let token = connected.body["token"].as_str().unwrap();
        let id = connected.body["connection"]["id"].as_str().unwrap();

        // Each round is one race for the last keys: five of them.
        for round in 0..5 {
            sqlx::query(
                "INSERT INTO kv (connection_id, key, value) \
                 SELECT $1, 'prefilled-' || n, decode('00', 'hex') FROM generate_series(1, $2) AS n",
            )
            .bind(id)
            .bind(PREFILLED)
            .execute(&mut cluster.db().await)
            .await
            .unwrap();
            let floods = (0..16).map(|call| {
                let client = cluster.client(call % 2);
                async move {
                    let path = format!("/v1/kv-flood?page_size=8&cursor=set:r{round}c{call}");
                    client.call(token, M::GET, &path, None).await
                }
            });
            let mut stored = 0;
            for reply in join_all(floods).await {
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                stored += reply.body["data"][0]["stored"].as_i64().unwrap();
            }
            let count = "SELECT count(*) FROM kv WHERE connection_id = $1";
            let (rows,): (i64,) = sqlx::query_as(count)
                .bind(id)
                .fetch_one(&mut cluster.db().await)
                .await
                .unwrap();
            assert_eq!(rows, MAX_KEYS, "round {round}: the quota, no more");
            assert_eq!(
                stored,
                MAX_KEYS - PREFILLED,
                "round {round}: each write told it was stored is"
            );
            let path = format!("/v1/connections/{id}/data");
            let deleted = cluster.client(2).admin(M::DELETE, &path, None).await;
            assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        }
    })
    .await;
}

/// Before: a subscribe counted the connection's subscriptions, then
/// inserted, serialized on its own node only; subscribes on three nodes at
/// once each passed the cap. Of 24 (8 on each node), the cap's 3 are made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_cap_holds_with_subscribes_on_every_node_at_once() {
    deadline(Duration::from_secs(120), "the subscribe race", async {
        let cluster = Cluster::start(&["example"], &["--max-webhooks-per-connection", "3"]).await;
        let up = demo(0).await;
        let hook = receiver(0).await;
        let (token, _) = cluster.client(0).connect_demo(&up).await;
        let clients: Vec<Client> = (0..3).map(|node| cluster.client(node)).collect();
        let subscribes =
            (0..24).map(|i| clients[i % 3].subscribe(&token, &hook.url, &["records.changed"]));
        let replies = join_all(subscribes).await;
        let made = replies
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        assert_eq!(made, 3, "the cap, no more");
        for refused in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
            refused.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_subscriptions");
        }
        let listed = clients[1].call(&token, M::GET, "/v1/webhooks", None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["subscriptions"].as_array().unwrap().len(), 3);
    })
    .await;
}

/// Before: each node kept each token's rate limit in memory, so two nodes
/// let a token make twice its requests. A token of 60 a minute (a burst of
/// 60, then one a second) is hammered through two nodes at once: the
/// nodes together answer at most the burst, what refilled meanwhile and
/// one lease's batch (3: see `connections::token_rate`), and refuse the
/// rest with 429 `token_rate_limited`, `Retry-After` and the `RateLimit`
/// headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_rate_limit_holds_with_two_nodes_serving_it_at_once() {
    deadline(Duration::from_secs(120), "the rate limit race", async {
        let cluster = Cluster::start(&["example"], &["--api-requests-per-minute", "60"]).await;
        let up = demo(0).await;
        let (token, _) = cluster.client(0).connect_demo(&up).await;
        let started = Instant::now();
        let hammer = |node: usize| {
            let client = cluster.client(node);
            let token = token.clone();
            async move {
                let mut replies = Vec::new();
                for _ in 0..10 {
                    let round =
                        (0..15).map(|_| client.call(&token, M::GET, "/v1/vendors/meta", None));
                    replies.extend(join_all(round).await);
                }
                replies
            }
        };
        let (a, b) = futures::join!(hammer(0), hammer(1));
        let elapsed = started.elapsed().as_secs_f64();
        let served = |replies: &[Reply]| {
            replies
                .iter()
                .filter(|r| r.status == StatusCode::OK)
                .count()
        };
        let (on_a, on_b) = (served(&a), served(&b));
        let most = 60 + elapsed.ceil() as usize + 3;
        assert!(
            on_a + on_b <= most,
            "{on_a} + {on_b} served in {elapsed:.1} s; at most {most}"
        );
        assert!(on_a + on_b >= 50, "the burst is served: {on_a} + {on_b}");
        assert!(on_a > 0 && on_b > 0, "both nodes serve: {on_a}, {on_b}");
        for reply in a.iter().chain(&b) {
            assert_eq!(reply.headers["ratelimit-policy"], "\"token\";q=60;w=60");
            if reply.status == StatusCode::OK {
                continue;
            }
            reply.assert_error(StatusCode::TOO_MANY_REQUESTS, "token_rate_limited");
            let retry_after: u64 = reply.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry_after), "{retry_after}");
            let left = reply.headers["ratelimit"].to_str().unwrap();
            assert!(left.starts_with("\"token\";r=0;t="), "{left}");
        }
    })
    .await;
}

/// Before: a replace disconnected the old connection, then stored the new
/// one; a create on another node could take the credit in between, and the
/// customer was left with neither. The old connection holds one of two
/// credits while the other nodes keep creating connections for the free
/// one; five replaces in a row each succeed, the replaced connection
/// disconnected, and the customer always has one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_keeps_the_customer_connected_while_other_nodes_take_the_last_credit() {
    deadline(Duration::from_secs(180), "the replace race", async {
        let cluster = Cluster::start(&["example"], &["--credits", "2"]).await;
        let up = demo(0).await;
        let body = json!({"adapter": "example", "config": {"base_url": up.base_url()},
            "credentials": {"api_key": "demo-key"}});
        let (_, mut current) = cluster.client(0).connect_demo(&up).await;
        for round in 0..5 {
            let replaced = Arc::new(AtomicBool::new(false));
            let others = (1..3).map(|node| {
                let client = cluster.client(node);
                let (body, replaced) = (body.clone(), replaced.clone());
                async move {
                    let mut made = Vec::new();
                    while !replaced.load(Ordering::Relaxed) {
                        let reply = client
                            .admin(M::POST, "/v1/connections", Some(body.clone()))
                            .await;
                        match reply.status {
                            StatusCode::CREATED => made
                                .push(reply.body["connection"]["id"].as_str().unwrap().to_string()),
                            _ => reply.assert_error(StatusCode::PAYMENT_REQUIRED, "no_credits"),
                        }
                    }
                    made
                }
            });
            let replace = async {
                let mut body = body.clone();
                body["replaces"] = json!(current);
                let reply = cluster
                    .client(0)
                    .admin(M::POST, "/v1/connections", Some(body))
                    .await;
                replaced.store(true, Ordering::Relaxed);
                reply
            };
            let (reply, made) = futures::join!(replace, join_all(others));
            let old = cluster
                .client(0)
                .admin(M::GET, &format!("/v1/connections/{current}"), None)
                .await;
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "round {round}: the replace failed ({}), the old connection is {}",
                reply.body,
                old.body["status"]
            );
            assert_eq!(old.body["status"], "disconnected", "round {round}");
            current = reply.body["connection"]["id"].as_str().unwrap().to_string();
            // The credit the others took goes back for the next round.
            for id in made.into_iter().flatten() {
                let path = format!("/v1/connections/{id}/disconnect");
                let done = cluster.client(1).admin(M::POST, &path, None).await;
                assert_eq!(done.status, StatusCode::OK, "{}", done.body);
            }
            let credits = cluster.client(2).admin(M::GET, "/v1/credits", None).await;
            assert_eq!(credits.body["used"], 1, "round {round}: {}", credits.body);
        }
    })
    .await;
}
