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

/// A connection made on one node is used through the others, and a
/// disconnect on one refuses the token on another at once (each node had
/// served the token just before, so each remembered it).
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
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.body);
    for node in [0, 2, 1] {
        cluster
            .client(node)
            .call(&token, M::GET, "/v1/vendors", None)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    }
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

    // Another node takes the run over once its lease lapses (30 s).
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
    assert_eq!(runs[0]["unchanged"].as_u64(), Some(20_000), "{}", runs[0]);

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
