//! The hostile adapter's kv flood against the host's database store, on
//! SQLite (`hostile.rs`) and on PostgreSQL (`postgres.rs`).

use std::time::{Duration, Instant};

use demo_upstream::{DemoUpstream, Options};
use reqwest::{Method as M, StatusCode};
use serde_json::json;
use sqlx::Connection as _;

use super::sync_client::Client;
use super::{Server, ServerOptions};

/// A connection's kv quota (`runtime::imports::kv::MAX_KEYS`), and the
/// longest key (`MAX_KEY_BYTES`).
const MAX_KEYS: i64 = 256;
const MAX_KEY_BYTES: i64 = 256;
/// The values the flood stores before its misses (the adapter's `KV_KEPT`).
const KEPT: i64 = 8;

/// The host's database, opened beside it.
enum Database {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Database {
    async fn open(server: &Server, postgres: Option<&str>) -> Database {
        match postgres {
            Some(url) => Database::Postgres(sqlx::PgConnection::connect(url).await.unwrap()),
            None => {
                let path = server.data_dir.join("interlink.db");
                let url = format!("sqlite://{}?mode=ro", path.display());
                Database::Sqlite(sqlx::SqliteConnection::connect(&url).await.unwrap())
            }
        }
    }

    /// The rows of the `kv` table, and its longest key.
    async fn kv_rows(&mut self) -> (i64, i64) {
        const QUERY: &str =
            "SELECT count(*), CAST(coalesce(max(length(key)), 0) AS BIGINT) FROM kv";
        match self {
            Database::Sqlite(db) => sqlx::query_as(QUERY).fetch_one(db).await.unwrap(),
            Database::Postgres(db) => sqlx::query_as(QUERY).fetch_one(db).await.unwrap(),
        }
    }

    /// Polls the `kv` table until it holds `rows`, failing after `within`,
    /// or at once if it ever holds more than the quota or a key over 256
    /// bytes.
    async fn wait_for_rows(&mut self, rows: i64, within: Duration, what: &str) {
        let deadline = Instant::now() + within;
        loop {
            let (now, longest) = self.kv_rows().await;
            assert!(now <= MAX_KEYS, "{now} kv rows, past the quota");
            assert!(longest <= MAX_KEY_BYTES, "a kv key of {longest} bytes");
            if now == rows {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}: {now} kv rows"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Before: `kv::get` of a missing key inserted a row whatever the key's
/// size and outside the quota, deleted only by a later `set` of the same
/// key, and a connection's rows outlived it. The hostile adapter's
/// `kv-flood` stores 8 values, then misses 300 unique keys of 1 MiB and 300
/// short ones, then holds its call: the store holds the quota at most, no
/// key over 256 bytes; the fills go when the call ends, the values at the
/// disconnect. `postgres`: the host's database URL, SQLite otherwise.
pub async fn a_kv_flood_is_bounded(postgres: Option<&str>) {
    tokio::time::timeout(Duration::from_secs(120), flood(postgres))
        .await
        .expect("the kv flood's deadline");
}

async fn flood(postgres: Option<&str>) {
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    let args: Vec<&str> = match postgres {
        Some(url) => vec!["--database-url", url],
        None => Vec::new(),
    };
    let server = Server::start_with(ServerOptions {
        adapters: &["hostile"],
        args: &args,
        ..Default::default()
    });
    let client = Client::new(&server);
    let body = json!({"adapter": "hostile",
        "config": {"base_url": up.base_url(), "client_id": "client-7"},
        "credentials": {"api_key": "demo-key"}});
    let connected = client.admin(M::POST, "/v1/connections", Some(body)).await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let token = connected.body["token"].as_str().unwrap().to_string();
    let id = connected.body["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut db = Database::open(&server, postgres).await;

    // The call holds its fills for 3 s once it has missed every key.
    let flood = tokio::spawn(async move {
        client
            .call(&token, M::GET, "/v1/kv-flood?page_size=3", None)
            .await
    });
    db.wait_for_rows(MAX_KEYS, Duration::from_secs(30), "the quota filled")
        .await;
    let flooded = flood.await.unwrap();
    assert_eq!(flooded.status, StatusCode::OK, "{}", flooded.body);
    assert_eq!(flooded.body["data"][0]["found"], 0, "{}", flooded.body);
    db.wait_for_rows(
        KEPT,
        Duration::from_secs(10),
        "the fills to end with the call",
    )
    .await;

    let disconnect = format!("/v1/connections/{id}/disconnect");
    let disconnected = Client::new(&server).admin(M::POST, &disconnect, None).await;
    assert_eq!(disconnected.status, StatusCode::OK, "{}", disconnected.body);
    assert_eq!(
        db.kv_rows().await,
        (0, 0),
        "the disconnect deletes the store"
    );
}
