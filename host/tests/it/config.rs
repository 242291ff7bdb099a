//! The host's configuration as an operator meets it: the reference page is
//! what the binary says, and the defaults are safe for production.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{
    Server, ServerOptions, adapter_path, refused_start, spawn_listening, wait_ready,
};

fn workspace_file(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Catches: a flag added, renamed or documented anew without the page
/// following (broken once by editing a flag's help text).
#[test]
fn the_configuration_reference_is_what_the_binary_prints() {
    let printed = Command::new(env!("CARGO_BIN_EXE_interlink"))
        .arg("config-reference")
        .output()
        .unwrap();
    assert!(printed.status.success());
    let printed = String::from_utf8(printed.stdout).unwrap();
    let page = std::fs::read_to_string(workspace_file("docs/configuration.md")).unwrap();
    assert!(
        page == printed,
        "docs/configuration.md is not what `interlink config-reference` prints: \
         run `cargo xtask config-reference`"
    );
    for named in [
        "INTERLINK_SECRET_KEY",
        "RUST_LOG",
        "INTERLINK_WEBHOOK_TIMEOUT_MS",
    ] {
        assert!(page.contains(named), "{named}");
    }
}

/// Catches: a host on `0.0.0.0` whose connect links would start with
/// `http://0.0.0.0:8080` (broken once by dropping the check).
#[tokio::test]
async fn a_host_listening_beyond_loopback_needs_its_public_url() {
    let data = tempfile::tempdir().unwrap();
    let adapters = tempfile::tempdir().unwrap();
    let refused = refused_start(data.path(), adapters.path(), &["--listen", "0.0.0.0:0"]).await;
    assert!(
        refused.contains("takes connections from other machines: set --public-url"),
        "{refused}"
    );
}

/// Catches: the admin key printed on first start, where journald and log
/// collectors keep it (broken once by logging the key).
#[test]
fn the_first_start_names_the_admin_key_file_and_never_prints_the_key() {
    let server = Server::start(&[]);
    let key = server.admin_key();
    let log = std::fs::read_to_string(server.data_dir.join("interlink.log")).unwrap();
    assert!(log.contains("created the admin API key"), "{log}");
    assert!(log.contains("admin.key"), "{log}");
    assert!(!log.contains(&key), "the key is in the log: {log}");
}

/// Catches: a host with no adapters that says nothing of why (broken once
/// by dropping the warning).
#[tokio::test]
async fn an_empty_adapters_folder_says_how_to_add_adapters() {
    let server = Server::start(&[]);
    let said = crate::common::eventually(
        std::time::Duration::from_secs(30),
        "the host to say it has no adapters",
        || async {
            let log = server.logs();
            log.contains("no adapters: copy adapter components (.wasm) into this folder")
                .then_some(log)
        },
    )
    .await;
    assert!(said.contains("cargo xtask build-adapters"), "{said}");
    assert!(said.contains("PUT /v1/adapters/{id}"), "{said}");
}

/// Catches: the old default `target/adapters`, relative to wherever the
/// host was started, which loads nothing in production (broken once by
/// restoring it).
#[tokio::test]
async fn without_an_adapters_folder_the_host_loads_the_data_folders() {
    let data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("adapters")).unwrap();
    std::fs::copy(
        adapter_path("example"),
        data.path().join("adapters/example.wasm"),
    )
    .unwrap();
    let (mut host, base) = spawn_listening(
        Command::new(env!("CARGO_BIN_EXE_interlink"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .current_dir(elsewhere.path())
            .env_remove("INTERLINK_ADAPTERS_DIR")
            .env_remove("INTERLINK_SECRET_KEY")
            .stderr(Stdio::null()),
    );
    wait_ready(&base);
    let health = crate::common::http()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = host.kill();
    let _ = host.wait();
    assert!(health.contains(r#""adapters":1"#), "{health}");
}

/// Catches: a formatted log line for every request served, which costs each
/// request a write (issue 43), or an `--access-log on` that logs nothing
/// (broken once by leaving the flag out of the log filter).
#[tokio::test]
async fn requests_served_are_logged_only_with_the_access_log_on() {
    let http = crate::common::http();
    for (args, logged) in [(&[][..], false), (&["--access-log", "on"][..], true)] {
        let server = Server::start_with(ServerOptions {
            args,
            ..Default::default()
        });
        let served = http.get(server.url("/healthz")).send().await.unwrap();
        assert!(served.status().is_success());
        let refused = http.get(server.url("/v1/vendors")).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        // Refused requests are logged either way, after the served one.
        let log = crate::common::eventually(
            std::time::Duration::from_secs(10),
            "the refused request in the log",
            || async {
                let log = server.logs();
                log.contains("request refused").then_some(log)
            },
        )
        .await;
        assert_eq!(log.contains("request served"), logged, "{args:?}: {log}");
        if logged {
            assert!(log.contains("path=/healthz"), "{log}");
        }
    }
}
