//! Sync throughput: 100,000 records from a local upstream (the demo API,
//! in-process, over loopback HTTP) through the example adapter into SQLite,
//! and into PostgreSQL when a server is given, against fetching the same
//! pages without storing them.
//!
//! `cargo xtask build-adapters && cargo bench -p interlink --bench sync`;
//! with PostgreSQL too (a server started for the run):
//! `cargo xtask with-postgres cargo bench -p interlink --bench sync`.

use std::time::{Duration, Instant, SystemTime};

use demo_upstream::{DemoUpstream, Options};
use interlink::connections::{NewConnection, PlatformKeyUse};
use interlink::host::{Config, Host};
use interlink::outbound::network;
use interlink::runtime::ListRequest;
use interlink::storage::postgres::PostgresStorage;
use interlink::storage::syncs::{Run, RunStatus};
use interlink::storage::{DatabaseUrl, Store};
use interlink::sync::ScheduleRequest;
use serde_json::json;
const RECORDS: usize = 100_000;
const PAGE: u32 = 1000;

fn adapters_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("adapters");
    assert!(
        dir.join("example.wasm").exists(),
        "{} is missing: run `cargo xtask build-adapters`",
        dir.join("example.wasm").display()
    );
    dir
}

async fn wait(store: &dyn Store, connection: &str, runs: usize) -> Run {
    loop {
        let all = store.runs(connection, 10).await.unwrap();
        if all.len() >= runs && all[0].status != RunStatus::Running {
            assert_eq!(all[0].status, RunStatus::Succeeded, "{:?}", all[0].error);
            return all[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn rate(records: u64, took: Duration) -> f64 {
    records as f64 / took.as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    rt.block_on(async {
        let up = DemoUpstream::start(
            "127.0.0.1:0".parse().unwrap(),
            Options {
                seed: false,
                ..Options::default()
            },
        )
        .await
        .unwrap();
        for n in 0..RECORDS {
            up.insert("suppliers", json!({
                "displayName": format!("Supplier number {n} Industrial Components Ltd."),
                "contact": {"email": format!("orders{n}@supplier.example"), "phone": "+1 555 0100"},
                "currencyCode": "USD", "isActive": n % 3 != 0,
            }));
        }
        let data = tempfile::tempdir().unwrap();
        let mut databases = vec![(
            "SQLite (WAL)",
            DatabaseUrl::Sqlite(data.path().join("bench.db")),
        )];
        if let Ok(admin) = std::env::var("INTERLINK_TEST_POSTGRES_URL") {
            let url = PostgresStorage::new_database(&admin).await.unwrap();
            databases.push(("PostgreSQL", DatabaseUrl::Postgres(url)));
        }
        println!(
            "{RECORDS} records, pages of {PAGE}, {}",
            humantime::format_rfc3339_seconds(SystemTime::now())
        );
        for (name, database) in databases {
            let host = Host::open(Config {
                adapters_dir: Some(adapters_dir()),
                database: Some(database),
                max_response_bytes: 64 << 20,
                adapter_grants: vec![network::parse_adapter_grant("*=127.0.0.0/8").unwrap()],
                ..Config::new(data.path().join(name))
            })
            .await
            .unwrap();
            host.load_adapters().await;
            println!("into {name}:");
            sync_into(&host, &up).await;
        }
    });
}

/// Fetches every record, then syncs them all into `host`'s database twice (all new,
/// then all unchanged), and prints the three times.
async fn sync_into(host: &Host, up: &DemoUpstream) {
    let (connections, store) = (host.connections(), host.store().as_ref());
    let (connection, _) = connections
        .create(NewConnection {
            adapter: "example".into(),
            config: json!({"base_url": up.base_url()})
                .as_object()
                .unwrap()
                .clone(),
            credentials: json!({"api_key": "demo-key"}).as_object().unwrap().clone(),
            replaces: None,
            platform_key: PlatformKeyUse::Operator,
        })
        .await
        .unwrap();

    // Fetching alone: the same pages, through the same adapter.
    let adapter = host.registry().get("example").unwrap();
    let mut fetch = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let mut cursor = None;
        let mut records = 0;
        loop {
            let request = ListRequest {
                entity: "vendors".into(),
                cursor,
                page_size: PAGE,
                modified_after: None,
            };
            let ctx = connections.open(connection.clone()).unwrap().ctx;
            let page = adapter.list(ctx, &request).await.unwrap();
            records += page.records.len();
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(records, RECORDS);
        fetch.push(started.elapsed());
    }
    fetch.sort();
    let fetch = fetch[1];

    let syncs = host.syncs();
    let _scheduler = syncs.start();
    let request = ScheduleRequest {
        interval: Some(Duration::from_secs(3600)),
        page_size: Some(PAGE),
        backfill_since: None,
    };
    syncs
        .put_schedule(&connection, "vendors", request)
        .await
        .unwrap();
    let first = wait(store, &connection.id, 1).await;
    assert_eq!(first.counts.added, RECORDS as u64);
    let first_took = first
        .finished_at
        .unwrap()
        .duration_since(first.started_at)
        .unwrap();
    syncs
        .trigger(&connection, "vendors", true, "bench")
        .await
        .unwrap();
    let second = wait(store, &connection.id, 2).await;
    assert_eq!(second.counts.unchanged, RECORDS as u64);
    let second_took = second
        .finished_at
        .unwrap()
        .duration_since(second.started_at)
        .unwrap();

    println!(
        "fetch only (median of 3):     {:>8.0} ms  {:>8.0} records/s",
        fetch.as_secs_f64() * 1e3,
        rate(RECORDS as u64, fetch)
    );
    println!(
        "sync, all added:              {:>8.0} ms  {:>8.0} records/s  ({:.2}x the fetch time)",
        first_took.as_secs_f64() * 1e3,
        rate(RECORDS as u64, first_took),
        first_took.as_secs_f64() / fetch.as_secs_f64()
    );
    println!(
        "full sync again, all unchanged: {:>6.0} ms  {:>8.0} records/s  ({:.2}x the fetch time)",
        second_took.as_secs_f64() * 1e3,
        rate(RECORDS as u64, second_took),
        second_took.as_secs_f64() / fetch.as_secs_f64()
    );
}
