//! The adapter author's commands: `interlink adapter new` (a project, in
//! Rust or Python), `interlink adapter build` (a crate or a Python project
//! into a component) and `interlink adapter check` (a component checked as
//! the host would load it, and the capability diff an operator reads before
//! an upgrade).

use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

fn adapter(command: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_interlink"))
        .args(["adapter", command])
        .args(args)
        .env_remove("RUST_BACKTRACE")
        // A project's build lands in its own `target/`, whatever the run's.
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap()
}

fn check(args: &[&str]) -> Output {
    adapter("check", args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The diff's lines: additions, removals and changes.
fn changes(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(['+', '-', '~']))
        .map(String::from)
        .collect()
}

#[test]
fn the_diff_names_exactly_the_new_host_and_entity_the_widened_field_and_the_new_permission() {
    let (old, new) = (adapter_path("chaos"), adapter_path("chaos-next"));
    let out = check(&[new.to_str().unwrap(), "--against", old.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("chaos 2.0.0 (contract 0.4.0): loads;"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Against chaos 1.0.0: 4 change(s)."),
        "{stdout}"
    );
    assert_eq!(
        changes(&out),
        [
            "+ outbound host https://{account_id}.files.example.com",
            "+ entity added",
            "+ permission for purchase-orders update: Transactions: Approve Purchase Orders",
            "~ field purchase-orders.vendor_id: create_only → updatable (widened)",
        ]
    );

    // The old version by id, from an adapters folder; and the other way round.
    let folder = old.parent().unwrap().to_str().unwrap();
    let by_id = check(&[
        new.to_str().unwrap(),
        "--against",
        "chaos",
        "--adapters-dir",
        folder,
    ]);
    assert!(by_id.status.success(), "{}", text(&by_id.stderr));
    assert_eq!(changes(&by_id), changes(&out));
    let back = check(&[old.to_str().unwrap(), "--against", new.to_str().unwrap()]);
    assert_eq!(
        changes(&back),
        [
            "- outbound host https://{account_id}.files.example.com",
            "- permission for purchase-orders update: Transactions: Approve Purchase Orders",
            "~ field purchase-orders.vendor_id: updatable → create_only (narrowed)",
            "- entity added",
        ]
    );
}

#[test]
fn a_component_the_host_would_refuse_fails_the_check_with_its_reasons() {
    let huge = check(&[adapter_path("hostile-huge-manifest").to_str().unwrap()]);
    assert!(!huge.status.success());
    let said = text(&huge.stderr);
    assert!(
        said.contains("the manifest has 1 problem(s)")
            && said.contains("more entities than the host takes"),
        "{said}"
    );

    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"not wasm").unwrap();
    let refused = check(&[junk.path().to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("not a valid WebAssembly component"),
        "{}",
        text(&refused.stderr)
    );

    let missing = check(&[
        adapter_path("chaos").to_str().unwrap(),
        "--against",
        "no-such-adapter",
        "--adapters-dir",
        "/nonexistent",
    ]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("/nonexistent/no-such-adapter.wasm"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn a_crate_builds_into_the_component_the_host_loads() {
    let root = target_dir().parent().unwrap().to_path_buf();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("example.wasm");
    // The profile and the build folder `cargo xtask build-adapters` uses:
    // its artifacts are fresh, and cargo only checks them.
    let built = Command::new(env!("CARGO_BIN_EXE_interlink"))
        .args(["adapter", "build"])
        .arg(root.join("adapters/example"))
        .args(["--profile", "adapter", "--out"])
        .arg(&out)
        .env("CARGO_TARGET_DIR", target_dir().join("adapter-build"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    let said = text(&built.stdout);
    assert!(
        said.starts_with(&format!("built {}", out.display()))
            && said.contains("example 0.1.0 (contract 0.4.0)"),
        "{said}"
    );
    let same = check(&[
        out.to_str().unwrap(),
        "--against",
        adapter_path("example").to_str().unwrap(),
    ]);
    assert!(same.status.success(), "{}", text(&same.stderr));
    assert!(
        text(&same.stdout).contains("0 change(s)"),
        "{}",
        text(&same.stdout)
    );

    let nowhere = adapter("build", &[out_dir.path().to_str().unwrap()]);
    assert!(!nowhere.status.success());
    assert!(
        text(&nowhere.stderr).contains("has no Cargo.toml"),
        "{}",
        text(&nowhere.stderr)
    );
}

/// From nothing to a record through a running host, outside this
/// repository: new, build, check, load, connect, list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_project_builds_loads_and_serves_records() {
    let projects = tempfile::tempdir().unwrap();
    let project = projects.path().join("acme");
    let dir = project.to_str().unwrap();
    let made = adapter("new", &["acme", "--dir", dir]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs", "README.md"] {
        assert!(project.join(file).exists(), "{file}");
    }
    let again = adapter("new", &["acme", "--dir", dir]);
    assert!(!again.status.success(), "a project is never overwritten");
    let bad = adapter("new", &["Acme_ERP"]);
    assert!(
        text(&bad.stderr).contains("is not an adapter id"),
        "{}",
        text(&bad.stderr)
    );

    // Its own tests run natively, against the SDK's host double (without
    // debug info, which a fifth of this build's CPU went to).
    let tested = Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "{}{}",
        text(&tested.stdout),
        text(&tested.stderr)
    );
    assert!(
        text(&tested.stdout).contains("2 passed"),
        "{}",
        text(&tested.stdout)
    );

    let built = adapter("build", &[dir]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let component = project.join("target/adapters/acme.wasm");
    let checked = check(&[component.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).starts_with("acme 0.1.0 (contract 0.4.0): loads; 1 entities"));

    let adapters = tempfile::tempdir().unwrap();
    std::fs::copy(&component, adapters.path().join("acme.wasm")).unwrap();
    let up = demo_upstream::DemoUpstream::start(
        "127.0.0.1:0".parse().unwrap(),
        demo_upstream::Options::default(),
    )
    .await
    .unwrap();
    let server = Server::start_with(ServerOptions {
        adapters_dir: Some(adapters.path().to_path_buf()),
        ..Default::default()
    });
    let http = crate::common::http();
    let connected = call(
        &http,
        reqwest::Method::POST,
        server.url("/v1/connections"),
        &server.admin_key(),
        Some(
            serde_json::json!({"adapter": "acme", "config": {"base_url": up.base_url()},
            "credentials": {"api_key": "demo-key"}}),
        ),
    )
    .await;
    assert_eq!(
        connected.status,
        reqwest::StatusCode::CREATED,
        "{}",
        connected.body
    );
    let token = connected.body["token"].as_str().unwrap();
    let vendors = call(
        &http,
        reqwest::Method::GET,
        server.url("/v1/vendors?page_size=2"),
        token,
        None,
    )
    .await;
    assert_eq!(vendors.status, reqwest::StatusCode::OK, "{}", vendors.body);
    let first = &vendors.body["data"][0];
    assert!(
        first["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{}",
        vendors.body
    );
    assert!(first["id"].as_str().is_some(), "{}", vendors.body);
}

/// The same in Python: `adapter new --lang python` makes a project whose
/// own tests pass natively, `adapter build` builds it with componentize-py
/// (the one `cargo xtask` installed into `target/`) and checks it, and the
/// conformance suite passes it against the demo API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_project_builds_tests_and_conforms() {
    let projects = tempfile::tempdir().unwrap();
    let project = projects.path().join("acme-py");
    let dir = project.to_str().unwrap();
    let made = adapter("new", &["acme-py", "--lang", "python", "--dir", dir]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    for file in [
        "app.py",
        "adapter.py",
        "tests/test_adapter.py",
        "pyproject.toml",
        "README.md",
    ] {
        assert!(project.join(file).exists(), "{file}");
    }

    let venv = target_dir().join("componentize-py/bin");
    let built = Command::new(env!("CARGO_BIN_EXE_interlink"))
        .args(["adapter", "build", dir])
        .env("INTERLINK_COMPONENTIZE_PY", venv.join("componentize-py"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    assert!(
        text(&built.stdout).contains("acme-py 0.1.0 (contract 0.4.0)"),
        "{}",
        text(&built.stdout)
    );
    let component = project.join("target/adapters/acme-py.wasm");
    assert!(component.exists());

    // Its own tests, natively, against the bindings the build wrote.
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-python");
    let path = [project.join("target/bindings"), sdk, project.clone()];
    let tested = Command::new(venv.join("python"))
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(&project)
        .env("PYTHONPATH", std::env::join_paths(path).unwrap())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(tested.status.success(), "{}", text(&tested.stderr));
    assert!(
        text(&tested.stderr).contains("Ran 1 test"),
        "{}",
        text(&tested.stderr)
    );

    let up = demo_upstream::DemoUpstream::start(
        "127.0.0.1:0".parse().unwrap(),
        demo_upstream::Options::default(),
    )
    .await
    .unwrap();
    // Suppliers modified at distinct times: the run allows no skip.
    for i in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(5));
        up.insert(
            "suppliers",
            serde_json::json!({"displayName": format!("Supplier {i}"), "isActive": true}),
        );
    }
    let base = format!("base_url={}", up.base_url());
    let conformed = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_interlink"))
            .args(["adapter", "conform"])
            .arg(&component)
            .args(["--config", &base, "--secret", "api_key=demo-key"])
            .args(["--outbound-allow-network", "127.0.0.0/8"])
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        conformed.status.success(),
        "{}{}",
        text(&conformed.stdout),
        text(&conformed.stderr)
    );
    assert!(text(&conformed.stdout).contains("pass  vendors: pagination"));
    assert!(text(&conformed.stdout).contains(" 0 failed, 0 skipped"));
}

/// Recorded once against the live demo API, replayed with it stopped; a
/// changed adapter, or changed answers, fail the replay with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replays_without_the_system_and_catches_changes() {
    let up = demo_upstream::DemoUpstream::start(
        "127.0.0.1:0".parse().unwrap(),
        demo_upstream::Options::default(),
    )
    .await
    .unwrap();
    let folder = tempfile::tempdir().unwrap();
    let cassette = folder.path().join("example.json");
    let cassette = cassette.to_str().unwrap();
    let example = adapter_path("example");
    let example = example.to_str().unwrap();
    let base_url = format!("base_url={}", up.base_url());
    let recorded = adapter(
        "test",
        &[
            example,
            "--cassette",
            cassette,
            "--record",
            "--config",
            &base_url,
            "--secret",
            "api_key=demo-key",
            "--outbound-allow-network",
            "127.0.0.0/8",
        ],
    );
    assert!(recorded.status.success(), "{}", text(&recorded.stderr));
    assert!(
        text(&recorded.stdout).starts_with("recorded 6 exchanges"),
        "{}",
        text(&recorded.stdout)
    );
    let kept = std::fs::read_to_string(cassette).unwrap();
    assert!(!kept.contains("demo-key"), "the secret is never written");
    assert!(kept.contains("Bearer [redacted]"));

    let addr = up.base_url().trim_start_matches("http://").to_string();
    drop(up);
    eventually(Duration::from_secs(5), "the upstream to stop", || async {
        std::net::TcpStream::connect(&addr).is_err().then_some(())
    })
    .await;
    let replayed = adapter("test", &[example, "--cassette", cassette]);
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    assert!(text(&replayed.stdout).contains("the answers match"));

    // An adapter that asks for its pages differently.
    let changed = adapter_path("example-changed");
    let refused = adapter("test", &[changed.to_str().unwrap(), "--cassette", cassette]);
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(
        said.contains("the adapter sent requests the cassette did not record")
            && said.contains(&format!("GET http://{addr}/api/suppliers?offset=0&count=5")),
        "{said}"
    );

    // Answers other than the recorded ones.
    let mut edited: serde_json::Value = serde_json::from_str(&kept).unwrap();
    edited["results"]["entities"]["vendors"]["list"]["records"][0]["name"] = "Someone else".into();
    std::fs::write(cassette, edited.to_string()).unwrap();
    let differs = adapter("test", &[example, "--cassette", cassette]);
    assert!(!differs.status.success());
    let said = text(&differs.stderr);
    assert!(
        said.contains("answered differently")
            && said.contains("/entities/vendors/list/records/0/name")
            && said.contains("Someone else"),
        "{said}"
    );
}
