//! The OpenAPI document against the live host: schemathesis (installed in
//! a virtualenv under `target/` by `cargo xtask test`) generates
//! requests from `/openapi.json` for every operation, with every check on
//! (server errors, undocumented statuses, response schemas and content
//! types, schema-valid requests refused, schema-violating ones accepted)
//! but the response-time limit, since timings belong to the benchmarks,
//! once with a connection token and once with the admin key, a fixed seed and
//! a bounded number of examples. Where a refusal the schema cannot express
//! is right (an adapter's own config, a foreign cursor), the config file
//! `tests/schemathesis/schemathesis.toml` says so, operation by operation.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use demo_upstream::{DemoUpstream, Options};
use reqwest::{Method as M, StatusCode};
use serde_json::json;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The schemathesis command, which `cargo xtask test` installs into a
/// virtualenv in `target/schemathesis`.
fn schemathesis() -> PathBuf {
    let bin = target_dir().join("schemathesis/bin/schemathesis");
    assert!(
        bin.exists(),
        "{} is not installed: run `cargo xtask test`",
        bin.display()
    );
    bin
}

/// Every check of schemathesis 4.32 but `max_response_time`, which `all`
/// would turn on with a 10 s limit. Response times are measured by the
/// benchmarks, not here: a timed check fails when the machine stalls (CI
/// once saw a 422 "take 23.5 s" inside a fuzzing phase that lasted 9 s by
/// schemathesis's own clock). A hang still fails, as a request that times
/// out.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_headers_conformance,response_schema_conformance,negative_data_rejection,\
    positive_data_acceptance,missing_required_header,unsupported_method,\
    allow_header_conformance,use_after_free,ensure_resource_availability,ignored_auth,\
    object_level_authorization";

/// Runs every check over the operations `filter` selects, authenticated
/// with `bearer`; fails with schemathesis's report.
fn check(base: &str, bearer: &str, filter: &[&str]) {
    let config = workspace().join("tests/schemathesis/schemathesis.toml");
    let reports = tempfile::tempdir().unwrap();
    let output = Command::new(schemathesis())
        .current_dir(reports.path())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {bearer}")])
        .args(["--checks", CHECKS, "--max-examples", "50", "--seed", "1"])
        .args(["--request-timeout", "60"])
        .args(filter)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found contract failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_keeps_the_openapi_contract() {
    schemathesis();
    let up = DemoUpstream::start("127.0.0.1:0".parse().unwrap(), Options::default())
        .await
        .unwrap();
    let server = Server::start(&["example"]);
    let admin = server.admin_key();
    let connected = call(
        &crate::common::http(),
        M::POST,
        server.url("/v1/connections"),
        &admin,
        Some(
            json!({"adapter": "example", "config": {"base_url": up.base_url()},
            "credentials": {"api_key": "demo-key"}}),
        ),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let token = connected.body["token"].as_str().unwrap().to_string();
    let admin_routes = "^/v1/(adapters|connections|connect-sessions|credits|certificates)";
    // Passthrough answers are the system's own (its statuses, content types
    // and bodies), which no schema of ours describes: `tests/passthrough.rs`
    // checks that route.
    let excluded = format!("{admin_routes}|^/v1/passthrough/");
    let base = server.base.clone();
    // The connection's routes first: the admin run may disconnect it.
    tokio::task::spawn_blocking(move || {
        check(&base, &token, &["--exclude-path-regex", &excluded]);
        check(
            &base,
            &admin,
            &[
                "--include-path-regex",
                "^/(v1/(adapters|connections|connect-sessions|credits|certificates)|healthz|openapi)",
            ],
        );
    })
    .await
    .unwrap();
    assert!(
        !server.logs().contains("status=500"),
        "no request failed inside the host"
    );
}
