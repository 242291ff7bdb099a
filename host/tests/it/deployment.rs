//! docs/deployment.md's walkthrough, "From a build to a first record",
//! step by step: an installed binary outside the repository, a new data
//! folder holding the bundled adapters, PostgreSQL over verified TLS, a
//! connection, a record.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{call, eventually, postgres_database, spawn_listening, target_dir};

/// The bundled adapters `cargo xtask build-adapters` puts in
/// `target/adapters`.
const BUNDLED: [&str; 5] = ["example", "example-python", "netsuite", "sap-s4", "tryton"];

/// Catches: an installed host that loads no adapters or cannot reach its
/// database over TLS (broken once by restoring the relative
/// `target/adapters` default, which this binary, started elsewhere, never
/// finds).
///
/// Step 1 installs with `cargo install --locked --path host`; the test
/// copies the binary the run built instead. `cargo install` builds without
/// the dev-dependencies, whose features (tokio's `test-util`, syn's `fold`,
/// ...) the test build unifies into every crate: installing would rebuild
/// nearly all of them, minutes of CI for the same code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_serves_a_record_from_an_installed_binary_on_postgresql_over_tls() {
    // 1. Install: the binary, alone in a folder of its own.
    let machine = tempfile::tempdir().unwrap();
    let bin = machine.path().join("bin/interlink");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_interlink"), &bin).unwrap();

    // 2. The data folder, with the bundled adapters in its `adapters`.
    let data = machine.path().join("var/lib/interlink");
    std::fs::create_dir_all(data.join("adapters")).unwrap();
    for adapter in BUNDLED {
        let file = format!("{adapter}.wasm");
        std::fs::copy(
            target_dir().join("adapters").join(&file),
            data.join("adapters").join(&file),
        )
        .unwrap();
    }

    // 3. A database of its own, reached over TLS that checks the server.
    let ca = std::env::var("INTERLINK_TEST_POSTGRES_CA")
        .expect("the run's PostgreSQL server names its CA (`cargo xtask test` sets it)");
    let database = postgres_database()
        .await
        .replacen("@127.0.0.1:", "@localhost:", 1);
    let url = format!("{database}?sslmode=verify-full&sslrootcert={ca}");

    // 4. Start it, from elsewhere than the repository. On loopback here (the
    // walkthrough listens on 0.0.0.0 with the same --public-url); the demo
    // API is the system, on loopback too, which adapters may not reach
    // unless allowed.
    let up = demo_upstream::DemoUpstream::start(
        "127.0.0.1:0".parse().unwrap(),
        demo_upstream::Options::default(),
    )
    .await
    .unwrap();
    let (mut host, base) = spawn_listening(
        Command::new(&bin)
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0"])
            .args(["--public-url", "https://interlink.example.com"])
            .args(["--adapter-allow-network", "*=127.0.0.0/8"])
            .env("INTERLINK_DATABASE_URL", &url)
            .env_remove("INTERLINK_ADAPTERS_DIR")
            .env_remove("INTERLINK_SECRET_KEY")
            .current_dir(machine.path())
            .stderr(std::fs::File::create(machine.path().join("interlink.log")).unwrap()),
    );

    // 5. Check it: every bundled adapter loaded.
    let http = crate::common::http();
    let health = eventually(
        std::time::Duration::from_secs(120),
        "the adapters to load",
        || async {
            let reply = http.get(format!("{base}/healthz")).send().await.ok()?;
            (reply.status() == StatusCode::OK).then_some(())?;
            reply.json::<serde_json::Value>().await.ok()
        },
    )
    .await;
    assert_eq!(health["adapters"], BUNDLED.len(), "{health}");

    // 6. Connect a system with the admin key from its file.
    let admin = std::fs::read_to_string(data.join("admin.key")).unwrap();
    let connected = call(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/connections"),
        admin.trim(),
        Some(
            json!({"adapter": "example", "config": {"base_url": up.base_url()},
                    "credentials": {"api_key": "demo-key"}}),
        ),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let token = connected.body["token"].as_str().unwrap();

    // 7. Read a record.
    let vendors = call(
        &http,
        reqwest::Method::GET,
        format!("{base}/v1/vendors?page_size=1"),
        token,
        None,
    )
    .await;
    let _ = host.kill();
    let _ = host.wait();
    assert_eq!(vendors.status, StatusCode::OK, "{}", vendors.body);
    assert!(
        vendors.body["data"][0]["id"].is_string(),
        "{}",
        vendors.body
    );
    let log = std::fs::read_to_string(machine.path().join("interlink.log")).unwrap();
    assert!(log.contains("verify-full"), "{log}");
}
