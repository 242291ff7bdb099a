//! Three `interlink` processes on one PostgreSQL database, as operators run
//! them behind a load balancer: each test starts three real nodes (sharing
//! the secret key, the admin key and the platform certificate, each with a
//! name of its own) and checks what must hold across them.

use std::path::Path;
use std::time::Duration;

use crate::common::sync_client::{Client, assert_resumed_where_it_stopped, demo, succeeded};
use crate::common::*;
use reqwest::{Method as M, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;

/// What every node of a deployment shares, besides the database.
const SHARED_FILES: &[&str] = &[
    "admin.key",
    "secret.key",
    "platform-key.pem",
    "platform-cert.pem",
];

/// Three nodes on a new database: the first makes the keys, the others get
/// copies of them.
pub(crate) struct Cluster {
    pub(crate) database: String,
    pub(crate) nodes: Vec<Server>,
    _data: Vec<tempfile::TempDir>,
}

impl Cluster {
    pub(crate) async fn start(adapters: &[&str], extra: &[&str]) -> Cluster {
        let database = postgres_database().await;
        let mut args = vec!["--database-url", database.as_str()];
        args.extend_from_slice(extra);
        let first = Server::start_with(ServerOptions {
            adapters,
            args: &args,
            webhook_retry_base_ms: Some(100),
            ..Default::default()
        });
        let mut nodes = vec![first];
        let mut data = Vec::new();
        for _ in 1..3 {
            let dir = tempfile::tempdir().unwrap();
            for file in SHARED_FILES {
                std::fs::copy(nodes[0].data_dir.join(file), dir.path().join(file)).unwrap();
            }
            nodes.push(Server::start_with(ServerOptions {
                adapters,
                data_dir: Some(dir.path().to_path_buf()),
                args: &args,
                webhook_retry_base_ms: Some(100),
                ..Default::default()
            }));
            data.push(dir);
        }
        Cluster {
            database,
            nodes,
            _data: data,
        }
    }

    pub(crate) fn client(&self, node: usize) -> Client {
        Client::new(&self.nodes[node])
    }

    pub(crate) async fn db(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.database).await.unwrap()
    }
}

fn node_id(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("node.id"))
        .unwrap()
        .trim()
        .to_string()
}

/// How stale what a node remembers may be: a change on one node reaches
/// the requests of every other within it.
const STALENESS: Duration = interlink::dataplane::notices::STALENESS;

/// Reads through `client` with `token` until a read is refused with
/// `code`, each sent after the one before answered. A read still served
/// must have been sent within [`STALENESS`] of `since`, when the change
/// that refuses the token answered (so had committed): the node handled it
/// no earlier than it was sent. Answers how long after `since` the first
/// refused read was sent.
async fn refused_within_the_bound(
    client: &Client,
    token: &str,
    since: std::time::Instant,
    code: &str,
) -> Duration {
    let reads = async {
        loop {
            let sent = std::time::Instant::now();
            let reply = client
                .call(token, M::GET, "/v1/vendors?page_size=1", None)
                .await;
            if reply.status == StatusCode::OK {
                assert!(
                    sent < since + STALENESS,
                    "a read sent {:?} after the change was still served",
                    sent - since
                );
                continue;
            }
            reply.assert_error(StatusCode::UNAUTHORIZED, code);
            return sent.saturating_duration_since(since);
        }
    };
    tokio::time::timeout(STALENESS * 10, reads)
        .await
        .expect("the token is refused")
}

/// Reads a page with `token` through every node: each answers it (and
/// remembers the token).
async fn served_by_every_node(cluster: &Cluster, token: &str) {
    for node in 0..cluster.nodes.len() {
        let page = cluster
            .client(node)
            .call(token, M::GET, "/v1/vendors?page_size=1", None)
            .await;
        assert_eq!(page.status, StatusCode::OK, "node {node}: {}", page.body);
    }
}

/// Revokes token `token_id` of `connection` through `node`; answers when
/// the revocation answered.
async fn revoke(
    cluster: &Cluster,
    node: usize,
    connection: &str,
    token_id: &str,
) -> std::time::Instant {
    let revoked = cluster
        .client(node)
        .admin(
            M::DELETE,
            &format!("/v1/connections/{connection}/tokens/{token_id}"),
            None,
        )
        .await;
    let since = std::time::Instant::now();
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    since
}

