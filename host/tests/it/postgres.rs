//! The host on PostgreSQL (`interlink serve --database-url postgres://...`)
//! through the real binary, against the server `cargo xtask test` starts:
//! connections, live reads, a sync killed with SIGKILL and resumed from its
//! last committed page, a disconnect, all kept in PostgreSQL and nowhere
//! else. The storage layer's own suite (`storage::tests`) runs the same
//! cases on SQLite and PostgreSQL, several nodes racing included; `nodes.rs`
//! runs three nodes on one database.

use crate::common::sync_client::{Client, assert_resumed_where_it_stopped, demo, succeeded};
use crate::common::*;
use reqwest::{Method as M, StatusCode};
use serde_json::json;
use sqlx::Connection as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_on_postgres_resumes_a_killed_sync_keeps_its_connections_and_refuses_a_disconnected_token()
 {
    let database = postgres_database().await;
    let up = demo(5_000).await;
    up.set_delay(15);
    let args = ["--database-url", database.as_str()];
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        args: &args,
        ..Default::default()
    });
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    let live = client
        .call(&token, M::GET, "/v1/vendors?page_size=3", None)
        .await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.body);
    assert_eq!(live.body["data"].as_array().unwrap().len(), 3);

    let before_sync = up.pages_served("suppliers").len();
    let schedule = client
        .schedule(&token, "vendors", json!({"page_size": 100}))
        .await;
    assert_eq!(schedule.status, StatusCode::OK, "{}", schedule.body);
    let partial = client
        .wait_for_run(&id, 1, |r| {
            r["status"] == "running" && r["added"].as_u64().unwrap() >= 1000
        })
        .await;

    // kill -9, then a restart on the same database.
    let (data_dir, adapters_dir, _dirs) = server.stop();
    let before_kill = up.pages_served("suppliers").len();
    assert!(
        !data_dir.join("interlink.db").exists(),
        "nothing is kept in SQLite"
    );
    up.set_delay(0);
    let server = Server::start_with(ServerOptions {
        data_dir: Some(data_dir),
        adapters_dir: Some(adapters_dir),
        args: &args,
        ..Default::default()
    });
    let client = Client::new(&server);
    let done = client.wait_for_run(&id, 1, succeeded).await;
    assert_eq!(done["id"], partial["id"], "the same run resumed");
    assert_eq!(done["added"].as_u64(), Some(5_000), "{done}");
    assert!(server.logs().contains("resuming a sync run"));
    let committed = partial["pages"].as_u64().unwrap() as usize;
    assert_resumed_where_it_stopped(&up, before_sync, before_kill, committed, 100, 5_000);
    let records = client.synced(&token, "vendors").await;
    let mut ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((records.len(), ids.len()), (5_000, 5_000));

    // What the API says is what PostgreSQL holds.
    let mut db = sqlx::PgConnection::connect(&database).await.unwrap();
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM records WHERE connection_id = $1")
        .bind(&id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(stored, 5_000);

    let disconnected = client
        .admin(M::POST, &format!("/v1/connections/{id}/disconnect"), None)
        .await;
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.body);
    client
        .call(&token, M::GET, "/v1/vendors", None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "connection_disconnected");
    let connection = client
        .admin(M::GET, &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(connection.body["status"], "disconnected");
    assert_eq!(connection.body["stored_records"]["vendors"], 5_000);
}