/// A connection made on one node is used through the others, and a
/// disconnect on one refuses its token on that node at once and on the
/// others within the staleness bound (each node had served the token just
/// before, so each remembered it, without asking the database since).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_made_on_one_node_works_on_all_and_a_disconnect_anywhere_refuses_it_everywhere()
 {
    let cluster = Cluster::start(&["example"], &[]).await;
    let up = demo(20).await;
    let (token, id) = cluster.client(0).connect_demo(&up).await;
    for node in 0..3 {
        let page = cluster
            .client(node)
            .call(&token, M::GET, "/v1/vendors?page_size=5", None)
            .await;
        assert_eq!(page.status, StatusCode::OK, "node {node}: {}", page.body);
        assert_eq!(page.body["data"].as_array().unwrap().len(), 5);
    }
    let disconnected = cluster
        .client(1)
        .admin(M::POST, &format!("/v1/connections/{id}/disconnect"), None)
        .await;
    let since = std::time::Instant::now();
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.body);
    cluster
        .client(1)
        .call(&token, M::GET, "/v1/vendors", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    for node in [0, 2] {
        let after = refused_within_the_bound(
            &cluster.client(node),
            &token,
            since,
            "connection_disconnected",
        )
        .await;
        eprintln!("node {node} refused the disconnected connection's token {after:?} after");
    }
}

/// A token revoked on one node stops working there at once and on every
/// other node within the staleness bound, while another token of the same
/// connection goes on working everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_node_is_refused_by_every_node_within_the_bound() {
    let cluster = Cluster::start(&["example"], &[]).await;
    let up = demo(5).await;
    let (token, id) = cluster.client(0).connect_demo(&up).await;
    let issued = cluster
        .client(0)
        .admin(
            M::POST,
            &format!("/v1/connections/{id}/tokens"),
            Some(json!({"name": "second"})),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let second = issued.body["token"].as_str().unwrap().to_string();
    let tokens = cluster
        .client(0)
        .admin(M::GET, &format!("/v1/connections/{id}/tokens"), None)
        .await;
    let first_id = tokens.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "default")
        .expect("the connection's first token")["id"]
        .as_str()
        .unwrap()
        .to_string();
    served_by_every_node(&cluster, &token).await;
    served_by_every_node(&cluster, &second).await;

    let since = revoke(&cluster, 2, &id, &first_id).await;
    cluster
        .client(2)
        .call(&token, M::GET, "/v1/vendors", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token_invalid");
    for node in [0, 1] {
        let after =
            refused_within_the_bound(&cluster.client(node), &token, since, "token_invalid").await;
        eprintln!("node {node} refused the revoked token {after:?} after");
    }
    served_by_every_node(&cluster, &second).await;
}

/// A node that lost its notices (its listening connection to the database
/// cut, as a failover or a proxy's idle timeout does) still refuses a token
/// revoked meanwhile within the bound: it forgets what it remembered when
/// it listens again, and checks each token with the database until its
/// beats return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_listener_was_cut_still_refuses_a_revoked_token_within_the_bound() {
    let cluster = Cluster::start(&["example"], &[]).await;
    let up = demo(5).await;
    let (token, id) = cluster.client(0).connect_demo(&up).await;
    served_by_every_node(&cluster, &token).await;
    let tokens = cluster
        .client(0)
        .admin(M::GET, &format!("/v1/connections/{id}/tokens"), None)
        .await;
    let token_id = tokens.body["tokens"][0]["id"].as_str().unwrap().to_string();

    let mut db = cluster.db().await;
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%interlink_notices%'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(cut, 3, "each node listens on one connection");
    let since = revoke(&cluster, 0, &id, &token_id).await;
    for node in [1, 2] {
        refused_within_the_bound(&cluster.client(node), &token, since, "token_invalid").await;
    }
}

/// A connection's upstream concurrency (the example adapter's
/// `max-concurrent-requests`, 4) holds across nodes that each lease slots
/// for their calls: 24 reads sent to two nodes at once while the system
/// holds its requests never have more than 4 requests in flight there, and
/// once it answers, every read is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connections_upstream_concurrency_holds_across_nodes_that_lease_slots() {
    let cluster = Cluster::start(&["example"], &[]).await;
    let up = demo(5).await;
    let (token, _) = cluster.client(0).connect_demo(&up).await;
    up.pause();
    let reads: Vec<_> = (0..24)
        .map(|i| {
            let client = cluster.client(i % 2);
            let token = token.clone();
            tokio::spawn(async move {
                let reply = client
                    .call(&token, M::GET, "/v1/vendors?page_size=1", None)
                    .await;
                (i % 2, reply.status, reply.body)
            })
        })
        .collect();
    eventually(
        Duration::from_secs(20),
        "the connection's slots to fill",
        || async { (up.in_flight() == 4).then_some(()) },
    )
    .await;
    up.resume();
    let answers = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(reads))
        .await
        .expect("every read is answered");
    let mut served = [0; 2];
    for answer in answers {
        let (node, status, body) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "node {node}: {body}");
        served[node] += 1;
    }
    assert_eq!(served, [12, 12]);
    assert!(
        up.max_in_flight() <= 4,
        "{} requests were in flight at once",
        up.max_in_flight()
    );
    assert_eq!(up.max_in_flight(), 4, "the slots were used");
}

/// A connection's write budget holds across the nodes its writes are
/// spread over, and its upstream is never called past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_budget_holds_across_nodes() {
    let cluster = Cluster::start(&["example"], &["--max-writes-per-minute", "3"]).await;
    let up = demo(0).await;
    let (token, _) = cluster.client(0).connect_demo(&up).await;
    let mut statuses = Vec::new();
    for i in 0..9 {
        let reply = cluster
            .client(i % 3)
            .call(
                &token,
                M::POST,
                "/v1/vendors",
                Some(json!({"name": format!("Vendor {i}")})),
            )
            .await;
        statuses.push(reply.status.as_u16());
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((created, refused), (3, 6), "{statuses:?}");
    assert_eq!(up.writes(), 3, "the upstream saw the budget's writes only");
}

/// The version of `chaos` that `node` serves.
async fn version(node: &Server) -> Option<String> {
    let reply = Client::new(node).admin(M::GET, "/v1/adapters", None).await;
    reply.body["adapters"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == "chaos")
        .map(|a| a["version"].as_str().unwrap_or_default().to_string())
}

/// An adapter uploaded to one node is served by the others within seconds,
/// and by a node that starts later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_on_one_node_is_served_by_every_node() {
    let mut cluster = Cluster::start(&["chaos"], &[]).await;
    for node in 0..3 {
        assert_eq!(
            version(&cluster.nodes[node]).await.as_deref(),
            Some("1.0.0")
        );
    }
    let uploaded = send(
        crate::common::http()
            .put(cluster.nodes[0].url("/v1/adapters/chaos"))
            .bearer_auth(cluster.nodes[0].admin_key())
            .body(adapter_bytes("chaos-next")),
    )
    .await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.body);
    let next = uploaded.body["version"].as_str().unwrap().to_string();
    assert_ne!(next, "1.0.0");
    for node in [2, 1] {
        eventually(Duration::from_secs(10), "the upload on every node", || {
            let next = next.clone();
            let served = version(&cluster.nodes[node]);
            async move { (served.await == Some(next)).then_some(()) }
        })
        .await;
    }

    // A node that starts later, with the old version in its folder, serves
    // the database's.
    let (_, _, _dirs) = cluster.nodes.remove(2).stop();
    let dir = tempfile::tempdir().unwrap();
    for file in SHARED_FILES {
        std::fs::copy(cluster.nodes[0].data_dir.join(file), dir.path().join(file)).unwrap();
    }
    let late = Server::start_with(ServerOptions {
        adapters: &["chaos"],
        data_dir: Some(dir.path().to_path_buf()),
        args: &["--database-url", cluster.database.as_str()],
        ..Default::default()
    });
    cluster.nodes.push(late);
    assert_eq!(version(&cluster.nodes[2]).await, Some(next));
}