/// `interlink db copy` moves a host from SQLite to PostgreSQL: after it, the
/// same data folder on PostgreSQL serves the same connections (their tokens
/// and sealed credentials), synced records, runs and webhook subscriptions;
/// a second copy into the same database is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_on_sqlite_moves_to_postgres_with_db_copy() {
    let up = demo(250).await;
    let server = Server::start(&["example"]);
    let client = Client::new(&server);
    let (token, id) = client.connect_demo(&up).await;
    let schedule = client
        .schedule(&token, "vendors", json!({"page_size": 100}))
        .await;
    assert_eq!(schedule.status, StatusCode::OK, "{}", schedule.body);
    let run = client.wait_for_run(&id, 1, succeeded).await;
    let subscribed = client
        .call(
            &token,
            M::POST,
            "/v1/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["records.changed"]})),
        )
        .await;
    assert_eq!(
        subscribed.status,
        StatusCode::CREATED,
        "{}",
        subscribed.body
    );
    let (data_dir, adapters_dir, _dirs) = server.stop();

    let database = postgres_database().await;
    let copy = |to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_interlink"))
            .args(["db", "copy", "--from"])
            .arg(format!(
                "sqlite://{}",
                data_dir.join("interlink.db").display()
            ))
            .args(["--to", to])
            .output()
            .unwrap()
    };
    let copied = copy(&database);
    let out = output_text(&copied);
    assert!(copied.status.success(), "{out}");
    let line = |table: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
    };
    assert_eq!(line("records").as_deref(), Some("250"), "{out}");
    assert_eq!(line("connections").as_deref(), Some("1"), "{out}");
    assert_eq!(line("webhook_subscriptions").as_deref(), Some("1"), "{out}");

    let again = copy(&database);
    assert!(!again.status.success());
    assert!(
        output_text(&again).contains("the PostgreSQL database is not empty"),
        "{}",
        output_text(&again)
    );

    std::fs::remove_file(data_dir.join("interlink.db")).unwrap();
    let args = ["--database-url", database.as_str()];
    let server = Server::start_with(ServerOptions {
        data_dir: Some(data_dir),
        adapters_dir: Some(adapters_dir),
        args: &args,
        ..Default::default()
    });
    let client = Client::new(&server);
    let live = client
        .call(&token, M::GET, "/v1/vendors?page_size=2", None)
        .await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.body);
    assert_eq!(client.synced(&token, "vendors").await.len(), 250);
    let runs = client.runs(&id).await;
    assert_eq!(runs[0]["id"], run["id"]);
    assert_eq!(runs[0]["added"], 250);
    let hooks = client.call(&token, M::GET, "/v1/webhooks", None).await;
    assert_eq!(
        hooks.body["subscriptions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        hooks.body
    );
}

/// The hostile adapter's kv flood on PostgreSQL (`hostile.rs` runs it on
/// SQLite): at most the quota of rows, no key over 256 bytes, none left
/// after a disconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_flood_leaves_at_most_the_quota_and_a_disconnect_leaves_nothing_on_postgres() {
    let database = postgres_database().await;
    kv_flood::a_kv_flood_is_bounded(Some(&database)).await;
}

/// TLS to PostgreSQL, verified: the run's server (`xtask/src/postgres.rs`)
/// has a certificate for `localhost` signed by a CA made for the run. With
/// `sslmode=verify-full` and that CA, the host serves, and each of its
/// connections to the database is encrypted (`pg_stat_ssl`); with a CA
/// that did not sign the server's certificate it refuses to start. Catches
/// a host built without TLS (sqlx's `tls-none`: every mode but `disable`
/// fails) or one that does not verify the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_reaches_postgresql_over_tls_and_verifies_the_server() {
    let database = postgres_database().await;
    let ca = std::env::var("INTERLINK_TEST_POSTGRES_CA").expect(
        "the run's PostgreSQL server names its CA in INTERLINK_TEST_POSTGRES_CA \
         (`cargo xtask test` sets it)",
    );
    let url = |ca: &str| {
        let on_localhost = database.replacen("@127.0.0.1:", "@localhost:", 1);
        format!("{on_localhost}?sslmode=verify-full&sslrootcert={ca}")
    };
    let verified = url(&ca);
    let up = demo(10).await;
    let server = Server::start_with(ServerOptions {
        adapters: &["example"],
        args: &["--database-url", &verified],
        ..Default::default()
    });
    assert!(
        server.logs().contains("sslmode=\"verify-full\"")
            || server.logs().contains("sslmode=verify-full"),
        "the host says how it reaches the database: {}",
        server.logs()
    );
    let client = Client::new(&server);
    let (token, _) = client.connect_demo(&up).await;
    let read = client
        .call(&token, M::GET, "/v1/vendors?page_size=3", None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    let mut db = sqlx::PgConnection::connect(&database).await.unwrap();
    let (plain, encrypted): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE NOT s.ssl), COUNT(*) FILTER (WHERE s.ssl) \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(plain, 0, "a connection of the host is not encrypted");
    assert!(encrypted >= 1, "the host's connections are encrypted");
    drop(server);

    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("ca.pem");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(&other_ca, certified.cert.pem()).unwrap();
    let args = ["--database-url", &url(&other_ca.to_string_lossy())];
    let refused = refused_start(other.path(), other.path(), &args).await;
    assert!(
        refused.contains("invalid peer certificate"),
        "a server its CA did not certify is refused: {refused}"
    );
}