/// A sync schedule runs once per interval although three schedulers see it
/// due; the node driving a sync of 20,000 records is killed with SIGKILL
/// mid-run and another node finishes the run from its last committed page,
/// every record stored once; its webhook event is delivered once although
/// three dispatchers run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_and_webhooks_run_once_across_nodes_and_survive_a_killed_node() {
    let mut cluster = Cluster::start(&["example"], &[]).await;
    let up = demo(20_000).await;
    up.set_delay(20);
    let hook = receiver(0).await;
    let (token, id) = cluster.client(0).connect_demo(&up).await;
    let subscribed = cluster
        .client(1)
        .subscribe(&token, &hook.url, &["records.changed"])
        .await;
    assert_eq!(
        subscribed.status,
        StatusCode::CREATED,
        "{}",
        subscribed.body
    );
    let before_sync = up.pages_served("suppliers").len();
    let schedule = cluster
        .client(2)
        .schedule(&token, "vendors", json!({"page_size": 100}))
        .await;
    assert_eq!(schedule.status, StatusCode::OK, "{}", schedule.body);

    // Killed mid-run: whichever node drives the run.
    let observer = cluster.client(0);
    let partial = observer
        .wait_for_run(&id, 1, |r| {
            r["status"] == "running" && r["added"].as_u64().unwrap() >= 2_000
        })
        .await;
    let mut db = cluster.db().await;
    let (owner,): (String,) = sqlx::query_as("SELECT lease_owner FROM sync_runs WHERE id = $1")
        .bind(partial["id"].as_str().unwrap())
        .fetch_one(&mut db)
        .await
        .unwrap();
    let driver = cluster
        .nodes
        .iter()
        .position(|n| node_id(&n.data_dir) == owner)
        .expect("a node drives the run");
    let (_, _, _dirs) = cluster.nodes.remove(driver).stop();
    let before_kill = up.pages_served("suppliers").len();
    up.set_delay(0);

    // Another node takes the run over once its lease lapses: the 30 s
    // pass at once (the lease's end is moved to now, as the schedule's due
    // time is below), which the killed node can no longer renew.
    sqlx::query("UPDATE sync_runs SET lease_until = now() WHERE id = $1")
        .bind(partial["id"].as_str().unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    let observer = cluster.client(0);
    let done = observer.wait_for_run(&id, 1, succeeded).await;
    assert_eq!(done["id"], partial["id"], "the same run finished");
    assert_eq!(done["added"].as_u64(), Some(20_000), "{done}");
    let logs: String = cluster.nodes.iter().map(|n| n.logs()).collect();
    assert!(logs.contains("resuming a sync run"), "{logs}");
    let committed = partial["pages"].as_u64().unwrap() as usize;
    assert_resumed_where_it_stopped(&up, before_sync, before_kill, committed, 100, 20_000);
    let (stored, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT record_id) FROM records WHERE connection_id = $1",
    )
    .bind(&id)
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!((stored, distinct), (20_000, 20_000));

    // One run per interval: no node started another for the same due time,
    // and none will before the next (the schedule's next run is an interval
    // away, which every scheduler reads from the shared database).
    let next_run_is_ahead = || async {
        let (ahead,): (bool,) = sqlx::query_as(
            "SELECT next_run_at > now() + interval '10 minutes' FROM sync_schedules \
             WHERE connection_id = $1",
        )
        .bind(&id)
        .fetch_one(&mut cluster.db().await)
        .await
        .unwrap();
        ahead
    };
    assert!(next_run_is_ahead().await);
    assert_eq!(observer.runs(&id).await.len(), 1);
    // The interval passes (the schedule is made due again): one more run.
    sqlx::query("UPDATE sync_schedules SET next_run_at = now() WHERE connection_id = $1")
        .bind(&id)
        .execute(&mut db)
        .await
        .unwrap();
    observer.wait_for_run(&id, 2, succeeded).await;
    assert!(next_run_is_ahead().await);
    let runs = observer.runs(&id).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    // The second run reads what changed after its starting point (the
    // first run's start, less a second: how many records that is depends on
    // how long the upstream took to fill) and finds each unchanged.
    let since = runs[0]["modified_after"].as_str().unwrap();
    let changed: Value = crate::common::http()
        .get(format!("{}/api/suppliers", up.base_url()))
        .query(&[("updated_since", since), ("limit", "1")])
        .bearer_auth("demo-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (added, updated) = (&runs[0]["added"], &runs[0]["updated"]);
    assert_eq!((added, updated), (&json!(0), &json!(0)), "{}", runs[0]);
    assert_eq!(runs[0]["unchanged"], changed["total"], "{}", runs[0]);

    // Each event delivered once, although three dispatchers run.
    // Once every delivery is delivered, none is sent again: the receiver's
    // count is final.
    let subscription = subscribed.body["subscription"]["id"].as_str().unwrap();
    let deliveries = eventually(
        Duration::from_secs(30),
        "every delivery delivered",
        || async {
            let deliveries = observer.deliveries(&token, subscription).await;
            let done =
                !deliveries.is_empty() && deliveries.iter().all(|d| d["status"] == "delivered");
            done.then_some(deliveries)
        },
    )
    .await;
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), deliveries.len(), "{deliveries:?}");
    let mut ids: Vec<&str> = received
        .iter()
        .map(|(headers, _)| headers["webhook-id"].to_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), received.len(), "each event delivered once");
    let body: Value = serde_json::from_str(&received[0].1).unwrap();
    assert_eq!(body["event"], "records.changed", "{body}");
}
